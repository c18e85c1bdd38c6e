"""`list_models()`: the networks edgeface knows (model cards) and what of them is in the cache.

One `ModelInfo` per network: the regressors (mb05, mb1) and the FaceBoxes detector, with whether
its checkpoint is fetched, and which converted TFLite precisions (and, for the detector, which
input sizes) are installed (the cache, then the installed models package) — what `FaceAligner.create(precision=..., detector_size=...)` can use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from edgeface.hub import locate, paths
from edgeface.hub.cards import load_cards
from edgeface.vocab import Precision, parse_detector_name


@dataclass(frozen=True)
class ConvertedModel:
    """One converted TFLite file in the cache."""

    name: str  # mb05 | mb1 | faceboxes_<W>x<H>
    precision: Precision
    path: Path
    size_bytes: int
    detector_size: Optional[tuple] = None  # (w, h) for the detector


@dataclass(frozen=True)
class ModelInfo:
    """A network of a model card and its state in the cache."""

    name: str  # card name: mb05 | mb1 | faceboxes
    kind: str  # regressor | detector
    title: str
    license: str
    fetched: bool  # its checkpoint is in the cache (needed only to convert)
    converted: tuple = field(default_factory=tuple)  # ConvertedModel, by name then precision

    @property
    def precisions(self) -> tuple:
        """Precisions converted for this network (any detector size)."""
        return tuple(sorted({c.precision for c in self.converted}, key=list(Precision).index))

    @property
    def detector_sizes(self) -> tuple:
        """Detector input sizes converted (any precision); () for a regressor."""
        return tuple(sorted({c.detector_size for c in self.converted if c.detector_size is not None}))


def _converted(card_name: str, root: Optional[Path]) -> tuple:
    """The converted models of a card in every model source (`hub.locate`: cache, then the installed models
    package), each (name, precision) once, from the source the runtime takes it from."""
    out, seen = [], set()
    for source in locate.model_sources(root):
        for name, p in source.pairs():
            size = parse_detector_name(name)
            if (name != card_name and not (card_name == "faceboxes" and size is not None)) or (name, p) in seen:
                continue
            seen.add((name, p))
            f = source.model_path(name, p.variant)
            out.append(ConvertedModel(name, p, f, f.stat().st_size, size))
    return tuple(sorted(out, key=lambda c: (c.name, list(Precision).index(c.precision))))


def list_models(root: Optional[Path] = None) -> list:
    """Every network of the model cards (regressors and detector) with its cache state.

    Args:
        root: the cache folder (default $EDGEFACE_HOME or ~/.cache/edgeface).
    Returns:
        list of `ModelInfo`, regressors first.
    """
    infos = []
    for card in load_cards().values():
        if card.kind not in ("regressor", "detector"):
            continue
        ckpt = paths.files_dir(root)
        fetched = all((ckpt / f.mirror_relpath).is_file() for f in card.files)
        infos.append(ModelInfo(card.name, card.kind, card.title, card.license, fetched, _converted(card.name, root)))
    return sorted(infos, key=lambda m: (m.kind != "regressor", m.name))
