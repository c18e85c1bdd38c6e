"""`edgeface run` / `edgeface doctor` end to end (in-process CLI, ONNX reference models, real media)."""

from __future__ import annotations

import json
import re
import shutil

import cv2
import numpy as np
import pytest

from edgeface.hub import paths
from inprocess_cli import cli


RUN = ("run", "--backend", "onnx", "--target", "x86_64", "--threads", "2", "--quiet")


def _check_contract(d: dict, n_faces: int) -> None:
    assert set(d) == {"schema", "frame", "source", "time_ms", "faces"} and d["schema"] == "edgeface.frame/2"
    assert isinstance(d["frame"], int) and isinstance(d["source"], str)
    assert {"detect", "regress", "decode", "total"} <= set(d["time_ms"])
    assert all(isinstance(v, float) and v >= 0 for v in d["time_ms"].values())
    assert len(d["faces"]) == n_faces
    for f in d["faces"]:
        assert set(f) == {"id", "bbox", "score", "landmarks", "pose", "params"}
        assert isinstance(f["id"], int) and len(f["bbox"]) == 4 and 0 < f["score"] <= 1
        assert len(f["landmarks"]) == 68 and all(len(p) == 3 for p in f["landmarks"])
        assert set(f["pose"]) == {"yaw", "pitch", "roll"} and len(f["params"]) == 62
        x1, y1, x2, y2 = f["bbox"]
        xs = [p[0] for p in f["landmarks"]]
        ys = [p[1] for p in f["landmarks"]]
        w, h = x2 - x1, y2 - y1
        assert x1 - 0.15 * w <= min(xs) and max(xs) <= x2 + 0.15 * w
        assert y1 - 0.15 * h <= min(ys) and max(ys) <= y2 + 0.15 * h


def test_two_faces_jsonl_and_image(onnx_home, samples, tmp_path, capsys):
    jsonl, pic = tmp_path / "th.jsonl", tmp_path / "th.jpg"
    code, out, err = cli(capsys, *RUN, "--source", samples["trump_hillary"], "--json", jsonl, "--save", pic)
    assert code == 0, err
    (line,) = jsonl.read_text().splitlines()
    d = json.loads(line)
    _check_contract(d, 2)
    assert [f["id"] for f in d["faces"]] == [0, 1] and d["frame"] == 0
    img = cv2.imread(str(pic))
    assert img.shape == cv2.imread(str(samples["trump_hillary"])).shape
    assert "1 frames" in out and "2 faces" in out and "detector on 1 frames" in out
    assert "still images" in err and "target x86_64" in err


def test_positional_input_and_no_face(onnx_home, samples, tmp_path, capsys):
    emma = cv2.imread(str(samples["emma"]))
    bg = tmp_path / "background.png"
    cv2.imwrite(str(bg), emma[1300:1900, 1350:2300])
    jsonl = tmp_path / "bg.jsonl"
    code, out, err = cli(capsys, *RUN, bg, "--json", jsonl)
    assert code == 0, err
    d = json.loads(jsonl.read_text())
    _check_contract(d, 0)
    assert d["faces"] == [] and "0 faces" in out


def test_folder_of_images(onnx_home, samples, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(samples["trump_hillary"], folder / "a1.jpg")
    shutil.copy(samples["jianzhuguo"], folder / "a2.jpg")
    jsonl, outdir = tmp_path / "f.jsonl", tmp_path / "out"
    code, out, err = cli(capsys, *RUN, "--source", folder, "--json", jsonl, "--save", f"{outdir}/")
    assert code == 0, err
    lines = [json.loads(s) for s in jsonl.read_text().splitlines()]
    assert [len(d["faces"]) for d in lines] == [2, 1]
    assert [d["faces"][0]["id"] for d in lines] == [0, 0]  # still images: ids start over
    assert lines[1]["source"].endswith("a2.jpg")
    assert sorted(p.name for p in outdir.iterdir()) == ["a1.jpg", "a2.jpg"]  # named after the inputs


def test_corrupt_image_one_line_error(onnx_home, tmp_path, capsys):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    jsonl = tmp_path / "x.jsonl"
    code, out, err = cli(capsys, *RUN, "--source", bad, "--json", jsonl)
    assert code != 0
    lines = [s for s in err.strip().splitlines() if s.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "broken.jpg" in lines[0]
    assert "Traceback" not in err and not jsonl.exists()


def test_obama_tracking_vs_detection(onnx_home, samples, tmp_path, capsys):
    jsonl = tmp_path / "ob.jsonl"
    code, out, err = cli(capsys, *RUN, "--source", samples["obama"], "--json", jsonl, "--detect-interval", "10",
                         "--max-frames", "60", "--scan", "inline", "--motion", "none")
    # in-line scans at the fixed interval (motion none: no scans paced by motion): the detector's frames are known
    assert code == 0, err
    lines = [json.loads(s) for s in jsonl.read_text().splitlines()]
    assert [d["frame"] for d in lines] == list(range(60))
    for d in lines:
        _check_contract(d, 1)
    assert {d["faces"][0]["id"] for d in lines} == {0}
    assert sum(d["time_ms"]["detect"] > 0 for d in lines) == 6
    assert "detector on 6 frames" in out and "60 faces on 60 frames" in out
    code, out, err = cli(capsys, *RUN, "--source", samples["obama"], "--no-track", "--no-smooth", "--max-frames", "20")
    assert code == 0 and "detector on 20 frames" in out


def test_bitexact_flag_decodes_exactly(onnx_home, samples, tmp_path, capsys):
    """`--bitexact` decodes video with the bit-exact conversion (and crops with INTER_LINEAR_EXACT): the
    same faces, landmarks moved by rounding-level pixel changes only."""
    out = {}
    for name, extra in (("fast", ()), ("exact", ("--bitexact",))):
        jsonl = tmp_path / f"{name}.jsonl"
        code, _, err = cli(capsys, *RUN, "--source", samples["obama"], "--max-frames", "4", "--no-smooth",
                           "--json", jsonl, *extra)
        assert code == 0, err
        out[name] = [json.loads(s) for s in jsonl.read_text().splitlines()]
    lm = {k: np.array([f["landmarks"] for d in v for f in d["faces"]]) for k, v in out.items()}
    assert lm["fast"].shape == lm["exact"].shape == (4, 68, 3)
    d = np.abs(lm["fast"] - lm["exact"])[:, :, :2]
    assert 0 < d.max() < 3.0  # the flag is applied, and changes nothing but rounding


def test_save_video(onnx_home, samples, tmp_path, capsys):
    video = tmp_path / "ob.mp4"
    code, out, err = cli(capsys, *RUN, "--source", samples["obama"], "--max-frames", "8", "--save", video)
    assert code == 0, err
    cap = cv2.VideoCapture(str(video))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 8
    assert (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (1280, 720)
    assert f"wrote {video}" in out


def test_serve_free_port(onnx_home, samples, capsys):
    code, out, err = cli(capsys, *RUN, "--source", samples["jianzhuguo"], "--serve", "127.0.0.1:0")
    assert code == 0, err
    assert re.search(r"streaming at http://127\.0\.0\.1:\d+", err)


@pytest.mark.parametrize("args,needle", [
    (("--camera", "/dev/video99"), "/dev/video99"),
    (("--camera", "--source", "x.jpg"), "not both"),
    ((), "no input"),
    (("--source", "nowhere.jpg"), "input not found"),
    (("--source", "x.jpg", "--target", "rpi9"), "unknown target"),
    (("--source", "x.jpg", "--precision", "int8"), "ONNX reference is fp32"),
    (("--source", "x.jpg", "--detector-size", "100"), "bad size"),
    (("--source", "x.jpg", "--serve", "host:port"), "bad --serve value"),
])
def test_usage_errors_are_one_line(onnx_home, samples, capsys, tmp_path, monkeypatch, args, needle):
    monkeypatch.chdir(tmp_path)
    shutil.copy(samples["jianzhuguo"], tmp_path / "x.jpg")
    code, out, err = cli(capsys, "run", "--backend", "onnx", "--quiet", *args)
    lines = [s for s in err.strip().splitlines() if s.strip() and "VIDEOIO" not in s]  # OpenCV's own warnings
    assert code != 0 and "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], err


@pytest.mark.parametrize("target,model,command", [
    ("rpi5", "faceboxes_640x480_int8.tflite", "edgeface convert --model faceboxes --int8"),
    ("rpi4", "faceboxes_640x480_float32.tflite", "edgeface convert --model faceboxes"),  # its detector is fp32
])
def test_missing_tflite_models(edgeface_home, samples, tmp_path, capsys, monkeypatch, target, model, command):
    home = tmp_path / "home"
    shutil.copytree(paths.assets_dir(edgeface_home), paths.assets_dir(home))
    monkeypatch.setenv("EDGEFACE_HOME", str(home))
    code, out, err = cli(capsys, "run", "--source", samples["jianzhuguo"], "--target", target, "--quiet")
    lines = [s for s in err.strip().splitlines() if s.strip()]
    assert code != 0 and len(lines) == 1
    assert model in lines[0] and command in lines[0]


def test_doctor(edgeface_home, capsys):
    code, out, err = cli(capsys, "doctor")
    assert code == 0, err
    assert "recommended target" in out and "TFLite runtime" in out
    code, out, err = cli(capsys, "doctor", "--json")
    assert code == 0
    d = json.loads(out)
    assert d["target"] in ("rpi3", "rpi4", "rpi5", "rpi-zero2w", "generic-aarch64", "x86_64")
    assert isinstance(d["models"], list) and "features" in d


def test_options_from_profile():
    """FaceAlignerOptions over a target profile: what `edgeface run --target rpi4 ...` uses."""
    import os

    from edgeface import FaceAlignerOptions, Precision
    from edgeface.aligner import resolve_options
    from edgeface.boards.profiles import get_target
    from edgeface.errors import OptionsError

    rpi4 = get_target("rpi4")
    o, choice = resolve_options(FaceAlignerOptions.from_keywords(target="rpi4", threads=3, detect_interval=0, tracking=False,
                                                   smoothing=False, max_faces=2))
    assert choice.profile == rpi4
    assert (o.precision, o.threads, o.detector_size, o.detect_interval, o.tracking, o.max_faces) == (
        Precision.INT8, min(3, len(os.sched_getaffinity(0))), (640, 480), 0, False, 2)  # never more than the cores
    assert not o.smoothing.enabled and o.dense_max_vertices == rpi4.dense_max_vertices == 12000
    o, _ = resolve_options(FaceAlignerOptions.from_keywords(target="rpi4"))
    assert o.detect_interval == 10 and o.smoothing.enabled and o.detector_fallback
    assert o.threads == min(rpi4.threads, len(os.sched_getaffinity(0)))
    o, _ = resolve_options(FaceAlignerOptions.from_keywords(target="rpi4", backend="onnx", detector_size="320x256"))
    assert o.precision == Precision.FP32 and o.detector_size == (320, 256) and not o.detector_fallback
    with pytest.raises(OptionsError, match="ONNX reference is fp32"):
        FaceAlignerOptions.from_keywords(backend="onnx", precision="int8")


def test_live_status_line():
    import io

    from rich.console import Console

    from edgeface.cli.run_status import LiveStatus
    from edgeface.app.run_loop import LiveStats

    con = Console(file=io.StringIO(), force_terminal=True, width=200)
    with LiveStatus(con, window=2) as st:
        assert st.enabled
        for i, det in enumerate((30.0, 0.0, 0.0)):
            st(LiveStats(frame=i, frames=i + 1, total=158, fps=24.5, time_ms={"detect": det, "regress": 4.0, "total": det + 5},
                         faces=1, detector_runs=1, elapsed_s=0.1 * i))
        line = st.line(LiveStats(frame=3, frames=4, total=None, fps=25.0, time_ms={"detect": 0.0, "regress": 2.0, "total": 3.0},
                                 faces=2, detector_runs=1, elapsed_s=0.4))
    # means over the last 2 frames (window=2): detect 0, regress 3, the models' total 4
    assert line.startswith("frame 4  ") and "25.0 fps" in line and "detect 0.0  regress 3.0  models 4.0 ms" in line
    assert "faces 2" in line
    assert not LiveStatus(Console(file=io.StringIO()), enabled=True).enabled  # not a terminal: silent
