"""The loop behind `edgeface run` (`app.run_loop.run`): a source through a `FaceAligner` into sinks,
on real data with the ONNX reference models."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from edgeface import FaceAligner
from edgeface.errors import EdgefaceError
from edgeface.app.run_loop import run
from edgeface.sinks.jsonl import JsonlSink
from edgeface.sinks.video import VideoSink
from edgeface.frames import Frame
from edgeface.sources.images import ImageSource, read_image
from edgeface.sources.spec import open_source


def _aligner(home, mode="video", **kw) -> FaceAligner:
    # scans in-line: detector-run counts that do not depend on when an asynchronous scan finishes
    kw.setdefault("scan", "inline")
    return FaceAligner.create(backend="onnx", threads=2, cache_root=home, smoothing=False, target="x86_64",
                              running_mode=mode, **kw)


@pytest.fixture(scope="module")
def onnx_video(edgeface_home, onnx_home) -> FaceAligner:
    with _aligner(edgeface_home) as a:
        yield a


@pytest.fixture(scope="module")
def onnx_image(edgeface_home, onnx_home) -> FaceAligner:
    with _aligner(edgeface_home, mode="image") as a:
        yield a


class _ListSink:
    def __init__(self):
        self.results, self.pictures, self.closed, self.aborted = [], [], False, False

    def write(self, frame, result, annotated):
        self.results.append(result)
        self.pictures.append(annotated)

    def close(self):
        self.closed = True

    def abort(self):
        self.aborted = True


class _Frames:
    """A source of `n` copies of one image that raises `exc` after them."""

    is_still = False
    name = "frames"
    frame_count = None

    def __init__(self, image, n, exc=None):
        self.image, self.n, self.exc = image, n, exc

    def __iter__(self):
        for i in range(self.n):
            yield Frame(i, self.image, i * 40.0, self.name)
        if self.exc is not None:
            raise self.exc


def test_run_writes_jsonl_and_summary(edgeface_home, onnx_home, samples, tmp_path):
    p = _aligner(edgeface_home, detect_interval=4)
    sink = _ListSink()
    jsonl = tmp_path / "out.jsonl"
    live = []
    with open_source(samples["obama"], max_frames=12) as src:
        summary = run(src, [JsonlSink(jsonl), sink], p, progress=live.append)
    assert summary.frames == 12 and summary.faces == 12 and summary.detector_runs == 3
    assert summary.stopped == "end of input" and sink.closed and not sink.aborted
    assert set(summary.mean_ms) == {"detect", "regress", "decode", "total"}
    assert [s.frames for s in live] == list(range(1, 13)) and live[-1].detector_runs == 3
    assert all(pic is not None and pic.shape == (720, 1280, 3) for pic in sink.pictures)
    lines = [json.loads(s) for s in jsonl.read_text().splitlines()]
    assert [d["frame"] for d in lines] == list(range(12))
    for d, r in zip(lines, sink.results):
        assert d == {"schema": "edgeface.frame/2", **json.loads(json.dumps(r.to_dict()))}
        assert set(d) == {"schema", "frame", "source", "time_ms", "faces"}
        (f,) = d["faces"]
        assert f["id"] == 0 and len(f["bbox"]) == 4 and len(f["landmarks"]) == 68 and len(f["params"]) == 62
        assert set(f["pose"]) == {"yaw", "pitch", "roll"}


def test_run_only_draws_when_needed(onnx_video, onnx_image, samples, tmp_path):
    sink = _ListSink()
    img = read_image(samples["jianzhuguo"])
    jsonl = tmp_path / "a.jsonl"
    run(_Frames(img, 2), [JsonlSink(jsonl)], onnx_video)
    assert len(jsonl.read_text().splitlines()) == 2
    run(ImageSource([samples["jianzhuguo"]]), [sink], onnx_image)
    assert sink.pictures[0] is not None and sink.pictures[0].shape == img.shape
    assert not np.array_equal(sink.pictures[0], img)  # annotated


def test_run_ctrl_c_keeps_output(onnx_video, samples, tmp_path):
    img = read_image(samples["jianzhuguo"])
    jsonl = tmp_path / "b.jsonl"
    video = tmp_path / "b.avi"
    summary = run(_Frames(img, 3, KeyboardInterrupt()), [JsonlSink(jsonl), VideoSink(video, fps=25)], onnx_video)
    assert summary.stopped == "interrupted" and summary.frames == 3
    assert len(jsonl.read_text().splitlines()) == 3
    cap = cv2.VideoCapture(str(video))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 3


def test_run_error_aborts_sinks(onnx_video, samples, tmp_path):
    img = read_image(samples["jianzhuguo"])
    video = tmp_path / "c.avi"
    sink = _ListSink()
    with pytest.raises(EdgefaceError, match="boom"):
        run(_Frames(img, 2, EdgefaceError("boom")), [VideoSink(video, fps=25), sink], onnx_video)
    assert sink.aborted and not video.exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # no temporary file left either


def test_run_stops_when_window_closed(onnx_video, samples):
    class Window(_ListSink):
        stopped = False

        def write(self, frame, result, annotated):
            super().write(frame, result, annotated)
            self.stopped = len(self.results) >= 2

    img = read_image(samples["jianzhuguo"])
    w = Window()
    summary = run(_Frames(img, 10), [w], onnx_video)
    assert summary.stopped == "window closed" and summary.frames == 2 and w.closed


def test_run_reports_a_lost_camera(onnx_video, samples):
    class Camera(_Frames):
        kind = "camera"
        max_frames = None

    img = read_image(samples["jianzhuguo"])
    summary = run(Camera(img, 3), [], onnx_video)
    assert summary.frames == 3 and summary.stopped == "camera stopped delivering frames"
    cam = Camera(img, 3)
    cam.max_frames = 3  # reached --max-frames: a normal end
    assert run(cam, [], onnx_video).stopped == "end of input"
