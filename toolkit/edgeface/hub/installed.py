"""The installed models package `edgeface_models` (`pip install "edgeface[models]"`), read-only.

The package is built by `make dist` (`edgeface.tools.dist`) from the project's own conversion pipeline.
Its data folder has the layout of the cache (`tflite/<name>/<name>_<variant>.tflite` + manifest,
`assets/<asset>.npz` + record), so the runtime reads it exactly as it reads the cache, verifying every
file against its manifest or record before it loads it. `index.json` beside it says what the package
holds and which assets it does not redistribute (the BFM-derived ones: fetched on first use from their
pinned upstream URL, digests checked; see docs/reference/provenance.md).

The package is found with `importlib.util.find_spec` (it is never imported: it has no code to run).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import metadata, util
from pathlib import Path
from typing import Optional

from edgeface.errors import VerificationError

PACKAGE = "edgeface_models"
DISTRIBUTION = "edgeface-models"
DATA_DIR = "data"
INDEX = "index.json"
INDEX_FORMAT = "edgeface-models/1"


@dataclass(frozen=True)
class InstalledModels:
    """What `index.json` of the installed package says."""

    version: str
    root: Path  # the data folder: tflite/, assets/
    models: tuple  # "mb05_int8", "faceboxes_640x480_float32", ...
    assets: tuple  # "param_stats.npz", ...
    fetch_on_first_use: tuple  # ((card, why it is not redistributed), ...): "sparse_bases", "mesh"

    @property
    def label(self) -> str:
        return f"{DISTRIBUTION} {self.version}"

    def fetched_on_first_use(self, card: str) -> str:
        """Why the package leaves `card` out (it is fetched on first use), or "" when it does not."""
        return next((why for name, why in self.fetch_on_first_use if name == card), "")


def _index(root: Path) -> dict:
    try:
        d = json.loads((root / INDEX).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise VerificationError(f"the installed {DISTRIBUTION} package is damaged ({root / INDEX}: {e}); "
                                f"reinstall it (`pip install --force-reinstall {DISTRIBUTION}`)") from None
    if not isinstance(d, dict) or d.get("format") != INDEX_FORMAT:
        raise VerificationError(f"{root / INDEX} is not an {INDEX_FORMAT} index: reinstall {DISTRIBUTION} "
                                "with the version your edgeface asks for (`pip install \"edgeface[models]\"`)")
    return d


def installed_models() -> Optional[InstalledModels]:
    """The installed models package, or None when it is not installed."""
    try:
        spec = util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(list(spec.submodule_search_locations)[0]) / DATA_DIR
    if not (root / INDEX).is_file():
        return None
    d = _index(root)
    try:
        version = metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        version = str(d.get("version", "?"))
    return InstalledModels(version=version, root=root, models=tuple(d.get("models", ())),
                           assets=tuple(d.get("assets", ())),
                           fetch_on_first_use=tuple(sorted((str(k), str(v)) for k, v in dict(d.get("fetch_on_first_use", {})).items())))
