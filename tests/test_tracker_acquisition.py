"""The tracker's motion rules for fast views, on synthetic faces: scans every frame when the view moves
fast (the frame that merges an asynchronous scan starts the next one), and landmarks whose size jumps
from a moved crop checked against upstream's crop."""

from __future__ import annotations

import numpy as np

from edgeface.runtime import track_motion
from edgeface.runtime.motion import BoxMotion, MotionConfig
from edgeface.runtime.tracker import FaceTracker
from edgeface.runtime.tracks import Track, TrackerConfig

W, H = 640, 480


def landmarks(box) -> np.ndarray:
    """68 points filling a face box (their bounding box is `box`)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    gx, gy = np.meshgrid(np.linspace(0.0, 1.0, 17), np.linspace(0.0, 1.0, 4))
    return np.stack([x1 + gx.ravel() * (x2 - x1), y1 + gy.ravel() * (y2 - y1)], axis=1)


def shrunk(box, area_ratio: float) -> np.ndarray:
    """`box` scaled about its centre to `area_ratio` of its area."""
    x1, y1, x2, y2 = (float(v) for v in box)
    k = np.sqrt(area_ratio)
    cx, cy, hw, hh = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) * k / 2, (y2 - y1) * k / 2
    return np.array([cx - hw, cy - hh, cx + hw, cy + hh])


def tracker(motion: bool = True) -> FaceTracker:
    return FaceTracker(TrackerConfig(detect_interval=10, max_misses=2, motion=MotionConfig() if motion else None))


def face(i: int, step: float = 30.0) -> np.ndarray:
    return np.array([100.0 + step * i, 150.0, 180.0 + step * i, 230.0])  # 80 px, moving right


def track_frames(tr: FaceTracker, n: int, step: float = 30.0) -> None:
    """Frames 0..n-1 of one face moving `step` px per frame: a detection on frame 0, then tracked crops
    (the regressor finds the face exactly)."""
    for i in range(n):
        tr.begin_frame(W, H)
        targets = tr.match(face(i, step)[None], np.array([0.99])) if i == 0 else tr.predict()
        for t in targets:
            assert tr.update(t.track_id, landmarks(face(i, step)))
        tr.end_frame()


def test_a_merged_scan_starts_the_next_one_while_the_view_moves_fast():
    tr = tracker()
    track_frames(tr, 4)
    assert tr.scan_interval == 1  # 30 px per frame on an 80 px face: scan every frame
    tr.begin_frame(W, H)
    tr.match(face(3)[None], np.array([0.99]), stale=True, frames_ago=1)  # the scan of the previous frame
    assert tr.rescan_due  # this frame's scan is due already: start it now, not on the next frame
    tr.end_frame()
    assert not tr.rescan_due  # outside a frame


def test_no_rescan_when_slow_or_without_motion():
    slow = tracker()
    track_frames(slow, 4, step=2.0)
    assert slow.scan_interval == 10
    slow.begin_frame(W, H)
    slow.match(face(3, 2.0)[None], np.array([0.99]), stale=True, frames_ago=1)
    assert not slow.rescan_due
    upstream = tracker(motion=False)
    track_frames(upstream, 4)
    upstream.begin_frame(W, H)
    upstream.match(face(3)[None], np.array([0.99]), stale=True, frames_ago=1)
    assert not upstream.rescan_due  # motion="none" keeps upstream's schedule


def _jump_frame(tr: FaceTracker, i: int, first_area: float, second_area: float | None):
    """Frame `i`: the moved crop's landmarks come back shrunk to `first_area` of the face; when retried,
    upstream's crop gives the face (`second_area` None) or shrunk to `second_area`. Returns (kept at the first
    try, the retried target or None, kept at the retry)."""
    tr.begin_frame(W, H)
    (t,) = tr.predict()
    first = tr.update(t.track_id, landmarks(shrunk(face(i), first_area)))
    retried = tr.retry()
    second = None
    if retried:
        box = face(i) if second_area is None else shrunk(face(i), second_area)
        second = tr.update(retried[0].track_id, landmarks(box))
    tr.end_frame()
    return t, first, retried, second


def test_size_jump_from_a_moved_crop_is_retried_from_upstreams_crop():
    tr = tracker()
    track_frames(tr, 5)
    upstream_crop = tr.track(0).next_roi.copy()
    t, first, retried, second = _jump_frame(tr, 5, 0.6, None)  # x0.6: passes the loss check's x0.5
    assert not np.allclose(t.roi, upstream_crop)  # the crop had been moved by the prediction
    assert first is False and len(retried) == 1
    assert np.allclose(retried[0].roi, upstream_crop)  # retried from the previous landmarks' crop
    assert second is True and np.allclose(tr.track(0).lm_box, face(5))


def test_size_jump_keeps_the_first_landmarks_when_upstreams_crop_does_no_better():
    tr = tracker()
    track_frames(tr, 5)
    _, first, retried, second = _jump_frame(tr, 5, 0.6, 0.52)
    assert first is False and second is True
    assert np.allclose(tr.track(0).lm_box, shrunk(face(5), 0.6))  # the first try's landmarks stay


def test_size_jump_is_accepted_without_motion_and_on_young_tracks():
    upstream = tracker(motion=False)
    track_frames(upstream, 5)
    upstream.begin_frame(W, H)
    (t,) = upstream.predict()
    assert upstream.update(t.track_id, landmarks(shrunk(face(5), 0.6)))  # upstream: only the x0.5 check
    young = tracker()
    track_frames(young, 2)  # two observations: its size change not measured twice yet
    young.begin_frame(W, H)
    (t,) = young.predict()
    assert young.update(t.track_id, landmarks(shrunk(face(2), 0.6)))


def test_min_scan_interval_bounds_the_scans_of_fast_faces():
    """Scans come closer while a face moves fast, never closer than `min_scan_interval` (one usable core: the
    profile's one-core interval, a CPU budget)."""
    def fast_track(cfg):
        t = Track(id=0, bbox=np.array([0.0, 0.0, 60.0, 60.0]), score=0.9)
        t.motion = BoxMotion(cfg)
        for k in range(4):  # 20 px a frame: a third of its side
            t.motion.observe(np.array([20.0 * k, 0.0, 20.0 * k + 60.0, 60.0]), k)
        return t

    free, bounded = MotionConfig(), MotionConfig(min_scan_interval=25)
    assert track_motion.scan_interval([fast_track(free)], 25, free) == 1
    assert track_motion.scan_interval([fast_track(bounded)], 25, bounded) == 25
    assert track_motion.scan_interval([], 25, bounded) == 25
