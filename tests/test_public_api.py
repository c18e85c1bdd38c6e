"""The public API as a contract: everything in `edgeface.__all__` is documented (with units where a value
has them), the public modules pass `mypy --strict`, timestamps are milliseconds (and seconds get one
warning), `wait_until_idle` says whether it became idle, `close()` releases the models and threads, the
head pose's rotation matrix has the documented signs, and the old names warn, naming the new ones."""

from __future__ import annotations

import gc
import importlib
import inspect
import re
import subprocess
import sys
import threading
import warnings
import weakref
from pathlib import Path

import numpy as np
import pytest

import edgeface
from edgeface import FaceAligner, Pose, TimestampUnitsWarning
from edgeface.errors import EdgefaceError
from edgeface.runtime import tdmm

REPO = Path(__file__).resolve().parents[1]
COMMON = dict(target="x86_64", threads=1, precision="int8")
#: the modules a program touches through `edgeface` (mypy --strict holds on these)
PUBLIC_MODULES = ["__init__", "aligner", "options", "results", "frames", "callbacks", "pose", "timestamp_units",
                  "deprecation", "live_worker", "errors", "vocab"]
UNIT_WORDS = re.compile(r"\b(ms|milliseconds?|seconds|degrees?|pixels?|px|radians|unitless|counts?|0\.\.1|fraction)\b")


def _doc(obj) -> str:
    return inspect.getdoc(obj) or ""


@pytest.mark.parametrize("name", [n for n in edgeface.__all__ if n != "__version__"])
def test_every_exported_name_has_a_docstring(name):
    obj = getattr(edgeface, name)
    assert len(_doc(obj)) >= 20, f"edgeface.{name} needs a docstring"


def _valued_members():
    """(qualified name, docstring) of the public properties and dataclass fields' holders that carry a
    quantity: time, angles, sizes, counts, scores."""
    quantity = re.compile(r"(time|timestamp|_ms$|_s$|yaw|pitch|roll|rotation|bbox|landmarks|score|threshold|"
                          r"size|frames|dropped|deadband|interval)")
    for cls_name in ("FaceAligner", "FrameResult", "Face", "Pose", "Frame", "BaseOptions", "FaceAlignerOptions"):
        cls = getattr(edgeface, cls_name)
        for attr, value in vars(cls).items():
            if attr.startswith("_") or not quantity.search(attr):
                continue
            if isinstance(value, property) or inspect.isfunction(value):
                yield f"{cls_name}.{attr}", _doc(value)
        fields = getattr(cls, "__dataclass_fields__", {})
        for attr in fields:
            if quantity.search(attr):
                yield f"{cls_name}.{attr} (in the class docstring)", _doc(cls)


@pytest.mark.parametrize("name,doc", list(_valued_members()), ids=lambda v: v if "." in str(v)[:40] else "")
def test_docstrings_of_values_state_their_units(name, doc):
    assert UNIT_WORDS.search(doc), f"{name}: say the unit (ms, degrees, pixels, count, ...) in its docstring"


def test_mypy_strict_passes_on_the_public_modules():
    paths = [str(REPO / "toolkit" / "edgeface" / f"{m}.py") for m in PUBLIC_MODULES]
    proc = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
                           "--ignore-missing-imports", "--no-incremental", *paths],
                          cwd=REPO / "toolkit", capture_output=True, text=True, timeout=600)
    if "No module named mypy" in proc.stderr:
        pytest.fail("mypy is not installed: pip install -e '.[dev]' (it is in the dev extra)")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_the_package_is_typed():
    assert (REPO / "toolkit" / "edgeface" / "py.typed").is_file()


def test_import_edgeface_stays_light():
    code = ("import sys, edgeface; edgeface.BaseOptions; edgeface.FaceAlignerOptions; edgeface.ResultCallback; "
            "print(sorted(m for m in ('numpy', 'cv2', 'ai_edge_litert', 'tflite_runtime') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ------------------------------------------------------------------ head pose as a rotation


def test_rotation_matrix_signs_match_the_documented_convention():
    """yaw > 0: forward axis to the image's left; pitch > 0: down; roll > 0: counter-clockwise (y up)."""
    for yaw, pitch, roll in [(30, 0, 0), (0, 20, 0), (0, 0, 25), (-40, -10, 15), (12, 33, -21)]:
        R = Pose(yaw, pitch, roll).rotation_matrix
        assert np.allclose(R @ R.T, np.eye(3), atol=1e-12) and np.isclose(np.linalg.det(R), 1.0)
        back = np.degrees(tdmm.matrix_to_angles(R))  # 3DDFA_V2's own decomposition gives the angles back
        assert np.allclose(back, (yaw, pitch, roll), atol=1e-9)
    assert Pose(30, 0, 0).rotation_matrix[0, 2] < 0
    assert Pose(-30, 0, 0).rotation_matrix[0, 2] > 0
    assert Pose(0, 20, 0).rotation_matrix[1, 2] < 0
    assert Pose(0, 0, 25).rotation_matrix[1, 0] > 0


def test_rotation_matrix_is_the_camera_rotation_of_real_faces(converted_home, samples):
    """On real photos: the pose's matrix is the face camera's rotation (3DDFA_V2's P2sRt, not re-orthogonalised),
    and the documented yaw sign agrees with where the nose tip sits between the eye corners in the image."""
    import cv2

    checked = 0
    with FaceAligner.create(**COMMON) as aligner:
        for name in ("trump_hillary", "jianzhuguo", "emma"):
            image = cv2.imread(str(samples[name]))
            for face in aligner.detect(image).faces:
                R = face.pose.rotation_matrix
                camera_R = tdmm.p2srt(face.camera)[1]
                assert np.abs(R - camera_R).max() < 0.05
                lm = face.landmarks
                nose_offset = lm[30, 0] - (lm[36, 0] + lm[45, 0]) / 2  # px, > 0: the nose is right of the eyes' middle
                if abs(face.pose.yaw) > 8:
                    assert np.sign(nose_offset) == np.sign(R[0, 2]) == -np.sign(face.pose.yaw)
                checked += 1
    assert checked >= 3


# ------------------------------------------------------------------ time, idle, close


def test_results_carry_timestamp_ms_and_seconds_get_one_warning(converted_home, samples):
    with edgeface.open_source(samples["obama"], max_frames=8) as src:
        frames = list(src)
    assert frames[1].timestamp_ms > 10  # sources give milliseconds (30 fps: about 33 ms apart)
    with FaceAligner.create(running_mode="video", **COMMON) as aligner:
        with warnings.catch_warnings():
            warnings.simplefilter("error", TimestampUnitsWarning)
            results = [aligner.detect_for_video(f.image, f.timestamp_ms) for f in frames]
        assert [r.timestamp_ms for r in results] == [f.timestamp_ms for f in frames]
        with pytest.warns(DeprecationWarning, match="FrameResult.timestamp_ms"):
            assert results[2].timestamp_s == results[2].timestamp_ms / 1000.0
        with pytest.warns(DeprecationWarning, match="Frame.timestamp_ms"):
            assert frames[2].timestamp_s == frames[2].timestamp_ms / 1000.0
    with FaceAligner.create(running_mode="video", **COMMON) as aligner:
        with pytest.warns(TimestampUnitsWarning, match="look like seconds") as record:
            for i, f in enumerate(frames):  # seconds where milliseconds belong
                aligner.detect_for_video(f.image, i / 30)
    assert len([w for w in record if w.category is TimestampUnitsWarning]) == 1  # once per aligner


def test_wait_until_idle_says_whether_it_became_idle(converted_home, samples):
    import cv2

    image = cv2.imread(str(samples["jianzhuguo"]))
    release = threading.Event()

    def slow(result, image, timestamp_ms):
        release.wait(10)

    with FaceAligner.create(running_mode="live_stream", result_callback=slow, **COMMON) as aligner:
        assert aligner.detect_async(image, 0.0)
        assert aligner.wait_until_idle(timeout_ms=50) is False  # the callback is still holding the worker
        release.set()
        assert aligner.wait_until_idle(timeout_ms=10_000) is True
        with pytest.warns(DeprecationWarning, match="timeout_ms"):
            assert aligner.wait_until_idle(timeout_s=1.0) is True
    with FaceAligner.create(**COMMON) as aligner:
        assert aligner.wait_until_idle(0) is True  # nothing to wait for outside LIVE_STREAM


def test_close_releases_the_models_and_threads_and_refuses_calls(converted_home, samples):
    import cv2

    image = cv2.imread(str(samples["jianzhuguo"]))
    before = {t.ident for t in threading.enumerate()}
    aligner = FaceAligner.create(running_mode="live_stream", result_callback=lambda r, i, t: None,
                                 scan="async", **COMMON)
    assert aligner.detect_async(image, 0.0) and aligner.wait_until_idle()
    models = [weakref.ref(aligner.pipeline.regressor), weakref.ref(aligner.pipeline.detector)]
    aligner.close()
    gc.collect()
    assert [m() for m in models] == [None, None]  # the interpreters went with the models
    assert {t.ident for t in threading.enumerate() if t.is_alive()} <= before  # live worker and scan thread ended
    assert aligner.closed and aligner.frames_processed == 1
    for call in (lambda: aligner.detect_async(image, 1.0), aligner.describe, aligner.reset, lambda: aligner.pipeline):
        with pytest.raises(EdgefaceError, match="this FaceAligner is closed; create a new one"):
            call()
    aligner.close()  # again: nothing happens


# ------------------------------------------------------------------ the old names


@pytest.mark.parametrize("module,old,new", [
    ("edgeface.io.sources", "open_source", "open_source"),
    ("edgeface.io.live_feed", "LiveFeed", "LiveFeed"),
    ("edgeface.aligner_options", "FaceAlignerOptions", "FaceAlignerOptions"),
])
def test_old_module_paths_warn_and_give_the_new_objects(module, old, new):
    sys.modules.pop(module, None)
    with pytest.warns(DeprecationWarning, match=f"{module} is deprecated .*: use edgeface.{new}"):
        mod = importlib.import_module(module)
    assert getattr(mod, old) is getattr(edgeface, new)


def test_flat_base_fields_on_face_aligner_options_warn_and_still_work():
    with pytest.warns(DeprecationWarning, match=r"FaceAlignerOptions\(precision=...\) is deprecated.*base_options"):
        opts = edgeface.FaceAlignerOptions(precision="int8", max_faces=2)
    assert opts.base_options.precision is edgeface.Precision.INT8 and opts.max_faces == 2
    with pytest.warns(DeprecationWarning, match="FaceAlignerOptions.base_options.precision"):
        assert opts.precision is edgeface.Precision.INT8
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the one-line path sorts the keywords without a warning
        assert edgeface.FaceAlignerOptions.from_keywords(precision="int8").base_options.precision == "int8"
