"""PyTorch nets, strict checkpoint loading and the verified ONNX export (real checkpoints, real media)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from edgeface.tools.convert import export, sample_media
from edgeface.runtime.detection import letterbox, postprocess, priors
from edgeface.errors import EdgefaceError, VerificationError
from edgeface.hub.atomic import sha256_file
from edgeface.tools.convert.torch_nets import (
    build_regressor,
    load_detector,
    load_regressor,
    make_int8_friendly,
    num_priors,
    read_checkpoint,
)

TOL = 1e-4
UPSTREAM = Path(__file__).resolve().parents[2] / "shared" / "upstream"
MB05 = UPSTREAM / "3ddfa_v2" / "weights" / "mb05_120x120.pth"
FACEBOXES = UPSTREAM / "3ddfa_v2" / "FaceBoxes" / "weights" / "FaceBoxesProd.pth"


def _ort(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


# ----------------------------------------------------------------------------- shared fixtures

@pytest.fixture(scope="session")
def crops() -> list[np.ndarray]:
    return sample_media.sample_crops(FACEBOXES, media_root=UPSTREAM)


@pytest.fixture(scope="session")
def frames() -> list[np.ndarray]:
    return sample_media.sample_frames(UPSTREAM)


@pytest.fixture(scope="session")
def onnx_out(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("onnx")


@pytest.fixture(scope="session")
def mb05_export(onnx_out, crops):
    return export.export_regressor(MB05, "mb05", onnx_out, samples=crops)


@pytest.fixture(scope="session")
def det_exports(onnx_out, frames):
    return {
        "standard": export.export_detector(FACEBOXES, onnx_out, frames=frames),
        "int8friendly": export.export_detector(FACEBOXES, onnx_out, int8_friendly=True, frames=frames),
    }


@pytest.fixture(scope="session")
def detector() -> torch.nn.Module:
    return load_detector(FACEBOXES)


# ----------------------------------------------------------------------------- loading

def test_checkpoints_load_strictly():
    reg = load_regressor(MB05, "mb05")
    assert not reg.training
    assert reg.conv1.weight.shape == (16, 3, 3, 3) and reg.fc_param.out_features == 62
    det = load_detector(FACEBOXES)
    assert not det.training
    assert det.loc[0].out_channels == 21 * 4 and det.conf[0].out_channels == 21 * 2
    # every tensor of the checkpoints was used
    assert set(reg.state_dict()) == set(read_checkpoint(MB05))
    assert set(det.state_dict()) == set(read_checkpoint(FACEBOXES))


def test_missing_key_is_a_clear_error(tmp_path):
    sd = torch.load(MB05, map_location="cpu", weights_only=True)
    del sd["state_dict"]["module.dw3_1.bn_sep.running_var"]
    bad = tmp_path / "bad.pth"
    torch.save(sd, bad)
    with pytest.raises(EdgefaceError, match=r"missing keys dw3_1\.bn_sep\.running_var"):
        load_regressor(bad, "mb05")


def test_extra_key_is_a_clear_error(tmp_path):
    sd = torch.load(FACEBOXES, map_location="cpu", weights_only=True)
    sd["conv5.weight"] = torch.zeros(3)
    bad = tmp_path / "bad.pth"
    torch.save(sd, bad)
    with pytest.raises(EdgefaceError, match=r"unexpected keys conv5\.weight"):
        load_detector(bad)


def test_wrong_architecture_is_a_clear_error():
    with pytest.raises(EdgefaceError, match=r"shape mismatch.*conv1\.weight \(16, 3, 3, 3\) vs \(32, 3, 3, 3\)"):
        load_regressor(MB05, "mb1")
    with pytest.raises(EdgefaceError, match="unknown regressor"):
        load_regressor(MB05, "mb2")


def test_not_a_checkpoint_is_a_clear_error(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a zip or pickle")
    with pytest.raises(EdgefaceError, match="cannot read .* as a PyTorch checkpoint"):
        load_detector(junk)


@pytest.mark.parametrize("style", ["dataparallel_with_landmark_head", "plain_fc"])
def test_mb1_architecture_round_trip(tmp_path, style):
    """mb1 (not mirrored here) has the same layout at width 1.0: a checkpoint of it, saved the
    upstream training way ('state_dict' + 'module.' prefix + landmark head) or with the
    upstream model-file names (head `fc`), loads strictly and gives the same outputs."""
    torch.manual_seed(0)
    lm = style == "dataparallel_with_landmark_head"
    src = build_regressor("mb1", landmark_head=lm).eval()
    assert src.conv1.weight.shape == (32, 3, 3, 3) and src.fc_param.in_features == 1024
    sd = src.state_dict()
    if lm:
        obj = {"epoch": 1, "state_dict": {"module." + k: v for k, v in sd.items()}}
    else:
        obj = {k.replace("fc_param.", "fc."): v for k, v in sd.items()}
    path = tmp_path / "mb1.pth"
    torch.save(obj, path)
    got = load_regressor(path, "mb1")
    assert (got.fc_lm is not None) == lm
    x = torch.randn(1, 3, 120, 120)
    with torch.no_grad():
        assert torch.equal(src(x), got(x))


# ----------------------------------------------------------------------------- torch nets on real data

def test_torch_faceboxes_finds_the_two_faces(detector):
    img = sample_media.sample_images(UPSTREAM, video_frames=())[1][1]  # trump_hillary.jpg
    canvas, lb = letterbox(img, 640, 480)
    with torch.no_grad():
        loc, conf = detector(torch.from_numpy(sample_media.detector_blob(canvas)))
    assert conf[0, :, 1].max() > 0.9
    faces, _ = postprocess(loc[0].numpy(), conf[0].numpy(), priors(640, 480), lb, 640, 480, score_threshold=0.5)
    assert len(faces) == 2
    centres_x = sorted(((faces[:, 0] + faces[:, 2]) / 2).tolist())  # frame pixels
    assert centres_x[0] < img.shape[1] / 2 < centres_x[1]  # one face on each side


def test_int8_friendly_rewrite_equals_standard(detector, frames):
    fused = make_int8_friendly(detector)
    assert detector.conv1.conv.out_channels == 24 and fused.conv1.conv.out_channels == 48
    worst = 0.0
    with torch.no_grad():
        for f in frames:
            x = torch.from_numpy(sample_media.detector_blob(letterbox(f, 640, 480)[0]))
            for a, b in zip(detector(x), fused(x)):
                worst = max(worst, float((a - b).abs().max()))
    assert worst <= TOL


def test_num_priors_matches_network_output(detector):
    assert num_priors(640, 480) == len(priors(640, 480)) == 6400
    with torch.no_grad():
        loc, conf = detector(torch.zeros(1, 3, 256, 320))
    assert loc.shape == (1, num_priors(320, 256), 4) and conf.shape == (1, num_priors(320, 256), 2)
    assert torch.allclose(conf.sum(-1), torch.ones(1, loc.shape[1]))
    assert priors(320, 256).shape == (num_priors(320, 256), 4)


def test_letterbox_pads_with_mean_colour():
    img = np.full((720, 1280, 3), 200, np.uint8)
    canvas, lb = letterbox(img, 640, 512)
    assert lb.scale == 0.5 and canvas.shape == (512, 640, 3)
    blob = sample_media.detector_blob(canvas)
    assert blob.shape == (1, 3, 512, 640)
    assert np.all(blob[:, :, 360:, :] == 0)  # padding normalizes to zero
    assert np.allclose(blob[0, :, :360, :], (200 - np.array(sample_media.DETECTOR_MEAN))[:, None, None])


# ----------------------------------------------------------------------------- ONNX export

def test_regressor_onnx_matches_torch(mb05_export, crops):
    assert not mb05_export.cached
    assert mb05_export.n_samples == len(crops) >= 8
    assert mb05_export.max_abs_diff <= TOL
    model, sess = load_regressor(MB05, "mb05"), _ort(mb05_export.onnx_path)
    worst = 0.0
    with torch.no_grad():
        for c in crops:
            b = sample_media.regressor_blob(c)
            worst = max(worst, float(np.abs(model(torch.from_numpy(b)).numpy()
                                            - sess.run(["params"], {"input": b})[0]).max()))
    assert worst <= TOL
    assert sess.get_inputs()[0].shape == [1, 3, 120, 120]
    assert [(o.name, o.shape) for o in sess.get_outputs()] == [("params", [1, 62])]


@pytest.mark.parametrize("variant", ["standard", "int8friendly"])
def test_detector_onnx_matches_torch(det_exports, detector, frames, variant):
    res = det_exports[variant]
    assert res.max_abs_diff <= TOL and res.n_samples == len(frames) >= 8
    model = detector if variant == "standard" else make_int8_friendly(detector)
    sess = _ort(res.onnx_path)
    assert [(o.name, o.shape) for o in sess.get_outputs()] == [("loc", [1, 6400, 4]), ("conf", [1, 6400, 2])]
    worst = 0.0
    with torch.no_grad():
        for f in frames:
            b = sample_media.detector_blob(letterbox(f, 640, 480)[0])
            for r, g in zip(model(torch.from_numpy(b)), sess.run(["loc", "conf"], {"input": b})):
                worst = max(worst, float(np.abs(r.numpy() - g).max()))
    assert worst <= TOL


def test_int8_friendly_graph_has_no_neg_or_avgpool(det_exports):
    def ops(p):
        return {n.op_type for n in onnx.load(str(p)).graph.node}

    assert {"Neg", "AveragePool"} <= ops(det_exports["standard"].onnx_path)
    assert not {"Neg", "AveragePool", "Identity"} & ops(det_exports["int8friendly"].onnx_path)


def test_sidecars(mb05_export, det_exports):
    reg = json.loads(mb05_export.sidecar_path.read_text())
    assert mb05_export.onnx_path.name == "mb05.onnx" and mb05_export.sidecar_path.name == "mb05.json"
    assert reg["name"] == "mb05" and reg["variant"] == "standard" and reg["opset"] == 13
    assert reg["input"]["name"] == "input" and reg["input"]["shape"] == [1, 3, 120, 120]
    assert reg["input"]["layout"] == "NCHW" and reg["input"]["color_order"] == "BGR"
    assert reg["input"]["normalization"]["mean"] == [127.5] * 3
    assert reg["input"]["normalization"]["std"] == [128.0] * 3
    assert [(o["name"], o["shape"]) for o in reg["outputs"]] == [("params", [1, 62])]
    assert reg["source_checkpoint"]["sha256"] == sha256_file(MB05)
    assert reg["onnx"]["sha256"] == sha256_file(mb05_export.onnx_path)
    assert set(reg["versions"]) >= {"torch", "onnx", "onnxruntime"}
    assert reg["verification"]["max_abs_diff"] == mb05_export.max_abs_diff
    assert reg["verification"]["n_samples"] == mb05_export.n_samples

    for variant, res in det_exports.items():
        meta = json.loads(res.sidecar_path.read_text())
        suffix = "_int8friendly" if variant == "int8friendly" else ""
        assert meta["name"] == f"faceboxes_640x480{suffix}" == res.onnx_path.stem
        assert meta["variant"] == variant
        assert meta["input"]["shape"] == [1, 3, 480, 640]
        assert meta["input"]["normalization"] == {
            "mean": [104.0, 117.0, 123.0], "std": [1.0, 1.0, 1.0],
            "formula": meta["input"]["normalization"]["formula"]}
        assert [(o["name"], o["shape"]) for o in meta["outputs"]] == [("loc", [1, 6400, 4]), ("conf", [1, 6400, 2])]
        det = meta["detector"]
        assert (det["width"], det["height"], det["num_priors"]) == (640, 480, 6400)
        assert det["priors"] == {"min_sizes": [[32, 64, 128], [256], [512]], "steps": [32, 64, 128],
                                 "variance": [0.1, 0.2], "clip": False}
        assert meta["source_checkpoint"]["sha256"] == sha256_file(FACEBOXES)
        assert meta["verification"]["max_abs_diff"] <= TOL
    int8 = json.loads(det_exports["int8friendly"].sidecar_path.read_text())
    assert max(int8["verification"]["int8friendly_vs_standard_torch_max_abs_diff"].values()) <= TOL


def test_export_is_cached_until_checkpoint_changes(mb05_export, crops):
    before = mb05_export.onnx_path.stat().st_mtime_ns
    again = export.export_regressor(MB05, "mb05", mb05_export.onnx_path.parent, samples=crops[:1])
    assert again.cached and again.max_abs_diff == mb05_export.max_abs_diff
    assert mb05_export.onnx_path.stat().st_mtime_ns == before
    # a sidecar naming another checkpoint digest is stale: the export is redone
    meta = json.loads(mb05_export.sidecar_path.read_text())
    meta["source_checkpoint"]["sha256"] = "0" * 64
    mb05_export.sidecar_path.write_text(json.dumps(meta))
    redo = export.export_regressor(MB05, "mb05", mb05_export.onnx_path.parent, samples=crops)
    assert not redo.cached and redo.max_abs_diff <= TOL
    assert json.loads(redo.sidecar_path.read_text())["source_checkpoint"]["sha256"] == sha256_file(MB05)


@pytest.mark.parametrize("size", [(650, 480), (640, 500), (0, 480), (640.0, 480)])
def test_bad_detector_size_rejected(tmp_path, size):
    with pytest.raises(EdgefaceError, match="multiples of 32"):
        export.export_detector(FACEBOXES, tmp_path, width=size[0], height=size[1], frames=[])
    assert list(tmp_path.iterdir()) == []


def test_failed_verification_leaves_nothing(tmp_path, crops, monkeypatch):
    monkeypatch.setattr(export, "VERIFY_TOL", -1.0)
    with pytest.raises(VerificationError, match="ONNX differs from torch"):
        export.export_regressor(MB05, "mb05", tmp_path, samples=crops[:2])
    assert list(tmp_path.iterdir()) == []


def test_other_detector_size_exports(tmp_path, frames):
    res = export.export_detector(FACEBOXES, tmp_path, width=320, height=256, frames=frames[:2])
    assert res.onnx_path.name == "faceboxes_320x256.onnx" and res.max_abs_diff <= TOL
    sess = _ort(res.onnx_path)
    assert sess.get_inputs()[0].shape == [1, 3, 256, 320]
    assert sess.get_outputs()[0].shape == [1, num_priors(320, 256), 4]
