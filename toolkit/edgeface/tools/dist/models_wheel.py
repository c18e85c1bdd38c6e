"""The `edgeface-models` wheel: the converted models every board profile asks for (`contents.wanted_models`),
their manifests and float head, the redistributable runtime asset (param_stats), the upstream licence
notice and the provenance table, laid out as the cache is (`edgeface_models/data/tflite/...`), so the
runtime reads it through `hub.locate` like any other model source.

Every file is checked against its manifest (or record) before it is staged, and against the provenance
rules (`provenance.check`): a file no rule clears stops the build. No torch / TF / ONNX dependency.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from importlib import resources
from pathlib import Path
from typing import List

from edgeface.errors import EdgefaceError
from edgeface.hub import paths, store
from edgeface.hub.installed import DATA_DIR, INDEX, INDEX_FORMAT, PACKAGE
from edgeface.hub.manifest import read_manifest, verify_file
from edgeface.tools.dist import provenance
from edgeface.tools.dist.contents import wanted_models

ASSETS = ("param_stats.npz",)  # the runtime assets the wheel may redistribute (provenance.RULES)
NOT_REDISTRIBUTED = {  # card -> why: fetched on first use (provenance.EXCLUDED)
    "sparse_bases": "derived from the Basel Face Model, whose licence forbids redistribution",
    "mesh": "derived from the Basel Face Model, whose licence forbids redistribution",
}
NOTICE = "3DDFA_V2-LICENSE"

PYPROJECT = """[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "edgeface-models"
version = "{version}"
description = "Pre-converted, verified TFLite models for edgeface (3DDFA_V2 regressor and FaceBoxes detector, float32 and INT8)."
readme = "README.md"
requires-python = ">=3.9"
license = "MIT"
license-files = ["LICENSE", "edgeface_models/LICENSES/*"]
authors = [{{ name = "edgeface developers" }}]
classifiers = [
  "Programming Language :: Python :: 3",
  "Operating System :: OS Independent",
  "Topic :: Scientific/Engineering :: Image Recognition",
]

[project.urls]
"Upstream 3DDFA_V2" = "https://github.com/cleardusk/3DDFA_V2"
"Upstream FaceBoxes" = "https://github.com/zisianw/FaceBoxes.PyTorch"

[tool.setuptools]
packages = ["edgeface_models"]
include-package-data = false

[tool.setuptools.package-data]
edgeface_models = ["PROVENANCE.md", "LICENSES/*", "data/*.json", "data/*/*", "data/*/*/*"]
"""

README = """# edgeface-models

Pre-converted TFLite models for edgeface (3D face alignment on ARM boards), built by edgeface's own
pipeline (export -> calibrate -> convert -> verify): the 3DDFA_V2 MobileNetV1 x0.5 regressor (float32, INT8 with
its float head) and the FaceBoxes detector at 640x480 (float32, INT8), 320x256 (float32) and 1088x736 (float32,
INT8), with their manifests. Install it with `pip install "edgeface[models]"`; edgeface finds it on its own
(after `--bundle` and the cache) and verifies every file against its manifest before loading it.

The 68-point bases and mesh data are derived from the Basel Face Model, whose licence does not allow
redistribution: edgeface fetches them on first use from their pinned upstream URLs (digests checked).
`PROVENANCE.md` in the package lists every file, where it comes from and its licence.
"""

INIT = '''"""Pre-converted models for edgeface: data only, found by `edgeface.hub.installed` (never imported)."""

__version__ = "{version}"
'''


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


CACHE_DIRS = ("files", "assets", "onnx", "tflite", "calibration")  # hub.paths: the cache's top folders


def _cache_relative(value):
    """Absolute paths into a cache (any cache: the build machine's, a copy) as cache-relative paths, recursively."""
    if isinstance(value, dict):
        return {k: _cache_relative(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_cache_relative(v) for v in value]
    if isinstance(value, str) and value.startswith("/"):
        parts = Path(value).parts
        at = max((i for i, part in enumerate(parts) if part in CACHE_DIRS), default=None)
        return Path(*parts[at:]).as_posix() if at is not None else Path(value).name
    return value


def _clean_manifest(manifest: Path) -> bytes:
    """The manifest with no build-machine path in it (cache-relative instead): the same bytes from any cache."""
    return (json.dumps(_cache_relative(json.loads(manifest.read_text(encoding="utf-8"))), indent=2) + "\n").encode()


def _copy_verified(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)


def missing_models(home: Path) -> list:
    """The wanted models (`contents.Wanted`) not converted in the cache `home`."""
    return [w for w in wanted_models() if not store.model_path(w.name, w.precision.variant, home).is_file()
            or not store.model_path(w.name, w.precision.variant, home).with_suffix(".json").is_file()]


def stage(home: Path, dest: Path, version: str, license_text: str) -> List[str]:
    """Write the models package project into `dest` from the cache `home`; returns its data paths."""
    pkg = dest / PACKAGE
    data = pkg / DATA_DIR
    models, assets = [], []
    for w in wanted_models():
        src = store.model_path(w.name, w.precision.variant, home)
        m = read_manifest(src)  # validated
        verify_file(src, m["sha256"], m["size_bytes"])
        rel = src.relative_to(home)
        _copy_verified(src, data / rel)
        (data / rel).with_suffix(".json").write_bytes(_clean_manifest(src.with_suffix(".json")))
        head = (m.get("float_head") or {}).get("file")
        if head:
            verify_file(src.parent / head, m["float_head"]["sha256"])
            _copy_verified(src.parent / head, data / rel.parent / head)
        models.append(w.file_stem)
    for asset in ASSETS:
        src = paths.assets_dir(home) / asset
        rec = src.with_suffix(".json")
        if not src.is_file() or not rec.is_file():
            raise EdgefaceError(f"{asset} is not in the cache {home} with its record: run `edgeface fetch param_stats`")
        r = json.loads(rec.read_text(encoding="utf-8"))
        verify_file(src, r["sha256"], r["size_bytes"])
        for f in (src, rec):
            _copy_verified(f, data / "assets" / f.name)
        assets.append(asset)
    index = {"format": INDEX_FORMAT, "version": version, "models": sorted(models), "assets": assets,
             "fetch_on_first_use": NOT_REDISTRIBUTED}
    (data / INDEX).write_text(json.dumps(index, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    (pkg / "LICENSES").mkdir(parents=True, exist_ok=True)
    notice = resources.files("edgeface.tools.dist").joinpath("notices", NOTICE).read_bytes()
    (pkg / "LICENSES" / NOTICE).write_bytes(notice)
    (pkg / "__init__.py").write_text(INIT.format(version=version), encoding="utf-8")
    (dest / "pyproject.toml").write_text(PYPROJECT.format(version=version), encoding="utf-8")
    (dest / "README.md").write_text(README, encoding="utf-8")
    (dest / "LICENSE").write_text(license_text, encoding="utf-8")
    files = sorted(p.relative_to(dest).as_posix() for p in pkg.rglob("*") if p.is_file())
    problems = provenance.check(files + [f"{PACKAGE}/PROVENANCE.md"])
    if problems:
        raise EdgefaceError(f"the models wheel would hold a file its provenance does not clear: {problems[0]}")
    rows = [(f, (dest / f).stat().st_size, _sha(dest / f)) for f in files]
    (pkg / "PROVENANCE.md").write_text(provenance.markdown_files(rows), encoding="utf-8")
    return files
