"""The tracker state machine on synthetic faces: stable ids, re-detection interval, loss and recovery."""

from __future__ import annotations

import numpy as np
import pytest

from edgeface.runtime import roi as roi_mod
from edgeface.errors import EdgefaceError
from edgeface.runtime.boxes import box_from_relative, box_relative, greedy_match, iou, iou_matrix, points_box, visible_fraction
from edgeface.runtime.tracker import FaceTracker
from edgeface.runtime.tracks import TrackerConfig

W, H = 640, 480


def fake_landmarks(box) -> np.ndarray:
    """68 points filling the lower 80 % of a face box (like brows-to-chin landmarks in a detector box)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    gx, gy = np.meshgrid(np.linspace(0.1, 0.9, 17), np.linspace(0.2, 1.0, 4))
    pts = np.stack([x1 + gx.ravel() * w, y1 + gy.ravel() * h], axis=1)[:68]
    return np.concatenate([pts, np.zeros((68, 1))], axis=1)


class World:
    """Faces moving in a frame; a fake detector and a fake regressor.

    The regressor returns the landmarks of the face whose detection-style ROI overlaps the crop
    most (IoU > 0.25), or a collapsed blob of points (a failed crop) otherwise."""

    def __init__(self, tracker: FaceTracker):
        self.tracker = tracker
        self.detector_runs = 0
        self.regressions = 0

    def detect(self, faces):
        self.detector_runs += 1
        boxes = np.array([f for f in faces], dtype=np.float64).reshape(-1, 4)
        return boxes, np.linspace(0.99, 0.9, len(boxes)) if len(boxes) else np.zeros(0)

    def regress(self, crop, faces):
        self.regressions += 1
        best, best_iou = None, 0.25
        for f in faces:
            o = iou(crop, roi_mod.roi_from_bbox(f))
            if o > best_iou:
                best, best_iou = f, o
        if best is None:
            c = np.asarray(crop, dtype=np.float64)
            cx, cy = (c[0] + c[2]) / 2, (c[1] + c[3]) / 2
            return fake_landmarks([cx - 2, cy - 2, cx + 2, cy + 2])
        return fake_landmarks(best)

    def step(self, faces):
        """One frame with true face boxes `faces`; returns {id: target source} of the kept faces."""
        tr = self.tracker
        got = {}
        targets = tr.match(*self.detect(faces)) if tr.begin_frame(W, H) else tr.predict()
        while targets:
            for t in targets:
                if tr.update(t.track_id, self.regress(t.roi, faces)):
                    got[t.track_id] = t.source
                else:
                    got.pop(t.track_id, None)
            targets = tr.match(*self.detect(faces)) if tr.needs_detection else tr.retry()
        tr.end_frame()
        return {k: v for k, v in got.items() if tr.is_alive(k)}


def moving(box, dx, dy, n):
    b = np.asarray(box, dtype=np.float64)
    return [b + np.array([dx, dy, dx, dy]) * i for i in range(n)]


# ----------------------------------------------------------------------------- helpers

def test_box_helpers():
    assert iou([0, 0, 10, 10], [5, 0, 15, 10]) == pytest.approx(50 / 150)
    assert iou([0, 0, 10, 10], [20, 20, 30, 30]) == 0.0
    m = iou_matrix([[0, 0, 10, 10], [5, 0, 15, 10]], [[0, 0, 10, 10]])
    np.testing.assert_allclose(m[:, 0], [1.0, 50 / 150])
    assert iou_matrix(np.zeros((0, 4)), [[0, 0, 1, 1]]).shape == (0, 1)
    assert visible_fraction([-10, 0, 10, 10], 100, 100) == pytest.approx(0.5)
    assert visible_fraction([200, 200, 210, 210], 100, 100) == 0.0
    ref = np.array([10.0, 20.0, 110.0, 220.0])
    box = np.array([0.0, 5.0, 120.0, 230.0])
    np.testing.assert_allclose(box_from_relative(box_relative(box, ref), ref), box)
    np.testing.assert_allclose(points_box([[1, 5], [3, 2], [2, 9]]), [1, 2, 3, 9])


def test_greedy_match_takes_highest_iou_first():
    ious = np.array([[0.6, 0.5], [0.7, 0.0]])
    # (1, 0) has the highest IoU; row 0 then gets column 1
    assert sorted(greedy_match(ious, 0.3)) == [(0, 1), (1, 0)]
    assert greedy_match(ious, 0.65) == [(1, 0)]
    assert greedy_match(np.zeros((0, 2)), 0.3) == []


def test_config_validation():
    with pytest.raises(EdgefaceError):
        TrackerConfig(detect_interval=-1)
    with pytest.raises(EdgefaceError):
        TrackerConfig(max_faces=0)
    with pytest.raises(EdgefaceError):
        TrackerConfig(min_area_ratio=1.5)


def test_protocol_errors():
    tr = FaceTracker()
    with pytest.raises(EdgefaceError):
        tr.predict()
    tr.begin_frame(W, H)
    with pytest.raises(EdgefaceError):
        tr.update(7, fake_landmarks([0, 0, 100, 100]))
    with pytest.raises(EdgefaceError):
        tr.match(np.zeros((2, 4)), np.zeros(3))


# ----------------------------------------------------------------------------- behaviour

def test_detect_interval_and_stable_ids():
    w = World(FaceTracker(TrackerConfig(detect_interval=5)))
    a = moving([100, 100, 200, 220], 2, 1, 23)
    b = moving([400, 150, 480, 250], -1, 0, 23)
    seen = []
    detect_frames = []
    for i in range(23):
        runs = w.detector_runs
        got = w.step([a[i], b[i]])
        seen.append(sorted(got))
        if w.detector_runs > runs:
            detect_frames.append(i)
        if i % 5:
            assert set(got.values()) == {"track"}  # crops from the previous landmarks
    assert detect_frames == [0, 5, 10, 15, 20]
    assert all(s == [0, 1] for s in seen)
    # track 0 is the first (highest-score) detection: face a; ids stay with their faces
    t0 = w.tracker.track(0)
    assert iou(t0.predicted_box(), a[-1]) > 0.9
    assert iou(w.tracker.track(1).predicted_box(), b[-1]) > 0.9


def test_interval_zero_detects_only_when_needed():
    w = World(FaceTracker(TrackerConfig(detect_interval=0)))
    a = moving([100, 100, 200, 220], 3, 0, 40)
    for i in range(40):
        assert list(w.step([a[i]])) == [0]
    assert w.detector_runs == 1


def test_no_face_means_detector_every_frame():
    w = World(FaceTracker(TrackerConfig(detect_interval=10)))
    for _ in range(4):
        assert w.step([]) == {}
    assert w.detector_runs == 4


def test_tracked_box_follows_landmarks():
    tr = FaceTracker()
    tr.begin_frame(W, H)
    det = np.array([100.0, 100.0, 200.0, 220.0])
    (t,) = tr.match(det[None], [0.9])
    assert t.source == "detect" and t.new
    np.testing.assert_allclose(t.roi, roi_mod.roi_from_bbox(det))
    assert tr.update(t.track_id, fake_landmarks(det))
    np.testing.assert_allclose(tr.track(0).bbox, det)
    tr.end_frame()
    assert not tr.begin_frame(W, H)
    (t,) = tr.predict()
    assert t.source == "track" and not t.new
    np.testing.assert_allclose(t.roi, roi_mod.roi_from_landmarks(fake_landmarks(det)[:, :2]))
    moved = det + [30, 10, 30, 10]
    assert tr.update(0, fake_landmarks(moved))
    np.testing.assert_allclose(tr.track(0).bbox, moved, atol=1e-9)


def test_face_leaving_frame_is_dropped_and_new_face_gets_new_id():
    w = World(FaceTracker(TrackerConfig(detect_interval=100)))
    a = moving([400, 100, 500, 220], 40, 0, 10)  # leaves the 640-px frame to the right
    ids = [sorted(w.step([a[i]] if a[i][0] < W - 20 else [])) for i in range(10)]
    assert ids[0] == [0]
    assert ids[-1] == []
    lost_at = ids.index([])
    assert 2 <= lost_at <= 7
    got = w.step([[100, 100, 200, 220]])
    assert list(got) == [1]  # ids are never reused


def test_scale_jump_is_lost_then_revived_with_same_id():
    tr = FaceTracker(TrackerConfig(detect_interval=100))
    tr.begin_frame(W, H)
    det = np.array([100.0, 100.0, 200.0, 220.0])
    (t,) = tr.match(det[None], [0.9])
    tr.update(0, fake_landmarks(det))
    tr.end_frame()
    assert not tr.begin_frame(W, H)
    (t,) = tr.predict()
    # the regressor "collapses": the landmark box shrinks to a quarter of its area
    small = [130, 140, 180, 200]
    assert not tr.update(0, fake_landmarks(small))
    assert "scale jump" in tr.lost_reasons[0]
    assert tr.needs_detection and not tr.is_alive(0)
    (t,) = tr.match((det + 2)[None], [0.95])
    assert t.track_id == 0 and t.source == "detect" and not t.new
    assert tr.update(0, fake_landmarks(det + 2))
    tr.end_frame()
    assert tr.ids == [0]


def test_upstream_min_roi_area_loss():
    tr = FaceTracker(TrackerConfig(detect_interval=100, min_area_ratio=0.01, max_area_ratio=100))
    tr.begin_frame(W, H)
    (t,) = tr.match(np.array([[100.0, 100.0, 140.0, 150.0]]), [0.9])
    tr.update(0, fake_landmarks([100, 100, 140, 150]))
    tr.end_frame()
    tr.begin_frame(W, H)
    tr.predict()
    assert not tr.update(0, fake_landmarks([100, 100, 125, 130]))  # next crop ~ 30 x 30 px < 2020 px^2
    assert "too small" in tr.lost_reasons[0]


def test_detection_crop_at_border_is_kept():
    """A face cut by the image border (a detection crop) is reported, not dropped as 'out of frame'."""
    tr = FaceTracker(TrackerConfig(tracking=False))
    tr.begin_frame(W, H)
    det = np.array([-80.0, 100.0, 40.0, 240.0])
    (t,) = tr.match(det[None], [0.9])
    assert tr.update(t.track_id, fake_landmarks(det))
    tr.end_frame()
    assert tr.ids == [0]


def test_unconfirmed_track_is_dropped_at_redetection():
    w = World(FaceTracker(TrackerConfig(detect_interval=3)))
    face = [100, 100, 200, 220]
    assert list(w.step([face])) == [0]
    w.step([face])
    w.step([face])
    # frame 3 re-detects; the detector misses the face (e.g. a profile view): the track goes
    tr = w.tracker
    assert tr.begin_frame(W, H)
    assert tr.match(np.zeros((0, 4)), np.zeros(0)) == []
    tr.end_frame()
    assert tr.ids == []


def test_max_misses_keeps_track_through_one_miss():
    tr = FaceTracker(TrackerConfig(detect_interval=1, max_misses=1))
    face = np.array([100.0, 100.0, 200.0, 220.0])
    tr.begin_frame(W, H)
    tr.match(face[None], [0.9])
    tr.update(0, fake_landmarks(face))
    tr.end_frame()
    # first miss: kept, and still cropped from its landmarks
    tr.begin_frame(W, H)
    (t,) = tr.match(np.zeros((0, 4)), np.zeros(0))
    assert t.track_id == 0 and t.source == "track"
    assert tr.update(0, fake_landmarks(face + 3))
    tr.end_frame()
    assert tr.ids == [0]
    # second miss in a row: dropped
    tr.begin_frame(W, H)
    assert tr.match(np.zeros((0, 4)), np.zeros(0)) == []
    tr.end_frame()
    assert tr.ids == []


def test_max_faces_keeps_best_scores():
    tr = FaceTracker(TrackerConfig(max_faces=2))
    boxes = np.array([[0, 0, 100, 100], [200, 0, 300, 100], [400, 0, 500, 100]], dtype=float) + 50
    targets = tr.begin_frame(W, H) and tr.match(boxes, [0.6, 0.9, 0.8])
    assert [t.track_id for t in targets] == [0, 1]
    np.testing.assert_allclose(targets[0].bbox, boxes[1])  # best score first
    np.testing.assert_allclose(targets[1].bbox, boxes[2])


def test_no_tracking_detects_every_frame_and_keeps_ids():
    w = World(FaceTracker(TrackerConfig(tracking=False)))
    a = moving([100, 100, 200, 220], 5, 0, 10)
    b = moving([400, 150, 480, 250], -5, 2, 10)
    for i in range(10):
        faces = [b[i], a[i]] if i % 2 else [a[i], b[i]]  # detection order changes
        got = w.step(faces)
        assert sorted(got) == [0, 1] and set(got.values()) == {"detect"}
    assert w.detector_runs == 10
    assert iou(w.tracker.track(0).bbox, a[-1]) > 0.9


def test_duplicate_tracks_merge():
    tr = FaceTracker(TrackerConfig(detect_interval=100))
    tr.begin_frame(W, H)
    boxes = np.array([[100.0, 100.0, 200.0, 220.0], [160.0, 100.0, 260.0, 220.0]])
    tr.match(boxes, [0.9, 0.8])
    tr.update(0, fake_landmarks(boxes[0]))
    tr.update(1, fake_landmarks(boxes[1]))
    tr.end_frame()
    tr.begin_frame(W, H)
    tr.predict()
    # both crops now regress to the same face: the younger track (1) is lost as a duplicate
    assert tr.update(0, fake_landmarks(boxes[0] + 10))
    assert not tr.update(1, fake_landmarks(boxes[0] + 12))
    assert tr.lost_reasons[1] == "duplicate of track 0"



def test_duplicate_found_among_many_faces_placed_in_a_frame():
    # a row of 8 faces apart, then the last one's crop regresses onto the third: only that one is lost
    tr = FaceTracker(TrackerConfig(detect_interval=100))
    boxes = np.array([[10.0 + 75 * i, 100.0, 70.0 + 75 * i, 170.0] for i in range(8)])
    tr.begin_frame(W, H)
    tr.match(boxes, [0.9] * 8)
    for i in range(8):
        assert tr.update(i, fake_landmarks(boxes[i]))
    tr.end_frame()
    tr.begin_frame(W, H)
    tr.predict()
    for i in range(7):
        assert tr.update(i, fake_landmarks(boxes[i] + 1))
    assert not tr.update(7, fake_landmarks(boxes[2] + 2))
    assert tr.lost_reasons == {7: "duplicate of track 2"}
    tr.end_frame()
    assert tr.ids == list(range(7))

def test_retry_from_detection_when_tracked_crop_fails_on_a_detection_frame():
    tr = FaceTracker(TrackerConfig(detect_interval=2))
    face = np.array([100.0, 100.0, 200.0, 220.0])
    tr.begin_frame(W, H)
    tr.match(face[None], [0.9])
    tr.update(0, fake_landmarks(face))
    tr.end_frame()
    tr.begin_frame(W, H)
    tr.predict()
    tr.update(0, fake_landmarks(face))
    tr.end_frame()
    assert tr.begin_frame(W, H)  # interval 2: detection due
    (t,) = tr.match(face[None] + 1, [0.9])
    assert t.source == "track"  # boxes agree: keep the landmark crop
    assert not tr.update(0, fake_landmarks([140, 150, 160, 170]))  # ...but it fails
    assert not tr.needs_detection  # the detector already ran
    (r,) = tr.retry()
    assert r.track_id == 0 and r.source == "detect"
    np.testing.assert_allclose(r.roi, roi_mod.roi_from_bbox(face + 1))
    assert tr.update(0, fake_landmarks(face + 1))
    assert tr.retry() == []
    tr.end_frame()
    assert tr.ids == [0]


def test_reseed_when_detection_disagrees():
    tr = FaceTracker(TrackerConfig(detect_interval=1))
    face = np.array([100.0, 100.0, 200.0, 220.0])
    tr.begin_frame(W, H)
    tr.match(face[None], [0.9])
    tr.update(0, fake_landmarks(face))
    tr.end_frame()
    tr.begin_frame(W, H)
    shifted = face + [40, 0, 40, 0]  # IoU ~ 0.43: same face (>= 0.3) but the crop is re-seeded (< 0.5)
    (t,) = tr.match(shifted[None], [0.9])
    assert t.track_id == 0 and t.source == "detect"
    np.testing.assert_allclose(t.roi, roi_mod.roi_from_bbox(shifted))


def test_reset_restarts_ids():
    tr = FaceTracker()
    tr.begin_frame(W, H)
    tr.match(np.array([[100.0, 100.0, 200.0, 220.0]]), [0.9])
    tr.update(0, fake_landmarks([100, 100, 200, 220]))
    tr.end_frame()
    tr.reset()
    assert tr.ids == [] and tr.begin_frame(W, H)
    (t,) = tr.match(np.array([[300.0, 100.0, 400.0, 220.0]]), [0.9])
    assert t.track_id == 0


def test_out_of_frame_loss():
    tr = FaceTracker(TrackerConfig(detect_interval=100))
    face = np.array([500.0, 100.0, 620.0, 240.0])
    tr.begin_frame(W, H)
    tr.match(face[None], [0.9])
    tr.update(0, fake_landmarks(face))
    tr.end_frame()
    tr.begin_frame(W, H)
    tr.predict()
    assert tr.update(0, fake_landmarks(face + [60, 0, 60, 0]))  # about half of the next crop still visible
    tr.end_frame()
    tr.begin_frame(W, H)
    tr.predict()
    assert not tr.update(0, fake_landmarks(face + [140, 0, 140, 0]))  # the landmarks extrapolate past the border
    assert tr.lost_reasons[0].startswith("out of frame")


def test_hold_roi_keeps_the_crop_inside_the_deadband():
    prev = np.array([100.0, 100.0, 300.0, 300.0])
    assert roi_mod.hold_roi(prev, prev + 3.9, 0.02) is prev  # every edge within 2% of the 200 px side
    moved = prev + [4.5, 0, 4.5, 0]
    assert roi_mod.hold_roi(prev, moved, 0.02) is moved
    assert roi_mod.hold_roi(prev, prev + 1.0, 0.0) is not prev  # 0: a new crop every frame (upstream)
    assert roi_mod.hold_roi(None, prev, 0.02) is prev


def test_roi_deadband_holds_a_still_face_and_follows_a_moving_one():
    det = np.array([100.0, 100.0, 200.0, 220.0])
    for deadband, still_moves in ((0.0, True), (0.02, False)):
        tr = FaceTracker(TrackerConfig(detect_interval=0, roi_deadband=deadband))
        tr.begin_frame(W, H)
        (t,) = tr.match(det[None], [0.9])
        assert tr.update(t.track_id, fake_landmarks(det))
        tr.end_frame()
        rois = []
        for k in range(6):  # landmark noise of 0.5 px: the held crop does not follow it
            tr.begin_frame(W, H)
            (t,) = tr.predict()
            rois.append(t.roi)
            assert tr.update(0, fake_landmarks(det + 0.5 * (-1) ** k))
            tr.end_frame()
        assert (not np.array_equal(rois[1], rois[2])) == still_moves
        tr.begin_frame(W, H)
        tr.predict()
        assert tr.update(0, fake_landmarks(det + [20, 0, 20, 0]))  # 20 px: beyond 2% of a ~170 px crop
        tr.end_frame()
        tr.begin_frame(W, H)
        (t,) = tr.predict()
        np.testing.assert_allclose(t.roi, roi_mod.roi_from_landmarks(fake_landmarks(det + [20, 0, 20, 0])[:, :2]))
    with pytest.raises(EdgefaceError):
        TrackerConfig(roi_deadband=0.5)
