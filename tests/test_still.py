"""Still-image path (runtime/still.py): upstream's detector scale policy, the mirror permutation, options,
and on the real models: the faces upstream finds on every sample photo, flip TTA symmetric under mirroring."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from edgeface.errors import OptionsError
from edgeface.runtime import detection, still
from edgeface.vocab import Precision


@pytest.mark.parametrize("size, scaled", [
    ((500, 375), (500, 375)),        # small photos keep their size (the 640x480 letterbox upscaled them)
    ((1280, 720), (1080, 607)),      # obama.mp4: wider than 1080
    ((3913, 1901), (1080, 524)),     # emma.jpg: taller than 720, then wider than 1080
    ((720, 1280), (405, 720)),       # portrait
])
def test_native_scale_is_upstreams_policy(size, scaled):
    w, h = size
    lb = still.native_geometry(w, h, *still.STILL_DETECTOR_SIZE)
    assert (lb.new_w, lb.new_h) == scaled and (lb.width, lb.height) == still.STILL_DETECTOR_SIZE
    assert lb.new_w <= 1080 and lb.new_h <= 720


def test_native_geometry_falls_back_to_fit_when_the_canvas_is_small():
    lb = still.native_geometry(1280, 720, 640, 480)
    assert (lb.new_w, lb.new_h) == (640, 360)


def test_place_pads_with_the_detector_mean():
    img = np.full((100, 200, 3), 7, np.uint8)
    lb = still.native_geometry(200, 100, 256, 128)
    canvas = detection.place(img, lb)
    assert canvas.shape == (128, 256, 3) and (canvas[:100, :200] == 7).all()
    assert (canvas[110, 10] == (104, 117, 123)).all() and (canvas[10, 230] == (104, 117, 123)).all()


def test_mirror_permutation_is_an_involution_that_swaps_sides():
    m = still.MIRROR_68
    assert sorted(m.tolist()) == list(range(68)) and (m[m] == np.arange(68)).all()
    assert m[0] == 16 and m[36] == 45 and m[39] == 42 and m[48] == 54 and m[30] == 30 and m[8] == 8
    pts = np.random.default_rng(0).normal(size=(3, 68)).astype(np.float32) * 30 + 60
    back = still.mirror_points(still.mirror_points(pts))
    np.testing.assert_allclose(back, pts, atol=1e-5)


@pytest.mark.parametrize("kw, words", [
    ({"detector": "huge"}, "native or letterbox"),
    ({"recrops": -1}, "0 to 5"),
    ({"recrops": 1.5}, "0 to 5"),
    ({"detector_size": (1000, 700)}, "multiples of 32"),
])
def test_still_config_errors_are_one_line(kw, words):
    with pytest.raises(OptionsError) as e:
        still.StillConfig(**kw)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_recrops_default_by_precision():
    assert still.StillConfig().for_precision(Precision.FP32).recrops == 1
    assert still.StillConfig().for_precision("int8").recrops == 2
    assert still.StillConfig(recrops=0).for_precision("int8").recrops == 0
    assert still.StillConfig.upstream().regressor_runs == 1
    assert still.StillConfig().for_precision("fp32").regressor_runs == 3


# ----------------------------------------------------------------------------- on the models

@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_every_face_upstream_finds_on_the_samples(converted_home, samples, precision):
    import edgeface
    from edgeface.runtime.boxes import iou
    from conftest import MIRROR

    ref = {r["source"]: r for r in map(json.loads, (MIRROR.parent / "upstream-ref" / "samples.jsonl").read_text().splitlines())}
    names = {"emma": "emma.jpg", "trump_hillary": "trump_hillary.jpg", "jianzhuguo": "JianzhuGuo.jpg", "group": "5.png"}
    with edgeface.FaceAligner.create(precision=precision, target="x86_64", cache_root=converted_home) as al:
        for key, name in names.items():
            faces = al.detect(cv2.imread(str(samples[key]))).faces
            up = [np.asarray(f["bbox"][:4]) for f in ref[name]["faces"]]
            assert len(faces) == len(up), (name, len(faces), len(up))  # emma 3, trump_hillary 2, 5.png 3, JianzhuGuo 1
            assert all(max(iou(f.bbox, b) for f in faces) > 0.8 for b in up), name
        d = al.describe()
        runs = al.pipeline.counters.regressor_runs
    assert d["still_detector_model"].endswith(f"faceboxes_1088x736_{Precision.parse(precision).variant}.tflite")
    assert runs == 9 * (4 if precision == "int8" else 3)  # box crop + re-crops + the mirrored crop, per face


def test_flip_tta_is_exactly_mirror_symmetric(converted_home, samples):
    """With flip TTA, a face and its mirror image (same crop box, mirrored) give mirrored landmarks:
    the average over {crop, mirrored crop} is symmetric by construction when `mirror_points` and
    `MIRROR_68` are right. In frame pixels the mirror of x is W - x - 2 * (ROI side / 120), from
    to_image's one-pixel shift of the crop space (upstream's convention)."""
    from edgeface.hub import assets, paths
    from edgeface.runtime.networks import LandmarkRegressor
    from edgeface.runtime.onnx_backend import OnnxModel

    stats, bases = assets.load_param_stats(converted_home), assets.load_sparse_bases(converted_home)
    reg = LandmarkRegressor(OnnxModel(paths.onnx_dir(converted_home) / "mb05.onnx"), stats.mean, stats.std)
    al = still.StillAligner(still.StillConfig(recrops=0, flip=True), bases, lambda info: None)
    img = cv2.imread(str(samples["jianzhuguo"]))
    w = img.shape[1]
    roi = np.array([100.0, 80.0, 300.0, 280.0])  # whole pixels: the mirrored crop is exactly crop[:, ::-1]
    roi_m = np.array([w - roi[2], roi[1], w - roi[0], roi[3]])
    times = {"regress": 0.0, "decode": 0.0}
    regress = lambda image, r, t: reg(image, r)  # noqa: E731
    crop_fn = lambda crop, t: reg.params_from_crop(crop)  # noqa: E731
    _, _, a = al.align(img, roi, regress, crop_fn, times)
    _, _, b = al.align(np.ascontiguousarray(img[:, ::-1]), roi_m, regress, crop_fn, times)
    mirrored = b[still.MIRROR_68].copy()
    mirrored[:, 0] = w - mirrored[:, 0] - 2 * (roi[2] - roi[0]) / 120
    np.testing.assert_allclose(mirrored, a, atol=2e-3)
    _, _, plain = still.StillAligner(still.StillConfig(recrops=0, flip=False), bases, lambda info: None).align(
        img, roi, regress, crop_fn, times)
    assert 0.3 < np.linalg.norm(plain[:, :2] - a[:, :2], axis=1).mean() < 5  # the flip does change the result


def test_run_flags_set_the_still_path(converted_home, samples, tmp_path, capsys):
    """`edgeface run --still-recrops 0 --no-still-flip` is upstream demo.py's path; a bad policy is one line, exit 2."""
    import edgeface
    from inprocess_cli import cli

    jsonl = tmp_path / "j.jsonl"
    code, out, err = cli(capsys, "run", "--target", "x86_64", "--backend", "onnx", "--source", samples["jianzhuguo"],
                         "--still-recrops", "0", "--no-still-flip", "--json", jsonl)
    assert code == 0, err
    assert "faceboxes 1088x736 at upstream's scale, 0 re-crops, no flip" in out + err
    with edgeface.FaceAligner.create(backend="onnx", target="x86_64", cache_root=converted_home,
                                     still=still.StillConfig.upstream()) as al:
        want = al.detect(cv2.imread(str(samples["jianzhuguo"]))).to_dict()["faces"]
    got = json.loads(jsonl.read_text())["faces"]
    assert [f["landmarks"] for f in got] == [f["landmarks"] for f in want]
    code, out, err = cli(capsys, "run", "--target", "x86_64", "--source", samples["jianzhuguo"], "--still-detector", "big")
    assert code == 2 and "native or letterbox" in err and "Traceback" not in err
