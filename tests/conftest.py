"""Shared fixtures: the upstream mirror (../shared/upstream) and a cache fetched from it once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _mirror() -> Path:
    env = os.environ.get("EDGEFACE_MIRROR")
    return Path(env).resolve() if env else (REPO.parent / "shared" / "upstream").resolve()


MIRROR = _mirror()
EVAL_DIR = MIRROR.parent / "eval" / "faces68"


@pytest.fixture(scope="session")
def mirror() -> Path:
    if not (MIRROR / "3ddfa_v2").is_dir():
        pytest.fail(f"upstream mirror not found at {MIRROR}: clone the repo next to ../shared or set EDGEFACE_MIRROR")
    return MIRROR


@pytest.fixture(scope="session")
def edgeface_home(tmp_path_factory, mirror) -> Path:
    """A cache with every mirrored asset fetched and verified; shared by the whole session.

    Set EDGEFACE_TEST_HOME to reuse a cache (and its conversions) across local test runs.
    """
    from edgeface.hub.fetch import fetch

    root = Path(os.environ["EDGEFACE_TEST_HOME"]) if os.environ.get("EDGEFACE_TEST_HOME") else tmp_path_factory.mktemp("edgeface_home")
    report = fetch(["all"], mirror=mirror, root=root)
    assert report.ok, [s.message for s in report.files if s.status not in ("cached", "fetched")]
    os.environ["EDGEFACE_HOME"] = str(root)  # for CLI calls made in-process or in subprocesses
    return root


@pytest.fixture(scope="session")
def samples(edgeface_home) -> dict:
    from edgeface.hub.assets import sample_path

    return {k: sample_path(k, edgeface_home) for k in ("emma", "trump_hillary", "jianzhuguo", "group", "obama")}


@pytest.fixture(scope="session")
def converted_home(edgeface_home) -> Path:
    """The session cache with mb05 and FaceBoxes (640x480 and the still-image 1088x736) converted (float32,
    float16, INT8) once per test session."""
    from edgeface.tools.convert.tflite import ConvertOptions, convert

    results = convert(["mb05", "faceboxes"], ConvertOptions(int8=True, fp16=True, still_detector=True), root=edgeface_home)
    assert all(v.manifest["verification"]["passed"] for r in results for v in r.variants)
    return edgeface_home


@pytest.fixture(scope="session")
def onnx_home(edgeface_home) -> Path:
    """The session cache with mb05 + FaceBoxes 640x480 exported to ONNX (reused when an export
    with the same checkpoint digest is already there)."""
    from edgeface.hub import assets
    from edgeface.tools.convert import export
    from edgeface.hub import paths

    out = paths.onnx_dir(edgeface_home)
    media = paths.files_dir(edgeface_home)
    det_ckpt = assets.file_path("faceboxes", "checkpoint", edgeface_home)
    export.export_regressor(assets.file_path("mb05", "checkpoint", edgeface_home), "mb05", out,
                            media_root=media, detector_checkpoint=det_ckpt)
    export.export_detector(det_ckpt, out, 640, 480, media_root=media)
    return edgeface_home
