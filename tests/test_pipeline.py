"""The on-board pipeline on real data with the ONNX reference models (exported once per session)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeface.hub import assets
from edgeface.hub import paths
from edgeface.runtime import roi as roi_mod
from edgeface.runtime import tdmm
from edgeface.runtime.detection import DetectorConfig
from edgeface.errors import EdgefaceError, MissingAssetError
from edgeface.runtime.networks import FaceDetector, LandmarkRegressor
from edgeface.runtime.onnx_backend import OnnxModel
from edgeface.runtime.loading import build_pipeline, converted_detector_sizes, find_detector
from edgeface.runtime.options import PipelineOptions
from edgeface.runtime.pipeline import Pipeline
from edgeface.results import FrameResult
from edgeface.runtime.smoothing_config import SmoothingConfig
from edgeface.frames import Frame
from edgeface.sources.images import read_image
from edgeface.sources.spec import open_source


@pytest.fixture(scope="session")
def onnx_models(onnx_home) -> Path:
    """The ONNX folder of the test cache, with mb05 + FaceBoxes 640x480 exported (conftest `onnx_home`)."""
    return paths.onnx_dir(onnx_home)


def _options(home, **kw) -> PipelineOptions:
    kw.setdefault("smoothing", SmoothingConfig(enabled=False))
    return PipelineOptions(backend="onnx", threads=2, root=home, **kw)


@pytest.fixture(scope="session")
def onnx_pipeline(edgeface_home, onnx_models) -> Pipeline:
    return build_pipeline(_options(edgeface_home))


@pytest.fixture(scope="session")
def obama_frames(samples) -> list:
    with open_source(samples["obama"]) as src:
        return list(src)


def _still(pipeline, path) -> FrameResult:
    return pipeline.process(Frame(0, read_image(path), None, str(path)), still=True)


def _check_face(face, shape):
    h, w = shape[:2]
    assert face.landmarks.shape == (68, 3) and face.params.shape == (62,) and face.camera.shape == (3, 4)
    assert np.all(np.isfinite(face.landmarks)) and np.all(np.isfinite(face.params))
    b = face.bbox
    assert 0 <= b[0] < b[2] <= w and 0 <= b[1] < b[3] <= h
    # the landmarks lie on the face: inside its box grown by 15 % of its size
    bw, bh = b[2] - b[0], b[3] - b[1]
    lm = face.landmarks
    assert lm[:, 0].min() >= b[0] - 0.15 * bw and lm[:, 0].max() <= b[2] + 0.15 * bw
    assert lm[:, 1].min() >= b[1] - 0.15 * bh and lm[:, 1].max() <= b[3] + 0.15 * bh
    # and fill a good part of it
    assert np.ptp(lm[:, 0]) > 0.5 * bw and np.ptp(lm[:, 1]) > 0.5 * bh
    for a in (face.pose.yaw, face.pose.pitch, face.pose.roll):
        assert -180 <= a <= 180
    np.testing.assert_allclose(face.camera.reshape(-1), face.params[:12])


# ----------------------------------------------------------------------------- still images

def test_trump_hillary_two_faces(onnx_pipeline, samples):
    img = read_image(samples["trump_hillary"])
    res = _still(onnx_pipeline, samples["trump_hillary"])
    assert [f.id for f in res.faces] == [0, 1]
    assert res.detected and set(res.time_ms) == {"detect", "regress", "decode", "total"}
    for f in res.faces:
        _check_face(f, img.shape)
        assert not f.tracked and f.score > 0.9
    # one face on each side of the picture
    centres = sorted(f.landmarks[:, 0].mean() for f in res.faces)
    assert centres[0] < img.shape[1] / 2 < centres[1]


def test_one_face_photo(onnx_pipeline, samples):
    img = read_image(samples["jianzhuguo"])
    res = _still(onnx_pipeline, samples["jianzhuguo"])
    assert len(res.faces) == 1
    _check_face(res.faces[0], img.shape)


def test_emma_three_panels(onnx_pipeline, samples):
    """emma.jpg is three photos side by side: one face in each third."""
    img = read_image(samples["emma"])
    res = _still(onnx_pipeline, samples["emma"])
    assert len(res.faces) == 3
    thirds = sorted(int(f.landmarks[:, 0].mean() // (img.shape[1] / 3)) for f in res.faces)
    assert thirds == [0, 1, 2]
    for f in res.faces:
        _check_face(f, img.shape)


def test_matches_the_formulas_with_unclipped_boxes(onnx_models, edgeface_home, samples):
    """Crops come from UNclipped detector boxes (upstream parity); landmarks = to_image(recon, roi).
    Still path without its extras (the video detector, no re-crop, no flip: runtime/still.py)."""
    from edgeface.runtime.still import StillConfig

    onnx_pipeline = build_pipeline(_options(edgeface_home, still=StillConfig(detector="letterbox", recrops=0, flip=False)))
    img = read_image(samples["group"])
    det = FaceDetector(OnnxModel(onnx_models / "faceboxes_640x480.onnx", num_threads=2), DetectorConfig(clip_to_frame=False))
    st = assets.load_param_stats(edgeface_home)
    sb = assets.load_sparse_bases(edgeface_home)
    reg = LandmarkRegressor(OnnxModel(onnx_models / "mb05.onnx", num_threads=2), st.mean, st.std)
    d = det(img)
    res = onnx_pipeline.process(Frame(0, img, None, "group"), still=True)
    assert len(res.faces) == len(d.boxes) >= 3
    for face, box, score in zip(res.faces, d.boxes, d.scores):
        r = roi_mod.roi_from_bbox(box)
        np.testing.assert_allclose(face.roi, r)
        p = reg(img, r)
        lm = tdmm.to_image(tdmm.sparse_landmarks(p, sb.u, sb.w_shp, sb.w_exp), r).T
        np.testing.assert_allclose(face.landmarks, lm, atol=1e-3)
        np.testing.assert_allclose(face.params, p, rtol=1e-5, atol=1e-5)
        assert face.pose.yaw == pytest.approx(tdmm.pose_from_params(p)[0])
        clipped = np.array([np.clip(box[0], 0, img.shape[1]), np.clip(box[1], 0, img.shape[0]),
                            np.clip(box[2], 0, img.shape[1]), np.clip(box[3], 0, img.shape[0])])
        np.testing.assert_allclose(face.bbox, clipped, atol=1e-3)
        assert face.score == pytest.approx(float(score))


def test_no_face(onnx_pipeline, samples):
    emma = read_image(samples["emma"])
    background = np.ascontiguousarray(emma[1300:1900, 1350:2300])  # the middle photo's dress and backdrop
    gy, gx = np.mgrid[0:480, 0:640]
    gradient = np.stack([gx * 255 // 639, gy * 255 // 479, (gx + gy) * 255 // 1118], axis=2).astype(np.uint8)
    for img in (background, gradient):
        res = onnx_pipeline.process(Frame(0, img, None, "x"), still=True)
        assert res.faces == [] and res.to_dict()["faces"] == []


def test_max_faces(edgeface_home, onnx_models, samples):
    p = build_pipeline(_options(edgeface_home, max_faces=2))
    res = _still(p, samples["group"])
    assert len(res.faces) == 2
    full = _still(build_pipeline(_options(edgeface_home)), samples["group"])
    assert [f.score for f in res.faces] == [f.score for f in full.faces[:2]]


def test_bad_frame_is_one_line_error(onnx_pipeline):
    with pytest.raises(EdgefaceError, match="BGR uint8"):
        onnx_pipeline.process(Frame(3, np.zeros((10, 10), np.uint8), None, "x"))


# ----------------------------------------------------------------------------- video

@pytest.fixture(scope="session")
def obama_runs(edgeface_home, onnx_models, obama_frames) -> dict:
    """obama.mp4 through three pipelines: tracking raw, tracking smoothed, detection on every frame."""
    out = {}
    for key, kw in {
        "track": dict(detect_interval=10),
        "smooth": dict(detect_interval=10, smoothing=SmoothingConfig()),
        "detect": dict(tracking=False),
    }.items():
        p = build_pipeline(_options(edgeface_home, **kw))
        out[key] = ([p.process(f) for f in obama_frames], p.counters)
    return out


def _lm(results) -> np.ndarray:
    return np.array([r.faces[0].landmarks[:, :2] for r in results])


def test_obama_every_frame_one_face(obama_runs, obama_frames):
    assert len(obama_frames) == 158
    for key, (results, counters) in obama_runs.items():
        assert len(results) == 158 and counters.frames == 158
        assert [len(r.faces) for r in results] == [1] * 158, key
        assert {r.faces[0].id for r in results} == {0}, key
        assert [r.frame for r in results] == list(range(158))


def test_tracking_runs_the_detector_far_less(obama_runs):
    results, c = obama_runs["track"]
    assert c.detector_runs == 16  # frames 0, 10, ..., 150: no track was lost
    assert sum(r.detected for r in results) == 16
    assert sum(r.faces[0].tracked for r in results) >= 158 - 16
    assert c.regressor_runs == 159  # + the refinement of the new face on frame 0
    _, c_det = obama_runs["detect"]
    assert c_det.detector_runs == 158 and c_det.regressor_runs == 158
    assert obama_runs["detect"][0][5].time_ms["detect"] > 0 and results[5].time_ms["detect"] == 0


def test_tracking_agrees_with_detection(obama_runs):
    """Landmarks from tracked crops stay on the face: close to those from per-frame detection crops."""
    tracked, detected = _lm(obama_runs["track"][0]), _lm(obama_runs["detect"][0])
    size = np.ptp(detected[:, :, 0], axis=1).mean()
    err = np.linalg.norm(tracked - detected, axis=2).mean(axis=1)
    assert err.mean() < 0.05 * size and err.max() < 0.12 * size


def test_smoothing_reduces_jitter_without_lag(obama_runs):
    raw, smooth = _lm(obama_runs["track"][0]), _lm(obama_runs["smooth"][0])
    jitter = lambda lm: np.linalg.norm(np.diff(lm, 2, axis=0), axis=2).mean()  # noqa: E731
    assert jitter(smooth) < 0.8 * jitter(raw)  # docs/concepts/stability.md: 0.67 on this video
    # little lag: mean distance to the raw landmarks (README: 0.7% of the face width)
    size = np.ptp(raw[:, :, 0], axis=1).mean()
    assert np.linalg.norm(smooth - raw, axis=2).mean() < 0.011 * size
    # params / camera stay raw
    r0, s0 = obama_runs["track"][0][40].faces[0], obama_runs["smooth"][0][40].faces[0]
    np.testing.assert_array_equal(r0.params, s0.params)


# ----------------------------------------------------------------------------- hooks and building

def test_dense_hook(edgeface_home, onnx_models, samples):
    calls = []

    def dense_fn(params, roi, landmarks):
        calls.append((params.shape, roi.shape, landmarks.shape))
        return landmarks.copy(), "dense_approx"

    with pytest.raises(EdgefaceError, match="dense"):
        build_pipeline(_options(edgeface_home, dense=True))
    p = build_pipeline(_options(edgeface_home, dense=True), dense=dense_fn)
    res = _still(p, samples["trump_hillary"])
    assert calls == [((62,), (4,), (68, 3))] * 2
    assert all(f.dense_kind == "dense_approx" and f.dense.shape == (68, 3) for f in res.faces)
    assert "dense" in res.time_ms
    # off by default: no dense data, no dense timing
    res = _still(build_pipeline(_options(edgeface_home), dense=dense_fn), samples["trump_hillary"])
    assert all(f.dense is None for f in res.faces) and "dense" not in res.time_ms and len(calls) == 2


def test_dense_reconstructor(edgeface_home, onnx_models, samples):
    """A dense.DenseReconstructor plugs in directly: its mesh lands on the face, keypoints = landmarks."""
    from edgeface.dense.loading import load_dense_model

    model = load_dense_model(edgeface_home, prefer="approx", decimate=3000)
    p = build_pipeline(_options(edgeface_home, dense=True, dense_max_vertices=3000), dense=model)
    res = _still(p, samples["jianzhuguo"])
    (f,) = res.faces
    assert f.dense_kind == "dense_approx" and f.dense.shape == (model.n_vertices, 3) and model.n_vertices < 4000
    b = f.bbox
    inside = ((f.dense[:, 0] > b[0]) & (f.dense[:, 0] < b[2]) & (f.dense[:, 1] > b[1]) & (f.dense[:, 1] < b[3])).mean()
    assert inside > 0.9
    lm_err = np.linalg.norm(f.dense[model.keypoints, :2] - f.landmarks[:, :2], axis=1).mean()
    assert lm_err < 0.02 * (b[2] - b[0])


def test_options_validation():
    with pytest.raises(EdgefaceError, match="backend"):
        PipelineOptions(backend="coreml")
    with pytest.raises(EdgefaceError, match="precision"):
        PipelineOptions(precision="int4")
    with pytest.raises(EdgefaceError, match="multiples of 32"):
        PipelineOptions(detector_size=(320, 240))
    with pytest.raises(EdgefaceError):
        PipelineOptions(threads=0)


def test_missing_models_one_line(tmp_path, edgeface_home):
    import shutil

    shutil.copytree(paths.assets_dir(edgeface_home), paths.assets_dir(tmp_path))
    with pytest.raises(MissingAssetError) as e:
        build_pipeline(PipelineOptions(backend="tflite", precision="int8", root=tmp_path))
    msg = str(e.value)
    assert "\n" not in msg and "faceboxes_640x480_int8.tflite" in msg and "edgeface convert --model faceboxes --int8" in msg
    with pytest.raises(MissingAssetError, match="edgeface export --model faceboxes"):
        build_pipeline(PipelineOptions(backend="onnx", root=tmp_path))


def test_detector_size_fallback(tmp_path):
    d = paths.tflite_dir(tmp_path) / "faceboxes_640x480"
    d.mkdir(parents=True)
    for ext in (".tflite", ".json"):
        (d / f"faceboxes_640x480_int8{ext}").write_bytes(b"x")
    assert converted_detector_sizes("int8", tmp_path) == [(640, 480)]
    assert converted_detector_sizes("fp32", tmp_path) == []
    path, size, note = find_detector(PipelineOptions(precision="int8", detector_size=(320, 256), detector_fallback=True, root=tmp_path))
    assert size == (640, 480) and path.name == "faceboxes_640x480_int8.tflite" and "320x256" in note
    with pytest.raises(MissingAssetError, match="--detector-size 320x256"):
        find_detector(PipelineOptions(precision="int8", detector_size=(320, 256), root=tmp_path))
