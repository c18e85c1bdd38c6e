"""The tracker's landmark sanity checks: is a track lost after this frame?

`runtime.tracker.FaceTracker.update` asks `loss_reason` about the landmarks of every crop it regressed. From a
tracked crop a track is lost on:
  - non-finite landmarks;
  - scale jump: the area of the landmarks' bounding box changed by more than x2 (ratio outside
    [min_area_ratio, max_area_ratio]) since the previous frame: the regressor locked onto
    something else or collapsed;
  - the next crop (the ROI built from these landmarks) is smaller than `min_roi_area` px^2 (the
    test of upstream demo_video, 2020 px^2 ~ 45 x 45) or mostly outside the frame
    (visible fraction < `min_visible`): the face is leaving the picture;
  - duplicate: its landmark box overlaps that of an older track (IoU > `duplicate_iou`): two
    tracks converged onto one face; the younger one goes.
Landmarks from a detection crop (fresh evidence; a face at the border of a still image must not be dropped) are
only required to be finite (with the motion model: and not to land on another tracked face, a crossing).

`evict(o, t, box)` (the motion model, `runtime.track_motion.evicts`) may decide that on a duplicate the
other track `o` is the one that left its path: it is then lost instead (the tracker's callback) and `t` kept.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from edgeface.runtime import roi as roi_mod
from edgeface.runtime.boxes import iou
from edgeface.runtime.tracks import Track, TrackerConfig


def loss_reason(config: TrackerConfig, frame_size, tracks: dict, t: Track, pts: np.ndarray, evict=None,
                extremes: Optional[tuple] = None, placed: Optional[dict] = None) -> tuple:
    """(why the track is lost or None, landmark box, next crop) of landmarks `pts` (N, 2) (`extremes`: their
    (min x, min y, max x, max y), computed here when not given). Box geometry on the four extremes as Python
    floats (this runs for every face of every frame). `placed`: the landmark boxes (4 floats) of the tracks
    updated this frame by id, when the caller keeps them: the duplicate check then scans those boxes alone
    and walks the tracks only when one overlaps (one pass over the faces placed so far, not over every track)."""
    cfg = config
    if extremes is None:
        (x1, y1), (x2, y2) = np.minimum.reduce(pts, axis=0).tolist(), np.maximum.reduce(pts, axis=0).tolist()
    else:
        x1, y1, x2, y2 = extremes
    if not (math.isfinite(x1) and math.isfinite(y1) and math.isfinite(x2) and math.isfinite(y2)):
        return "non-finite landmarks", None, None  # a NaN or inf anywhere reaches the extremes
    if t.source != "track":
        if evict is None or t.motion is None:
            return None, None, None
        # motion: a known face re-seeded from a detection (a crossing) must not land on another tracked face
        box = np.array([x1, y1, x2, y2])
        return _duplicate(tracks, t, box, cfg, evict, near=0.4, placed=placed), box, None
    box = np.array([x1, y1, x2, y2])
    area = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    if t.landmarks is not None:
        p1, q1, p2, q2 = t.lm_xy  # box_area(t.lm_box) on its floats
        prev = max(0.0, p2 - p1) * max(0.0, q2 - q1)
        ratio = area / prev if prev > 0 else math.inf
        if not (cfg.min_area_ratio <= ratio <= cfg.max_area_ratio):
            return f"scale jump (landmark box area x{ratio:.2f})", box, None
    n0, n1, n2, n3 = roi_mod.landmark_box_roi(x1, y1, x2, y2)
    nxt = np.array([n0, n1, n2, n3])
    side = n2 - n0
    if side * (n3 - n1) < cfg.min_roi_area:
        return f"crop too small ({side * (n3 - n1):.0f} px^2)", box, nxt
    if frame_size is not None:
        w, h = frame_size
        inside = max(0.0, min(n2, w) - max(n0, 0.0)) * max(0.0, min(n3, h) - max(n1, 0.0))
        vis = inside / (side * (n3 - n1))
        if vis < cfg.min_visible:
            return f"out of frame ({vis:.0%} visible)", box, nxt
    return _duplicate(tracks, t, box, cfg, evict, placed=placed), box, nxt


def _duplicate(tracks: dict, t: Track, box: np.ndarray, cfg: TrackerConfig, evict, near: float = 0.25,
               placed: Optional[dict] = None) -> Optional[str]:
    """Why `t` (landmark box `box`) is a duplicate of a track updated this frame, or None. With motion
    (`evict`), also when the two boxes are centred within `near` of a side (looser for a known face
    re-seeded from a detection: two faces crossing give one detection, on the face in front)."""
    x1, y1, x2, y2 = box.tolist()
    if placed is not None and not _overlaps_placed(placed, t.id, x1, y1, x2, y2):
        return None  # no box placed this frame overlaps this one (the common case): nothing below can fire
    for o in tracks.values():
        if o.id != t.id and o.updated and o.landmarks is not None:
            a0, a1, a2, a3 = o.lm_xy
            if a0 >= x2 or a2 <= x1 or a1 >= y2 or a3 <= y1:
                continue  # apart: neither overlapping nor in the same place (the common case, checked on floats)
            a = o.lm_box
            if iou(a, box) > cfg.duplicate_iou or (evict is not None and _same_place(a, box, near)):
                if evict is not None and evict(o, t, box):
                    break  # the other track left its path onto this face: it goes, this one stays
                return f"duplicate of track {o.id}"
    return None


def _overlaps_placed(placed: dict, tid: int, x1: float, y1: float, x2: float, y2: float) -> bool:
    """Whether a landmark box of `placed` (id -> (x1, y1, x2, y2)) other than track `tid`'s overlaps (x1, y1, x2, y2)."""
    for oid, (a0, a1, a2, a3) in placed.items():
        if not (a0 >= x2 or a2 <= x1 or a1 >= y2 or a3 <= y1) and oid != tid:
            return True
    return False


def _same_place(a: np.ndarray, b: np.ndarray, near: float) -> bool:
    """Two landmark boxes centred within `near` x a side of each other, sizes within x1.5 (motion on)."""
    sa = math.sqrt(max(a[2] - a[0], 1e-6) * max(a[3] - a[1], 1e-6))
    sb = math.sqrt(max(b[2] - b[0], 1e-6) * max(b[3] - b[1], 1e-6))
    d = math.hypot((a[0] + a[2] - b[0] - b[2]) / 2, (a[1] + a[3] - b[1] - b[3]) / 2)
    return d < near * max(sa, sb) and max(sa, sb) < 1.5 * min(sa, sb)


__all__ = ("loss_reason",)
