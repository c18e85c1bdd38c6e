"""The tracker's uses of the motion model (`runtime.motion`) on its tracks, kept out of the state machine.

With `TrackerConfig.motion` on, `runtime.tracker.FaceTracker` asks these functions for:
  - `crop(track, frame)`: the crop to regress in `frame` (the previous landmarks' crop moved by the
    predicted motion; upstream's crop when the track has no motion yet);
  - `face_box(track, frame)`: the face box where the track should be in `frame` (matching with a
    detection of that frame; an asynchronous scan of an earlier frame is matched with the box the
    track had in that frame);
  - `observe(track, frame)`: record the landmark box just regressed, and how far it landed from the
    prediction (`Track.innovation`, in face sides: a track that jumped onto another face lands far);
  - `Limbo`: tracks lost recently, kept for `reacquire_frames` so that a detection near where one
    should be now (position, size, time since the loss) revives it with its old id.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from edgeface.runtime.boxes import box_from_relative
from edgeface.runtime.motion import BoxMotion, MotionConfig, apply_similarity, box_state, fit_similarity, move_box
from edgeface.runtime.roi import roi_from_bbox
from edgeface.runtime.tracks import Target, Track


#: a track whose landmarks land this many face sides off its prediction jumped (onto a face crossing it)
JUMP = 0.3


def crop(t: Track, frame: int) -> np.ndarray:
    """The crop of track `t` for `frame` (its landmark crop, moved by its motion; not moved after a fall-back)."""
    if t.motion is None or t.fell_back:
        return t.next_roi
    return t.motion.predict_roi(t.next_roi, frame)


def face_box(t: Track, frame: int) -> np.ndarray:
    """The face box of `t` in `frame`: observed there (history), or predicted from its last landmarks."""
    m = t.motion
    if m is None or t.landmarks is None:
        return t.predicted_box()
    if m.frame is not None and frame <= m.frame:
        past = m.box_at(frame)
        if past is None or t.box_rel is None:
            return t.predicted_box()
        return box_from_relative(t.box_rel, past)
    return m.predict_box(t.predicted_box(), frame)


def size_jump(t: Track, box: np.ndarray, config: MotionConfig) -> bool:
    """Landmark box `box` (regressed from `t`'s moved crop) passed the loss checks, but its side changed by more
    than `config.size_jump` since `t`'s last observation: from a crop moved the wrong way (the frame after a
    reversal: two steps off) the regressor may close onto the part of the face inside the crop. `fall_back`
    then tries upstream's crop. Only for a track observed 3 times or more (a face no longer settling in from
    its detection crop)."""
    if box is None or t.motion is None or t.motion.observations < 3:
        return False
    return t.motion.size_change(box) > math.log(float(config.size_jump))


def fall_back(t: Track) -> bool:
    """The landmarks from `t`'s predicted crop failed the loss checks (or `size_jump`): True (once per frame)
    when the crop had been moved by the prediction, so that the crop without prediction (upstream's) is tried
    before `t` is lost (the first frame after a reversal: the prediction is 2 steps off, no prediction 1)."""
    if t.source != "track" or t.fell_back or t.motion is None or t.next_roi is None:
        return False
    dx, dy, ds = t.motion.shift(t.motion.frame + 1)
    if dx == 0.0 and dy == 0.0 and ds == 0.0:
        return False
    t.fell_back = True
    return True


def miss_limit(max_misses: int, interval: int, scan_interval: int) -> int:
    """Scans a track may go unconfirmed when scans come every `scan_interval` frames instead of `interval`."""
    if interval <= 0 or scan_interval <= 0 or scan_interval >= interval:
        return int(max_misses)
    return int(max_misses) * -(-int(interval) // int(scan_interval))


def scan_interval(tracks, base: int, config: MotionConfig, expecting: bool = False) -> int:
    """Frames between scans for new faces: `base`, or fewer while the fastest tracked face moves more than
    `config.scan_lead` of its side within `base` frames (a moving camera brings new faces in as fast),
    and at most 2 while a lost face is `expecting` in the picture (`Limbo.expecting`)."""
    if base <= 0:
        return base
    if expecting:
        base = min(base, 2)
    fastest = max((t.motion.speed() for t in tracks if t.motion is not None), default=0.0)
    if fastest * base <= config.scan_lead:
        return base
    return max(int(config.min_scan_interval), min(base, int(config.scan_lead / fastest)))


def compensate(boxes: np.ndarray, tracks, at: int, now: int) -> np.ndarray:
    """Boxes detected in frame `at` moved as the tracked faces moved from `at` to their last frame before
    `now` (the camera's pan and zoom, `motion.fit_similarity`): where faces not tracked yet should be now."""
    if boxes.shape[0] == 0 or at >= now - 1:
        return boxes
    pairs = [(t.motion.box_at(at), t.motion.box_at(now - 1)) for t in tracks if t.motion is not None]
    pairs = [(b, a) for b, a in pairs if b is not None and a is not None]
    if not pairs:
        return boxes
    sim = fit_similarity([b for b, _ in pairs], [a for _, a in pairs])
    return np.array([apply_similarity(b, sim) for b in boxes])


def landmark_boxes(tracks, frame: int, default: np.ndarray) -> np.ndarray:
    """(N, 4) landmark boxes of `tracks` in `frame` (observed, or predicted for the frame after the last);
    `default[i]` where a track has none."""
    out = np.array(default, dtype=np.float64).reshape(-1, 4)
    for i, t in enumerate(tracks):
        m = t.motion
        if m is None or t.lm_box is None or m.frame is None:
            continue
        if frame <= m.frame:
            past = m.box_at(frame)
            if past is not None:
                out[i] = past
        else:
            out[i] = m.predict_box(t.lm_box, frame)
    return out


def tracked_already(det_box: np.ndarray, tracks) -> bool:
    """A detection centred on a tracked face's landmarks (within half their side, a similar size): not a new
    face, even when the track's face box (from an early, stale detection) does not overlap it enough."""
    z = box_state(det_box)
    for t in tracks:
        if t.landmarks is None or t.lm_box is None:
            continue
        p = box_state(t.lm_box)
        if math.hypot(z[0] - p[0], z[1] - p[1]) < 0.5 * math.exp(float(p[2])) and abs(z[2] - p[2]) < math.log(2.0):
            return True
    return False


def observe(t: Track, frame: int, config: MotionConfig) -> None:
    """Record the landmark box of `t` regressed in `frame` (after `Track.set_landmarks`)."""
    if t.motion is None:
        t.motion = BoxMotion(config)
    xy = t.lm_xy
    t.innovation = t.motion.innovation(xy, frame)
    t.motion.observe(t.lm_box, frame, xy)


def revive(t: Track, det_box: np.ndarray, score: float, tracks: dict, lost: dict, reasons: dict) -> Target:
    """Track `t` (taken from the limbo) tracked again from a detection, with its id: its target."""
    lost.pop(t.id, None)
    reasons.pop(t.id, None)
    t.set_landmarks(None)
    t.bbox, t.anchor, t.score, t.misses, t.source = det_box.copy(), det_box.copy(), score, 0, "detect"
    tracks[t.id] = t
    return Target(t.id, roi_from_bbox(det_box), det_box.copy(), score, "detect", False)


def evict(o: Track, t: Track, box: np.ndarray, frame: int, tracks: dict, lost: dict, reasons: dict) -> bool:
    """On a duplicate, `o` (updated this frame) is lost instead of `t` when `evicts` says so (then True)."""
    if not evicts(o, t, box, frame):
        return False
    del tracks[o.id]
    o.updated, lost[o.id] = False, o  # its landmarks of this frame are not its own
    reasons[o.id] = f"duplicate of track {t.id} (left its predicted path)"
    return True


def evicts(o: Track, t: Track, box: np.ndarray, frame: int) -> bool:
    """Tracks `o` (updated this frame) and `t` (landmark box `box`) landed on one face (a crossing): True
    when `o` is the one that left its predicted path (it jumped onto `t`'s face) and `t` did not; then
    `o`'s last observation is forgotten (the limbo keeps where it was going)."""
    if t.motion is None or o.motion is None:
        return False
    if not (o.innovation > 0.25 and t.motion.innovation(box, frame) < 0.5 * o.innovation):
        return False
    o.motion.rollback()
    return True


class Limbo:
    """Tracks lost recently, for re-acquisition by a detection. Each keeps two guesses of where it is:
    its own motion extrapolated, and its last face box carried along with the camera (the pan and zoom
    fitted, frame by frame, on the faces still tracked: `motion.fit_similarity`), which follows a face
    that left the picture through a reversal, a shake or a zoom."""

    def __init__(self, config: MotionConfig):
        self.config = config
        self.tracks: dict[int, list] = {}  # id -> [track, face box at its last observation, box moved with the camera]
        self._sims: dict[int, tuple] = {}  # frame -> the camera's move into it (recent frames)

    def add(self, t: Track, now: Optional[int] = None, tracks=()) -> None:
        """Keep lost track `t`; its camera guess starts from its last whole view (`BoxMotion.steady_box`),
        carried by the camera's moves up to frame `now` (fitted on `tracks` where not known yet)."""
        if t.motion is None or t.motion.state is None or self.config.reacquire_frames <= 0:
            return
        if t.innovation > JUMP:  # its last landmarks jumped off its path (onto a face crossing it): not its own
            t.motion.rollback()
            t.innovation = 0.0
        last = t.motion.box_at(t.motion.frame)
        box = box_from_relative(t.box_rel, last) if t.box_rel is not None and last is not None else t.bbox
        box = np.array(box, dtype=np.float64)
        cam = box.copy()
        if now is not None and t.box_rel is not None:
            ref, lm = t.motion.steady_box()
            cam = box_from_relative(t.box_rel, lm)
            for f in range(ref + 1, now + 1):
                if f not in self._sims:
                    self._sims[f] = self._camera(tracks, f)
                if self._sims[f] is not None:
                    cam = apply_similarity(cam, self._sims[f])
        self.tracks[t.id] = [t, box, cam]

    @staticmethod
    def _camera(tracks, frame: int) -> Optional[tuple]:
        """The camera's pan and zoom from `frame - 1` to `frame`, fitted on the tracks observed in both."""
        pairs = [(t.motion.box_at(frame - 1), t.motion.box_at(frame)) for t in tracks if t.motion is not None]
        pairs = [(b, a) for b, a in pairs if b is not None and a is not None]
        return fit_similarity([b for b, _ in pairs], [a for _, a in pairs]) if pairs else None

    def end_frame(self, lost, tracks, frame: int) -> None:
        """Close `frame`: move the lost tracks' boxes with the camera (fitted on `tracks`), add `lost`, and
        forget lost tracks whose face is tracked again under a newer id."""
        tracks = list(tracks)
        for f in [f for f in self._sims if f <= frame - self.config.history]:
            del self._sims[f]
        if self.tracks:  # the fit costs ~0.1 ms: only while a lost face is to be carried
            sim = self._sims[frame] = self._camera(tracks, frame)
            for entry in self.tracks.values():
                if sim is not None:
                    entry[2] = apply_similarity(entry[2], sim)
                else:  # nothing tracked to follow: its own motion
                    dx, dy, ds = entry[0].motion.shift(entry[0].motion.frame + 1)
                    entry[2] = move_box(entry[2], dx, dy, ds)
        for t in lost:
            self.add(t, frame, tracks)
        for tid in [i for i, (t, box, cam) in self.tracks.items() if self._superseded(t, box, cam, tracks, frame)]:
            del self.tracks[tid]

    @staticmethod
    def _superseded(t: Track, box: np.ndarray, cam: np.ndarray, tracks, frame: int) -> bool:
        """A newer track follows this lost face: where both guesses (its own motion, the camera's) put it."""
        newer = [o for o in tracks if o.id > t.id and o.updated]
        if not newer:
            return False
        dx, dy, ds = t.motion.shift(frame)
        return tracked_already(cam, newer) and tracked_already(move_box(box, dx, dy, ds), newer)

    def expecting(self, frame: int, size) -> bool:
        """A lost face should be in the picture now (its box carried by the camera well inside `size`):
        behind another face, or missed by the detector. Scans then come every other frame at least."""
        if not self.tracks or size is None:
            return False
        w, h = size
        for t, box, cam in self.tracks.values():
            if frame - t.motion.frame > self.config.reacquire_frames:
                continue
            x1, y1, x2, y2 = cam.tolist()
            if x1 >= 0 and y1 >= 0 and x2 <= w and y2 <= h:
                return True
        return False

    def expire(self, frame: int) -> None:
        limit = self.config.reacquire_frames
        for tid in [i for i, e in self.tracks.items() if frame - e[0].motion.frame > limit]:
            del self.tracks[tid]

    def clear(self) -> None:
        self.tracks.clear()

    def __len__(self) -> int:
        return len(self.tracks)

    def _camera_score(self, det_box: np.ndarray, box: np.ndarray, lost_for: int) -> Optional[float]:
        cfg = self.config
        p, z = box_state(box), box_state(det_box)
        dist = math.hypot(z[0] - p[0], z[1] - p[1]) / math.exp(float(p[2]))
        if dist > cfg.reacquire_distance + cfg.reacquire_growth * max(0, lost_for - 1):
            return None
        return dist if abs(z[2] - p[2]) <= math.log(cfg.reacquire_size) else None

    def take(self, det_box: np.ndarray, frame: int, also=(), live=()) -> Optional[Track]:
        """The lost track (in the limbo, or among `also`: lost this frame) nearest to where it should be in
        `frame` whose gate `det_box` falls within (removed from the limbo), or None. Ids in `live`
        (revived meanwhile) are skipped."""
        self.expire(frame)
        fresh = [t for t in also if t.id not in self.tracks]
        if fresh:  # lost in this frame: carried by the camera's move into this frame (tracks updated so far)
            sim = self._camera([t for t in live.values() if t.updated], frame) if isinstance(live, dict) else None
            for t in fresh:
                self.add(t, frame - 1, list(live.values()) if isinstance(live, dict) else ())
                if sim is not None:
                    self.tracks[t.id][2] = apply_similarity(self.tracks[t.id][2], sim)
        best, best_d = None, math.inf
        for tid, (t, box, cam) in self.tracks.items():
            if tid in live:
                continue
            own = t.motion.reacquire_score(det_box, box, frame)
            by_cam = self._camera_score(det_box, cam, frame - t.motion.frame)
            d = min((v for v in (own, by_cam) if v is not None), default=None)
            if d is not None and d < best_d:
                best, best_d = tid, d
        if best is None:
            return None
        return self.tracks.pop(best)[0]


__all__ = ("crop", "size_jump", "fall_back", "miss_limit", "face_box", "scan_interval", "compensate", "landmark_boxes", "tracked_already", "observe", "revive", "evict", "evicts", "Limbo")
