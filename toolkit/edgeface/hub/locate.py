"""Where the runtime finds a converted model or a runtime asset: the model sources, first match wins.

    1. a bundle (`edgeface run --bundle FILE`, unpacked and verified) or a cache folder given explicitly
    2. the cache: $EDGEFACE_HOME (default ~/.cache/edgeface), after a bundle only
    3. the installed models package `edgeface_models` (`pip install "edgeface[models]"`)

Every source has the cache's layout; whatever is found is verified against its manifest (or record)
before it is loaded, wherever it comes from. When no source has a file, `missing_model_message` names
what each source holds and what would provide it: it advises `edgeface convert` only where the
conversion toolchain (the `[convert]` extra) is installed, never on a board.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import util
from pathlib import Path
from typing import Optional

from edgeface.hub import paths, store
from edgeface.hub.installed import installed_models
from edgeface.vocab import DETECTOR, Precision

BUNDLE_INDEX = "bundle.json"  # written by fleet.bundle.unpack into the folder it unpacks to


@dataclass(frozen=True)
class ModelSource:
    """One place models are looked up in."""

    kind: str  # bundle | cache | package
    root: Path
    label: str  # "bundle packed for rpi4", "cache /root/.cache/edgeface", "edgeface-models 0.1.0"

    def model_path(self, name: str, variant: str) -> Path:
        return store.model_path(name, variant, self.root)

    def has_model(self, name: str, variant: str) -> bool:
        p = self.model_path(name, variant)
        return p.is_file() and p.with_suffix(".json").is_file()

    def asset_path(self, asset: str) -> Path:
        return paths.assets_dir(self.root) / asset

    def pairs(self) -> tuple:
        """(name, Precision) of every model (with its manifest) this source holds, sorted."""
        d = paths.tflite_dir(self.root)
        if not d.is_dir():
            return ()
        return tuple(sorted(((sub.name, p) for sub in d.iterdir() if sub.is_dir() for p in Precision
                             if self.has_model(sub.name, p.variant)), key=lambda x: (x[0], x[1].variant)))

    def models(self) -> tuple:
        """`<name>_<variant>` of every model (with its manifest) this source holds, sorted."""
        return tuple(f"{n}_{p.variant}" for n, p in self.pairs())


@dataclass(frozen=True)
class Located:
    """A file found in a source (not yet verified: the loader verifies it before use)."""

    path: Path
    source: ModelSource


def _bundle_label(root: Path) -> str:
    try:
        d = json.loads((root / BUNDLE_INDEX).read_text(encoding="utf-8"))
        return f"bundle packed for {d.get('target', 'any')}"
    except (OSError, ValueError, AttributeError):
        return f"bundle {root.name}"


def model_sources(root: Optional[Path] = None) -> tuple:
    """The sources in lookup order for a cache folder `root` (None: $EDGEFACE_HOME)."""
    home = paths.home()
    first = Path(root).expanduser() if root is not None else home
    out = []
    if root is not None and first != home and (first / BUNDLE_INDEX).is_file():
        out += [ModelSource("bundle", first, _bundle_label(first)), ModelSource("cache", home, f"cache {home}")]
    else:
        out.append(ModelSource("cache", first, f"cache {first}"))
    pkg = installed_models()
    if pkg is not None:
        out.append(ModelSource("package", pkg.root, pkg.label))
    return tuple(out)


def find_model(name: str, variant: str, root: Optional[Path] = None) -> Optional[Located]:
    """The first source holding `<name>_<variant>.tflite` with its manifest, or None."""
    for s in model_sources(root):
        if s.has_model(name, variant):
            return Located(s.model_path(name, variant), s)
    return None


def find_asset(asset: str, root: Optional[Path] = None) -> Optional[Located]:
    """The first source holding the runtime asset `assets/<asset>` (e.g. param_stats.npz), or None."""
    for s in model_sources(root):
        if s.asset_path(asset).is_file():
            return Located(s.asset_path(asset), s)
    return None


def model_origin(path: Path, root: Optional[Path] = None) -> str:
    """The label of the source a located file lives in ("" when it is in none)."""
    for s in model_sources(root):
        try:
            Path(path).relative_to(s.root)
            return s.label
        except ValueError:
            continue
    return ""


def repair_hint(path: Path, default: str) -> str:
    """How to repair a damaged model file: reinstall the models package for a file of it, else `default`."""
    pkg = installed_models()
    if pkg is not None:
        try:
            Path(path).resolve().relative_to(pkg.root.resolve())
            return "reinstall the models: pip install --force-reinstall --no-deps edgeface-models"
        except ValueError:
            pass
    return default


def convert_available() -> bool:
    """Whether the conversion toolchain (the `[convert]` extra: torch, onnx2tf) is installed here."""
    try:
        return util.find_spec("onnx2tf") is not None and util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def holdings_line(root: Optional[Path] = None) -> str:
    """'bundle packed for rpi4: mb05_int8, ...; cache ...: nothing; edgeface-models: not installed'."""
    parts = []
    for s in model_sources(root):
        held = s.models()
        parts.append(f"{s.label}: {', '.join(held) if held else 'no models'}")
    if not any(s.kind == "package" for s in model_sources(root)):
        parts.append("edgeface-models: not installed")
    return "; ".join(parts)


def _choices(name: str, model: str, precision: Precision, sources) -> str:
    """What the sources hold instead: other precisions of this network, other detector sizes, another regressor."""
    held = {pair for s in sources for pair in s.pairs()}
    precs = sorted({p.value for n, p in held if n == name})
    if precs:
        return f"use --precision {' or '.join(precs)}"
    if model.startswith(DETECTOR):
        sizes = sorted({n[len(DETECTOR) + 1:] for n, p in held if n.startswith(DETECTOR + "_") and p is precision})
        if sizes:
            return f"use --detector-size {' or '.join(sizes)}"
        precs = sorted({p.value for n, p in held if n.startswith(DETECTOR + "_")})
        return f"use --precision {' or '.join(precs)}" if precs else ""
    others = sorted({n for n, p in held if not n.startswith(DETECTOR)} - {name})
    return f"use --regressor {' or '.join(others)}" if others else ""


def missing_model_message(name: str, model: str, precision, size: Optional[tuple] = None,
                          root: Optional[Path] = None, alternative: str = "") -> str:
    """One line: `<name>_<variant>.tflite` is in no source, what each holds, and what would provide it."""
    precision = Precision.parse(precision)
    sources = model_sources(root)
    fixes = []
    choice = _choices(name, model, precision, sources)
    if choice:
        fixes.append(choice)
    elif alternative:
        fixes.append(alternative)
    if any(s.kind == "bundle" for s in sources):
        what = f"--precision {precision.value}" + (
            f" --detector-size {size[0]}x{size[1]}" if model.startswith(DETECTOR) and size else "")
        fixes.append(f"pack a bundle that holds it on the workstation (`edgeface pack {what}`)")
    if not any(s.kind == "package" for s in sources):
        fixes.append("install the pre-converted models (`pip install \"edgeface[models]\"`, or the edgeface_models "
                     "wheel that `make dist` builds)")
    if convert_available():
        fixes.append(f"run {store.convert_command(model, precision, size)}")
    return (f"{name}_{precision.variant}.tflite is not installed ({holdings_line(root)}): "
            + (", or ".join(fixes) if fixes else "no source can provide it"))
