"""Detection off the critical path: asynchronous scans for new faces, and tracks that survive a
scan that misses them (`max_misses`). Real models (TFLite), real video frames."""

from __future__ import annotations

import cv2
import pytest

from edgeface.frames import Frame
from edgeface.sources.spec import open_source
from edgeface.runtime.loading import build_pipeline
from edgeface.runtime.options import PipelineOptions
from edgeface.runtime.smoothing_config import SmoothingConfig

FPS = 25  # obama.mp4


@pytest.fixture(scope="module")
def frames(samples) -> list:
    with open_source(samples["obama"], max_frames=90) as src:
        return [f.image for f in src]


def _pipe(home, **kw):
    kw.setdefault("smoothing", SmoothingConfig(enabled=False))
    return build_pipeline(PipelineOptions(precision=kw.pop("precision", "int8"), threads=1, root=home, **kw))


def _run(pipe, images, wait_scans=False):
    out = []
    for i, im in enumerate(images):
        out.append(pipe.process(Frame(i, im, i * 1000.0 / FPS, "obama")))
        if wait_scans and pipe.scanner is not None:
            pipe.scanner.wait()  # deterministic merge order for the assertions that need it
    return out


def test_async_scans_never_block_tracked_frames(converted_home, frames):
    pipe = _pipe(converted_home, scan="async", detect_interval=10)
    try:
        res = _run(pipe, frames)
        pipe.scanner.wait()
    finally:
        pipe.close()
    assert [len(r.faces) for r in res] == [1] * len(frames)
    assert {r.faces[0].id for r in res} == {0}
    # only frame 0 (no face tracked yet) ran the detector in-line; every later scan ran on the worker
    assert [r.frame for r in res if r.detected] == [0]
    assert pipe.scanner.scans >= len(frames) // 10 - 2
    assert pipe.counters.detector_runs >= len(frames) // 10 - 2  # merged scans are counted
    assert pipe.describe()["scan"] == "async"


def test_new_face_gets_a_track_within_a_second(converted_home, frames):
    """A second face (the same frame's face, mirrored, pasted at the left) enters at frame 20; with a
    scan every 10 frames it must be tracked before frame 20 + 25, and both ids stay stable."""
    enter = 20
    video = []
    for i, im in enumerate(frames[:enter + 50]):
        im = im.copy()
        if i >= enter:
            im[80:440, 40:340] = im[80:440, 560:860][:, ::-1]
        video.append(im)
    pipe = _pipe(converted_home, scan="async", detect_interval=10)
    try:
        res = _run(pipe, video)
    finally:
        pipe.close()
    first_two = next(i for i, r in enumerate(res) if len(r.faces) == 2)
    assert enter < first_two <= enter + FPS
    assert all(len(r.faces) == 2 for r in res[first_two:])
    ids = {tuple(sorted(f.id for f in r.faces)) for r in res[first_two:]}
    assert ids == {(0, 1)}
    # the new face sits where it was pasted
    new = [f for f in res[-1].faces if f.id == 1][0]
    assert 40 <= new.landmarks[:, 0].mean() <= 340


def test_tracks_survive_missed_scans(converted_home, frames):
    """A strict detector threshold (0.9999) makes FaceBoxes miss the face on frames 3-12 of the
    video (its score is 0.9997-0.9999 there): with max_misses the track and its id live on through
    those scans; without, the track is dropped and the face comes back under a new id."""
    video = frames[1:60]  # the face is found on frame 1
    kept = _run(_pipe(converted_home, precision="fp32", detect_interval=1, score_threshold=0.9999, max_misses=12), video)
    dropped = _run(_pipe(converted_home, precision="fp32", detect_interval=1, score_threshold=0.9999, max_misses=0), video)
    assert [len(r.faces) for r in kept] == [1] * len(video)
    assert {r.faces[0].id for r in kept} == {0}
    assert sum(len(r.faces) == 0 for r in dropped) >= 5
    assert len({f.id for r in dropped for f in r.faces}) >= 2


def test_scan_options_validated():
    from edgeface.errors import OptionsError

    with pytest.raises(OptionsError, match="scan mode"):
        PipelineOptions(scan="sometimes")
    with pytest.raises(OptionsError, match="max misses"):
        PipelineOptions(max_misses=-1)
    with pytest.raises(OptionsError, match="regressor threads"):
        PipelineOptions(regressor_threads=0)
    assert PipelineOptions(threads=2, regressor_threads=1).stage_threads("regressor") == 1
    assert PipelineOptions(threads=2).stage_threads("detector") == 2


@pytest.mark.parametrize("size", [None, (640, 480)])  # 640x480: the detector's own size, the canvas is the frame
def test_a_frame_is_the_callers_again_when_process_returns(converted_home, frames, size):
    """The scan worker letterboxes the frame itself (off the tracking's thread); `process` returns only once it
    has, so a caller that reuses one buffer for every frame (a camera) cannot change a scan under way: the
    detections of the scanned frame are those of the frame as it was, whatever is written into the buffer
    after `process` returns."""
    first, scanned = (frames[0], frames[40]) if size is None else (cv2.resize(frames[0], size), cv2.resize(frames[40], size))
    pipe = _pipe(converted_home, scan="async", detect_interval=1, detector_size=(640, 480))
    buf = first.copy()
    try:
        pipe.process(Frame(0, buf, 0.0, "obama"))  # in-line detection: the face is tracked
        buf[...] = scanned
        pipe.process(Frame(1, buf, 40.0, "obama"))  # submits a scan of frame 1 (= frames[40])
        assert pipe.scanner.pending_since == 1 and not pipe.scanner._reading
        buf[...] = 0  # the caller reuses its buffer at once
        scan = pipe.scanner.wait()
    finally:
        pipe.close()
    det = pipe.detector(scanned)
    assert scan is not None and scan.frame_index == 1
    assert scan.boxes.shape == det.boxes.shape == (1, 4)
    assert abs(scan.boxes - det.boxes).max() < 1e-3  # the face of the scanned frame, not of a black one
