"""Face tracking between detector runs: a pure state machine (no model calls, pure numpy).

As 3DDFA_V2's demo_video, a tracked face is re-cropped in each frame from the 68 landmarks of the
previous frame (`roi.roi_from_landmarks`), so the detector is needed only now and then. The
pipeline asks the tracker, frame by frame, which crops to regress and whether to run the detector:

    need_detect = tracker.begin_frame(width, height)
    targets = tracker.match(*detect(frame)) if need_detect else tracker.predict()
    while targets:                                      # ordered oldest track first
        for t in targets:
            landmarks = ...regress the crop t.roi...
            tracker.update(t.track_id, landmarks)       # False: the track is lost (see below)
        if tracker.needs_detection:                     # lost on a frame without detection:
            targets = tracker.match(*detect(frame))     # re-detect in the same frame
        else:
            targets = tracker.retry()                   # lost although detected: crop from the box
    tracker.end_frame()
    faces = [f for f in faces if tracker.is_alive(f.id)]

The loop ends after at most three passes (the detector runs at most once per frame, each track
is retried at most once).

When the detector runs: every `detect_interval` frames, when no face is tracked, and (in the same
frame) when a track is lost. Detections are matched to tracks (`runtime.track_matching`) greedily by IoU (highest first) with
the boxes the tracks predict from their landmarks; a matched track keeps its id (and its landmark
crop when the two boxes agree, IoU >= `reseed_iou`; otherwise its crop is re-seeded from the
detection); unmatched detections start new tracks (ids never reused, best score first, at most
`max_faces` tracks); a track the detector does not confirm is dropped (after `max_misses` misses).

Between detections a tracked face's next crop is held while it would move by less than
`roi_deadband` of its side (`roi.hold_roi`): a still face keeps one crop instead of one that
follows the noise of its own landmarks (0, upstream demo_video: a new crop every frame).

A track is lost when the landmarks regressed from its tracked crop fail the cheap sanity checks of
`runtime.loss_check` (non-finite, a scale jump, a next crop too small or mostly outside the frame, a
duplicate of an older track); landmarks from a detection crop are only required to be finite.

With `TrackerConfig.motion` (`runtime.motion`, `runtime.track_motion`) each crop is moved by its track's
predicted motion (upstream's crop is retried once when it fails, or when its landmarks change size by more than
`MotionConfig.size_jump` in one frame: the first landmarks stay unless upstream's crop does better), scans come
faster while faces move fast (a frame that merges an asynchronous scan starts the next one when it is due),
scans of earlier frames are matched with where each face was then, and a lost face (kept in a limbo, carried
with the camera's fitted pan/zoom) is revived with its old id by a detection near where it should be.

With `tracking=False` the detector runs on every frame and every crop comes from a detection box
(upstream demo.py per frame); ids are still carried over by IoU with the previous frame.

Boxes are `(x1, y1, x2, y2)` in frame pixels; detector boxes are used unclipped (upstream crops
from unclipped boxes). The face box a track reports between detections is the last detection box
expressed relative to the landmarks' bounding box and moved with it (box geometry: `runtime.boxes`).
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from edgeface.errors import EdgefaceError
from edgeface.runtime import roi as roi_mod
from edgeface.runtime import loss_check, track_matching, track_motion
from edgeface.runtime.boxes import box_relative
from edgeface.runtime.tracks import Target, Track, TrackerConfig


# ----------------------------------------------------------------------------- the tracker

class FaceTracker:
    """Which crops to regress in each frame, and when to run the detector (see module docstring)."""

    def __init__(self, config: Optional[TrackerConfig] = None):
        self.config = config or TrackerConfig()
        self.reset()

    def reset(self) -> None:
        """Forget every track (a new sequence). Ids restart at 0."""
        self.tracks: dict[int, Track] = {}
        self._lost: dict[int, Track] = {}  # tracks lost this frame (may be revived by a detection)
        self._retry: dict[int, Track] = {}  # tracks lost this frame although a detection confirmed them
        self._placed: dict[int, tuple] = {}  # landmark boxes (4 floats) of the tracks updated this frame (loss_check)
        self.lost_reasons: dict[int, str] = {}  # why each track lost this frame was lost
        self._next_id = 0
        self._since_detect: Optional[int] = None  # frames since the detector last ran
        self._detected = False  # the detector ran this frame
        self._in_frame = False
        self.frame_size: Optional[tuple[int, int]] = None
        self.frame_index = -1
        # motion (TrackerConfig.motion): tracks lost recently, revived by a detection near their prediction
        self._limbo = track_motion.Limbo(self.config.motion) if self.config.motion_on else None
        self._interval: Optional[int] = None  # scan_interval of the current state (motion)
        self._fallback: list = []
        self._jumped: dict = {}

    # ------------------------------------------------------------------ frame protocol

    def begin_frame(self, width: int, height: int) -> bool:
        """Start a frame of `width` x `height`; True when the detector must run on it."""
        if int(width) <= 0 or int(height) <= 0:
            raise EdgefaceError(f"frame size must be positive, got {width}x{height}")
        if self._in_frame:
            self.end_frame()
        self.frame_size = (int(width), int(height))
        self.frame_index += 1
        self._interval = None
        self._in_frame = True
        self._detected = False
        self._lost.clear()
        self._retry.clear()
        self._placed.clear()
        self.lost_reasons = {}
        self._fallback: list = []  # motion: tracks whose predicted crop failed, retried from upstream's crop
        self._jumped: dict = {}  # motion: id -> (landmarks, box, next crop) of a predicted crop whose size jumped
        for t in self.tracks.values():
            t.updated = t.fell_back = False
        return self.detection_due

    @property
    def detection_due(self) -> bool:
        """The detector should run now (before any crop of this frame is regressed)."""
        cfg = self.config
        if self._detected:
            return False
        if self.detection_required:
            return True
        return cfg.detect_interval > 0 and self._since_detect >= self.scan_interval

    @property
    def scan_interval(self) -> int:
        """Frames between periodic scans: `detect_interval`, shorter while tracked faces move fast (motion)."""
        base = int(self.config.detect_interval)
        if self._limbo is None:
            return base
        if self._interval is None:  # computed once per state: reset by every change of the tracks (_changed)
            self._interval = track_motion.scan_interval(
                self.tracks.values(), base, self.config.motion, self._limbo.expecting(self.frame_index, self.frame_size))
        return self._interval

    @property
    def rescan_due(self) -> bool:
        """Motion only: the scan of an earlier frame just merged (`match(..., stale=True)`) leaves the next
        periodic scan due on this very frame (scans every frame while the view moves fast): start it now
        rather than on the next frame, or the asynchronous scanner halves the scan rate (a frame that
        merges a scan would never start one). Always False without motion (upstream's schedule)."""
        if self._limbo is None or self._detected or self._since_detect is None or not self._in_frame:
            return False
        return self.config.detect_interval > 0 and self._since_detect >= self.scan_interval

    @property
    def detection_required(self) -> bool:
        """This frame cannot be tracked without the detector (no tracking, no face tracked yet, or a
        track without landmarks); False when only a periodic scan is due (`match(..., stale=True)`
        may merge one later)."""
        if self._detected:
            return False
        if not self.config.tracking or not self.tracks or self._since_detect is None:
            return True
        return any(t.landmarks is None for t in self.tracks.values())

    @property
    def needs_detection(self) -> bool:
        """A track was lost this frame and the detector has not run on it yet: run it and `match`."""
        return self._in_frame and not self._detected and bool(self._lost)

    @property
    def detected_this_frame(self) -> bool:
        return self._detected

    def predict(self) -> list[Target]:
        """Crops from the previous landmarks for every track (a frame without detection)."""
        self._require_frame()
        out = []
        for t in sorted(self.tracks.values(), key=lambda t: t.id):
            if t.updated or t.landmarks is None:
                continue
            t.source = "track"
            out.append(self._tracked_target(t))
        return out

    def match(self, boxes, scores, stale: bool = False, frames_ago: int = 0) -> list[Target]:
        """Take this frame's detections (`boxes` (K, 4) unclipped frame pixels, `scores` (K,)).

        Returns the crops still to regress this frame: matched tracks not yet updated (crop from
        their landmarks or, when re-seeded or revived, from the detection), then new tracks.
        Tracks not confirmed are dropped (after `max_misses` misses).

        `stale=True`: the detections come from an earlier frame (an asynchronous scan,
        `runtime.scanner`). A matched track keeps its landmark crop and box (the detection only
        confirms it: score, misses reset), unmatched detections start new tracks (crop from their
        box, refined as usual), the next scan is due `detect_interval` frames after the scanned
        frame (`frames_ago` frames before this one), and this frame does not count as detected (a track lost in it still
        triggers an in-frame detection)."""
        return track_matching.match(self, boxes, scores, stale, frames_ago)

    def update(self, track_id: int, landmarks, extremes: Optional[tuple] = None) -> bool:
        """Give a track the landmarks regressed from its crop this frame (`(N, >=2)` frame pixels;
        `extremes`: their (min x, min y, max x, max y) when the caller has them, the same numbers).

        Returns True when the track is kept. Landmarks from a tracked crop (`Target.source ==
        "track"`) must pass the loss check; from a detection crop only finiteness is checked
        (the detection is fresh evidence, and a face at the border of a still image must not be
        dropped). On False the track is lost (`lost_reasons[track_id]` says why): if the detector
        already ran this frame and confirmed it, `retry()` offers its detection crop; otherwise
        `needs_detection` asks for a detector run whose `match` may revive it."""
        self._require_frame()
        self._interval = None
        t = self.tracks.get(int(track_id))
        if t is None:
            raise EdgefaceError(f"no track {track_id} in this frame")
        pts = np.asarray(landmarks)
        if pts.ndim != 2 or pts.shape[1] < 2 or pts.shape[0] < 2:
            raise EdgefaceError(f"landmarks must have shape (N, 2 or 3), got {pts.shape}")
        pts = np.array(pts[:, :2], dtype=np.float64)  # a copy: the caller's array is never kept
        reason, box, nxt = self._loss_reason(t, pts, extremes)
        if self._limbo is not None:  # motion: a predicted crop that failed is tried once more as upstream's
            first = self._jumped.pop(t.id, None)  # the predicted crop's landmarks, when only their size jumped
            if first is not None and (reason is not None or track_motion.size_jump(t, box, self.config.motion)):
                reason, (pts, box, nxt) = None, first  # upstream's crop did not fit either: the first landmarks stay
            elif (reason is not None or track_motion.size_jump(t, box, self.config.motion)) and track_motion.fall_back(t):
                if reason is None:
                    self._jumped[t.id] = (pts, box, nxt)
                self._fallback.append(t.id)
                return False
        if reason is not None:
            del self.tracks[t.id]
            self.lost_reasons[t.id] = reason
            if self._detected and t.anchor is not None and t.source == "track":
                self._retry[t.id] = t  # confirmed by this frame's detection: retry from its box
            else:
                self._lost[t.id] = t
            return False
        if t.source == "track" and nxt is not None:  # a still face keeps its crop (TrackerConfig.roi_deadband)
            nxt = roi_mod.hold_roi(t.next_roi, nxt, self.config.roi_deadband)
        t.set_landmarks(pts, box, nxt)
        t.updated = True
        self._placed[t.id] = t.lm_xy
        if self._limbo is not None:
            track_motion.observe(t, self.frame_index, self.config.motion)
        lm_box = t.lm_box
        if t.anchor is not None:
            t.box_rel = box_relative(t.anchor, lm_box)
            t.anchor = None
        if t.box_rel is not None:
            t.bbox = t.predicted_box()  # box_from_relative(box_rel, lm_box), kept for predict()
        return True

    def retry(self) -> list[Target]:
        """Crops from this frame's detection boxes for tracks whose tracked crop failed although
        the detector confirmed them this frame (each track is retried once per frame)."""
        self._require_frame()
        self._interval = None
        out = []
        for tid in sorted(self._retry):
            t = self._retry.pop(tid)
            t.set_landmarks(None)  # its last landmarks led astray: start over from the detection
            t.source = "detect"
            self.tracks[t.id] = t
            self.lost_reasons.pop(t.id, None)
            out.append(Target(t.id, roi_mod.roi_from_bbox(t.anchor), t.anchor.copy(), t.score, "detect", False))
        for t in [self.tracks[i] for i in self._fallback if i in self.tracks and not self.tracks[i].updated]:
            out.append(self._tracked_target(t))
        self._fallback = []
        return out

    def end_frame(self) -> None:
        """Close the frame: lost tracks that were not revived are forgotten."""
        if not self._in_frame:
            return
        self._in_frame = False
        self._interval = None
        if self._limbo is not None:
            self._limbo.end_frame(self._lost.values(), self.tracks.values(), self.frame_index)
        self._lost.clear()
        self._retry.clear()
        # a track created or matched this frame whose crop was never regressed has no landmarks
        for tid in [t.id for t in self.tracks.values() if t.landmarks is None]:
            del self.tracks[tid]
        for t in self.tracks.values():
            t.frames += 1
        if self._since_detect is not None:
            self._since_detect += 1

    # ------------------------------------------------------------------ queries

    def is_alive(self, track_id: int) -> bool:
        return int(track_id) in self.tracks

    @property
    def ids(self) -> list[int]:
        return sorted(self.tracks)

    def track(self, track_id: int) -> Track:
        return self.tracks[int(track_id)]

    @property
    def frames_since_detection(self) -> Optional[int]:
        return self._since_detect

    # ------------------------------------------------------------------ internals

    def _require_frame(self) -> None:
        if not self._in_frame:
            raise EdgefaceError("call begin_frame(width, height) first")

    def _loss_reason(self, t: Track, pts: np.ndarray, extremes: Optional[tuple] = None) -> tuple:
        """(why the track is lost or None, landmark box, next crop) of landmarks `pts` (N, 2): `runtime.loss_check`."""
        evict = self._evict_duplicate if self._limbo is not None else None
        return loss_check.loss_reason(self.config, self.frame_size, self.tracks, t, pts, evict, extremes, self._placed)

    # ------------------------------------------------------------------ motion (TrackerConfig.motion: runtime.track_motion)

    def _tracked_target(self, t: Track) -> Target:  # this frame's target of a tracked face: its crop, its box
        return Target(t.id, self._crop(t), t.predicted_box(), t.score, "track", False)

    def _crop(self, t: Track) -> np.ndarray:  # this frame's crop of a tracked face
        return t.next_roi if self._limbo is None else track_motion.crop(t, self.frame_index)

    def _miss_limit(self) -> int:  # scans a track may go unconfirmed (motion: as many per detect_interval)
        c = self.config
        return c.max_misses if self._limbo is None else track_motion.miss_limit(c.max_misses, c.detect_interval, self.scan_interval)

    def _box_at(self, t: Track, frame: int) -> np.ndarray:  # its face box to match with detections of `frame`
        return t.predicted_box() if self._limbo is None or t.updated else track_motion.face_box(t, frame)

    def _reacquire(self, det_box: np.ndarray, score: float, frame: int) -> Optional[Target]:
        """Revive a track lost recently (or earlier in this frame) that `det_box` falls near, with its id."""
        t = None if self._limbo is None else self._limbo.take(det_box, frame, self._lost.values(), self.tracks)
        return None if t is None else track_motion.revive(t, det_box, score, self.tracks, self._lost, self.lost_reasons)

    def _evict_duplicate(self, o: Track, t: Track, box: np.ndarray) -> bool:
        """Two tracks on one face: the one that left its predicted path goes (then True: `o`, lost now)."""
        if not track_motion.evict(o, t, box, self.frame_index, self.tracks, self._lost, self.lost_reasons):
            return False
        self._placed.pop(o.id, None)  # lost now: no longer placed this frame
        return True


__all__: Sequence[str] = ("TrackerConfig", "Target", "Track", "FaceTracker")
