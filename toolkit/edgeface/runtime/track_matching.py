"""The tracker's detection step: a frame's detections matched to its tracks (`FaceTracker.match`).

Split out of the state machine (`runtime.tracker`) as its own job; it works on that tracker's state (its tracks,
the tracks lost this frame, the motion limbo, the scan clock) through `match(tracker, ...)`, the only caller being
`FaceTracker.match`, whose docstring says what it does. Detections are matched greedily by IoU (highest first)
with the box each candidate track predicts for the frame the detections were taken on (with motion, its
landmarks' box counts too); matched tracks keep their id (and their landmark crop when the boxes agree, else
a crop from the detection), unmatched detections start new tracks (or revive a track lost near there, motion),
unconfirmed tracks count a miss.
"""

from __future__ import annotations

import numpy as np

from edgeface.errors import EdgefaceError
from edgeface.runtime import roi as roi_mod
from edgeface.runtime import track_motion
from edgeface.runtime.boxes import box_relative, greedy_match, iou, iou_matrix
from edgeface.runtime.tracks import Target, Track


def match(tracker, boxes, scores, stale: bool = False, frames_ago: int = 0) -> list[Target]:
    """`FaceTracker.match` on `tracker`, a `runtime.tracker.FaceTracker` (see there; not imported here: it imports this)."""
    tracker._require_frame()
    tracker._interval = None
    cfg = tracker.config
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) if np.size(boxes) else np.zeros((0, 4))
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if s.shape[0] != b.shape[0]:
        raise EdgefaceError(f"got {b.shape[0]} boxes but {s.shape[0]} scores")
    finite = np.all(np.isfinite(b), axis=1)
    b, s = b[finite], s[finite]
    order = np.argsort(-s, kind="stable")
    b, s = b[order], s[order]
    tracker._detected = not stale
    tracker._since_detect = int(frames_ago) if stale else 0  # the scan's own frame sets the next one's time

    # candidates: live tracks and the ones lost earlier in this frame (oldest first)
    cands = sorted(list(tracker.tracks.values()) + list(tracker._lost.values()), key=lambda t: t.id)
    at = tracker.frame_index - (int(frames_ago) if stale else 0)  # the frame the detections were taken on
    pred = np.array([tracker._box_at(t, at) for t in cands]).reshape(-1, 4)
    ious = iou_matrix(pred, b)
    if tracker._limbo is not None:  # motion: a face box from a stale anchor may drift; its landmarks' box counts too
        ious = np.maximum(ious, iou_matrix(track_motion.landmark_boxes(cands, at, pred), b))
    pairs = greedy_match(ious, cfg.match_iou)
    matched_t = {r: c for r, c in pairs}
    targets: list[Target] = []
    for r, t in enumerate(cands):
        revived = t.id in tracker._lost
        if r not in matched_t:
            if revived:
                continue  # lost and not re-detected: gone
            t.misses += 1
            if t.misses > tracker._miss_limit() or t.landmarks is None:
                del tracker.tracks[t.id]
                if tracker._limbo is not None:  # motion: may come back with its id
                    tracker._limbo.add(t)
            elif cfg.tracking and not t.updated:  # kept through a miss: crop from its landmarks
                t.source = "track"
                targets.append(tracker._tracked_target(t))
            continue
        c = matched_t[r]
        if stale and not revived and t.landmarks is not None:  # confirmed by an earlier frame's scan
            t.score, t.misses = float(s[c]), 0
            if cfg.tracking and not t.updated:
                t.source = "track"
                targets.append(tracker._tracked_target(t))
            continue
        overlap = float(iou(pred[r], b[c]))
        t.score = float(s[c])
        t.misses = 0
        if revived:
            tracker._lost.pop(t.id)
            tracker.lost_reasons.pop(t.id, None)
            tracker.tracks[t.id] = t
            t.set_landmarks(None)  # its last landmarks failed: start over from the detection
        det_box = b[c].copy()
        if t.updated:  # already regressed this frame: just re-anchor its box
            t.box_rel = box_relative(det_box, t.lm_box)
            t.bbox = det_box
            continue
        t.bbox = det_box
        t.anchor = det_box
        if cfg.tracking and t.landmarks is not None and overlap >= cfg.reseed_iou:
            t.source = "track"
            targets.append(Target(t.id, tracker._crop(t), det_box, t.score, "track", False))
        else:
            t.source = "detect"
            targets.append(Target(t.id, roi_mod.roi_from_bbox(det_box), det_box, t.score, "detect", False))

    taken = set(matched_t.values())
    if tracker._limbo is not None and stale and len(taken) < b.shape[0]:  # a scan of an earlier frame: its new faces have moved since, as the tracked ones
        b, at = track_motion.compensate(b, tracker.tracks.values(), at, tracker.frame_index), tracker.frame_index
    room = None if cfg.max_faces is None else int(cfg.max_faces) - len(tracker.tracks)
    # the boxes of the faces tracked (with landmarks): tracks added or revived below have none, so it holds for the loop
    live = np.array([tracker._box_at(t, at) for t in tracker.tracks.values() if t.landmarks is not None]).reshape(-1, 4)
    for c in range(b.shape[0]):
        if c in taken:
            continue
        if room is not None and room <= 0:
            break
        # a detection on a face already tracked (but missed by the matching) is not a new face
        if live.shape[0] and float(iou_matrix(b[c:c + 1], live).max()) > cfg.duplicate_iou:
            continue
        if tracker._limbo is not None and track_motion.tracked_already(b[c], tracker.tracks.values()):
            continue
        back = tracker._reacquire(b[c], float(s[c]), at)  # a face lost recently, back near its prediction
        if back is not None:
            targets.append(back)
            room = None if room is None else room - 1
            continue
        t = Track(id=tracker._next_id, bbox=b[c].copy(), score=float(s[c]), anchor=b[c].copy())
        tracker._next_id += 1
        tracker.tracks[t.id] = t
        targets.append(Target(t.id, roi_mod.roi_from_bbox(t.bbox), t.bbox.copy(), t.score, "detect", True))
        if room is not None:
            room -= 1
    return targets


__all__ = ("match",)
