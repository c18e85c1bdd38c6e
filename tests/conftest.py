"""Shared fixtures: the upstream mirror (../shared/upstream) and a cache fetched from it once per run.

With pytest-xdist (`make test` runs `-n auto`) every worker of a run shares that one cache: the first
worker to need a step (fetch, convert, export) does it under a file lock, the others wait for it and
then find it done (each step is cached in the folder: fetch and convert skip what is there and verified).
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

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


@contextmanager
def _exclusive(root: Path, step: str) -> Iterator[None]:
    """Hold a lock file beside `root` (not in it): one worker, or one test session, at a time does `step` there."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".{root.name}.{step}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def edgeface_home(tmp_path_factory, mirror) -> Path:
    """A cache with every mirrored asset fetched and verified; shared by the whole run (all xdist workers).

    Set EDGEFACE_TEST_HOME to reuse a cache (and its conversions) across local test runs.
    """
    from edgeface.hub.fetch import fetch

    if os.environ.get("EDGEFACE_TEST_HOME"):
        root = Path(os.environ["EDGEFACE_TEST_HOME"])
    elif os.environ.get("PYTEST_XDIST_WORKER"):  # the run's base folder, above each worker's own
        root = tmp_path_factory.getbasetemp().parent / "edgeface_home"
    else:
        root = tmp_path_factory.mktemp("edgeface_home")
    with _exclusive(root, "fetch"):
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
    float16, INT8) once per test session: what `edgeface convert --model all --int8 --fp16` makes.

    The still-image detector (the longest conversion) converts in a second process meanwhile: it shares
    no file with the other two (each detector size has its own ONNX, calibration set and held-out data),
    and a process, not a thread, because the ONNX export through torch is not thread-safe."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from dataclasses import replace

    from edgeface.tools.convert.tflite import ConvertOptions, convert, convert_model
    from edgeface.vocab import STILL_DETECTOR_SIZE

    opts = ConvertOptions(int8=True, fp16=True)
    with _exclusive(edgeface_home, "convert"), \
            ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        still = pool.submit(convert_model, "faceboxes", replace(opts, detector_size=STILL_DETECTOR_SIZE), edgeface_home)
        results = convert(["mb05", "faceboxes"], opts, root=edgeface_home)
        results.append(still.result())
    assert [r.name for r in results] == ["mb05", "faceboxes_640x480", "faceboxes_1088x736"]
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
    with _exclusive(edgeface_home, "export"):
        export.export_regressor(assets.file_path("mb05", "checkpoint", edgeface_home), "mb05", out,
                                media_root=media, detector_checkpoint=det_ckpt)
        export.export_detector(det_ckpt, out, 640, 480, media_root=media)
    return edgeface_home
