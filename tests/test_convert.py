"""convert: fp32/fp16/INT8 TFLite from the mirrored checkpoints, verified, with manifests; bad input fails cleanly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeface.tools.convert import calibrate
from edgeface.hub import store
from edgeface.tools.convert.tflite import ConvertOptions, convert
from edgeface.errors import EdgefaceError
from edgeface.runtime.tflite_backend import TFLiteModel


def run_cli(*args, home: Path):
    env = dict(os.environ, EDGEFACE_HOME=str(home), COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "edgeface", *args], capture_output=True, text=True, env=env)


def _manifest(home, name, variant):
    return json.loads(store.model_path(name, variant, home).with_suffix(".json").read_text())


def test_int8_regressor_meets_card_thresholds(converted_home):
    m = _manifest(converted_home, "mb05", "int8")
    ver = m["verification"]
    assert ver["passed"] and ver["samples"] >= 10
    assert ver["landmark_px_mean"] <= 0.6 and ver["landmark_px_max"] <= 1.5
    assert m["total_bytes"] <= 0.35 * _manifest(converted_home, "mb05", "float32")["total_bytes"]
    assert m["float_head"]["shape"] == [62, 512]  # mixed precision: final FC in float
    # the raw crop is fed as is: uint8 input with scale 1, zero point 0; float32 params out
    assert m["input"]["dtype"] == "uint8" and m["input"]["quantization"] == [pytest.approx(1.0, abs=1e-6), 0]
    assert m["input"]["shape"] == [1, 120, 120, 3] and m["input"]["layout"] == "NHWC"
    assert m["outputs"][0]["dtype"] == "float32" and m["outputs"][0]["shape"] == [1, 512]
    assert m["calibration"]["samples"] == 300 and len(m["calibration"]["digest"]) == 64
    assert m["converter"]["versions"]["onnx2tf"] == "1.29.24"


def test_float32_models_match_onnx(converted_home):
    reg = _manifest(converted_home, "mb05", "float32")["verification"]
    assert reg["output_max_abs_diff"] <= 1e-4
    det = _manifest(converted_home, "faceboxes_640x480", "float32")["verification"]
    assert det["loc_max_abs_diff"] <= 1e-4 and det["conf_max_abs_diff"] <= 1e-4 and det["recall"] == 1.0


def test_int8_detector_finds_every_float_face(converted_home):
    m = _manifest(converted_home, "faceboxes_640x480", "int8")
    ver = m["verification"]
    assert ver["faces_float"] == 6 and ver["recall"] == 1.0 and ver["iou_min"] >= 0.85  # emma 3 + 5.png 3 (held out)
    assert m["size_bytes"] <= 0.35 * _manifest(converted_home, "faceboxes_640x480", "float32")["size_bytes"]
    assert {o["name"] for o in m["outputs"]} == {"loc", "conf"}
    assert m["detector"]["graph"] == "int8friendly"


def test_int8_detector_on_sample_photos(converted_home, samples):
    """Every face the float TFLite model finds on the sample photos is found by INT8 with IoU >= 0.85."""
    from edgeface.runtime.networks import FaceDetector
    from edgeface.sources.images import read_image
    from edgeface.runtime.boxes import iou_matrix

    f32 = FaceDetector(TFLiteModel(store.model_path("faceboxes_640x480", "float32", converted_home)))
    i8 = FaceDetector(TFLiteModel(store.model_path("faceboxes_640x480", "int8", converted_home)))
    counts = {}
    for key in ("emma", "trump_hillary", "jianzhuguo", "group"):
        img = read_image(samples[key])
        a, b = f32(img), i8(img)
        counts[key] = len(a.boxes)
        if len(a.boxes):
            assert iou_matrix(a.boxes, b.boxes).max(axis=1).min() >= 0.85, key
    assert counts["trump_hillary"] == 2 and counts["jianzhuguo"] == 1 and counts["emma"] == 3


def test_reconvert_is_cached(converted_home):
    res = convert(["mb05"], ConvertOptions(int8=True), root=converted_home)
    assert res[0].cached and {v.variant for v in res[0].variants} == {"float32", "int8", "int8_floatio"}


def test_manifest_drives_runtime(converted_home):
    """The interpreter reads dtype/quantization/output indices from the manifest: int8 and fp32 agree closely."""
    crop = calibrate.load(calibrate.default_path(converted_home)).regressor[0]
    a = TFLiteModel(store.model_path("mb05", "float32", converted_home)).run(crop)["params"]
    b = TFLiteModel(store.model_path("mb05", "int8", converted_home)).run(crop)["params"]
    assert a.shape == b.shape == (1, 62)
    assert np.abs(a - b).max() < 0.3 and np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.99


def test_calibration_set_records_digest(converted_home):
    cal = calibrate.load(calibrate.default_path(converted_home))
    assert cal.regressor.shape == (300, 120, 120, 3) and cal.regressor.dtype == np.uint8
    assert cal.detector.shape[1:] == (480, 640, 3)
    assert cal.meta["regressor"]["faces_found"] >= 20
    # held-out sources (other people: emma.jpg, 5.png) never feed calibration
    recipe = cal.meta["recipe"]
    srcs = set(recipe["regressor_sources"] + recipe["detector_sources"])
    assert recipe["holdout_sources"] == ["samples:emma", "samples:group"]
    assert not {s.split("?")[0] for s in srcs} & set(recipe["holdout_sources"])


def _outputs(home: Path) -> set:
    d = home / "tflite"
    return {p for p in d.rglob("*") if p.is_file() and ".work" not in p.parts} if d.exists() else set()


def test_wrong_onnx_shape_one_line_error(converted_home, tmp_path):
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 64, 64])
    y = helper.make_tensor_value_info("params", TensorProto.FLOAT, [1, 3, 64, 64])
    m = helper.make_model(helper.make_graph([helper.make_node("Relu", ["input"], ["params"])], "g", [x], [y]))
    bad = tmp_path / "small.onnx"
    onnx.save(m, str(bad))
    before = _outputs(converted_home)
    r = run_cli("convert", "--model", "mb05", "--onnx", str(bad), home=converted_home)
    assert r.returncode != 0
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "input shape [1, 3, 64, 64]" in lines[0] and "Traceback" not in r.stderr
    assert _outputs(converted_home) == before


def test_corrupt_onnx_one_line_error(converted_home, tmp_path):
    bad = tmp_path / "corrupt.onnx"
    bad.write_bytes(b"\x08\x07garbage" * 50)
    before = _outputs(converted_home)
    r = run_cli("convert", "--model", "mb05", "--onnx", str(bad), home=converted_home)
    assert r.returncode != 0 and "not a valid ONNX model" in r.stderr and "Traceback" not in r.stderr
    assert _outputs(converted_home) == before


def test_empty_calibration_folder_one_line_error(converted_home, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "cal.npz"
    r = run_cli("calibrate", str(empty), "--out", str(out), home=converted_home)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert len([l for l in r.stderr.splitlines() if l.strip()]) == 1
    assert not out.exists() and not list(tmp_path.glob(".cal*"))


def test_faceless_calibration_source_error(converted_home, tmp_path):
    import cv2

    img = np.tile(np.linspace(0, 255, 320, dtype=np.uint8)[None, :, None], (240, 1, 3))
    (tmp_path / "noface").mkdir()
    cv2.imwrite(str(tmp_path / "noface" / "gradient.png"), img)
    out = tmp_path / "cal.npz"
    r = run_cli("calibrate", str(tmp_path / "noface"), "--out", str(out), home=converted_home)
    assert r.returncode != 0 and "no faces found" in r.stderr and not out.exists()


def test_failed_verification_writes_nothing(converted_home, tmp_path, monkeypatch):
    """Thresholds beyond reach: convert must fail and leave no model behind (fresh cache dir)."""
    import shutil

    from edgeface.hub import cards as registry

    home = tmp_path / "home"
    shutil.copytree(converted_home / "files", home / "files")
    shutil.copytree(converted_home / "assets", home / "assets")
    shutil.copytree(converted_home / "onnx", home / "onnx")
    shutil.copytree(converted_home / "calibration", home / "calibration")
    card = registry.get_card("mb05")
    strict = dict(card.int8, max_mean_landmark_px=1e-6)
    import dataclasses

    monkeypatch.setattr("edgeface.tools.convert.tflite.get_card", lambda name: dataclasses.replace(card, int8=strict) if name == "mb05" else registry.get_card(name))
    with pytest.raises(EdgefaceError, match="verification failed"):
        convert(["mb05"], ConvertOptions(int8=True), root=home)
    assert _outputs(home) == set()


def test_split_float_head_is_exact(converted_home):
    """backbone ONNX + numpy FC == the full regressor ONNX (the split changes no maths)."""
    import onnx
    import onnxruntime as ort

    from edgeface.tools.convert.onnx_graph import split_float_head

    full_path = converted_home / "onnx" / "mb05.onnx"
    backbone, head = split_float_head(onnx.load(str(full_path)))
    crops = calibrate.load(calibrate.default_path(converted_home)).regressor[:4]
    x = ((crops.astype(np.float32) - 127.5) / 128.0).transpose(0, 3, 1, 2)
    full = ort.InferenceSession(str(full_path))
    part = ort.InferenceSession(backbone.SerializeToString())
    for xi in x:
        a = full.run(None, {"input": xi[None]})[0]
        f = part.run(None, {"input": xi[None]})[0]
        assert np.abs(f @ head["W"].T + head["b"] - a).max() < 1e-5
    assert head["W"].shape == (62, 512)


def test_full_int8_without_float_head(converted_home, tmp_path, monkeypatch):
    """--no-float-head gives a self-contained full-INT8 model; its error is what the float head removes.

    Full INT8 sits right at the card's 0.6 px limit (0.58-0.63 px measured here, depending on the
    calibration crops) and its noise ratio (2.33) above the card's 2.0, so this test loosens the
    limits to compare the two conversions."""
    import dataclasses
    import shutil

    from edgeface.hub import cards as registry

    home = tmp_path / "home"
    for d in ("files", "assets", "onnx", "calibration"):
        shutil.copytree(converted_home / d, home / d)
    card = registry.get_card("mb05")
    loose = dict(card.int8, max_mean_landmark_px=2.0, max_max_landmark_px=5.0, max_noise_ratio=5.0)  # full INT8: 2.33
    monkeypatch.setattr("edgeface.tools.convert.tflite.get_card",
                        lambda name: dataclasses.replace(card, int8=loose) if name == "mb05" else registry.get_card(name))
    res = convert(["mb05"], ConvertOptions(int8=True, float_head=False), root=home)
    m = {v.variant: v.manifest for v in res[0].variants}["int8"]
    assert "float_head" not in m and m["outputs"][0]["shape"] == [1, 62] and m["verification"]["passed"]
    with_head = _manifest(converted_home, "mb05", "int8")["verification"]
    assert with_head["landmark_px_mean"] < 0.75 * m["verification"]["landmark_px_mean"]


def test_verify_command(converted_home):
    r = run_cli("verify", str(store.model_path("mb05", "int8", converted_home)), home=converted_home)
    assert r.returncode == 0, r.stderr
    assert "landmark_px_mean" in r.stdout and "ok" in r.stdout
    r = run_cli("verify", str(converted_home / "nope.tflite"), home=converted_home)
    assert r.returncode != 0 and "no manifest" in r.stderr and "Traceback" not in r.stderr
