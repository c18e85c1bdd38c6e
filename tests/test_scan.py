"""Detection off the critical path: asynchronous scans for new faces, and tracks that survive a
scan that misses them (`max_misses`). Real models (TFLite), real video frames."""

from __future__ import annotations

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
