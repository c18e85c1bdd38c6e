"""Motion of a tracked face: predict its next crop, and recognise it when it comes back (pure numpy).

Upstream demo_video crops each frame from the previous frame's landmarks: a face that moves more
than a fraction of its size between two frames falls out of its crop. `BoxMotion` follows the
landmark box of one track as (centre x, centre y, log side) and its velocity per frame, an
alpha-beta filter (a steady-state Kalman filter of a constant-velocity model):

    observe(box, frame)      the landmark box regressed in `frame`: the position is the observation
                             (alpha = 1: the crop stays anchored on the landmarks, as upstream), the
                             velocity moves toward the last displacement by `gain` (1: the last
                             displacement alone; lower: smoother, slower to follow a reversal)
    predict_roi(roi, frame)  the crop built from the last landmarks, moved (and scaled) by the
                             velocity over the frames since the last observation

Below `min_speed` (a fraction of the face side per frame) the crop is not moved: a still face
keeps upstream's crop (and the ROI deadband's hold) instead of one following its landmark noise.
The shift is capped at `max_shift` sides per frame (a wrong velocity cannot fling a crop away).

`box_at(frame)` is the landmark box observed in an earlier frame (a short history), so that an
asynchronous scan taken on an earlier frame is matched with where each face was then.
`reacquire_score` gates a lost track against a new detection by position, size and time since
the loss (the tracker revives the track with its old id instead of starting a new one).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Optional

import numpy as np

from edgeface.errors import EdgefaceError

MOTION_MODELS = ("none", "velocity")


@dataclass(frozen=True)
class MotionConfig:
    """Motion model of tracked faces ("none": upstream's crop from the previous landmarks)."""

    model: str = "velocity"  # "none" | "velocity" (alpha-beta filter on the landmark box)
    gain: float = 0.7  # velocity update gain (beta): 1 follows the last displacement only
    min_speed: float = 0.02  # below this (fraction of the face side per frame) the crop is not moved
    max_shift: float = 1.0  # at most this many face sides per frame of predicted shift
    scale: bool = True  # predict the change of size too (zoom, a face walking toward the camera)
    history: int = 32  # frames of landmark boxes kept (matching scans of earlier frames)
    reacquire_frames: int = 30  # a lost track may be revived by a detection for this many frames
    reacquire_distance: float = 0.8  # gate: centre distance / side at the loss (grows with the frames lost)
    reacquire_growth: float = 0.15  # ... by this many sides per frame lost
    reacquire_size: float = 1.6  # gate: side ratio within [1/x, x] of the predicted side
    scan_lead: float = 0.3  # scan for new faces at least each time the fastest face moves this many of its sides
    min_scan_interval: int = 1  # ... but not more often than every this many frames
    recrop: float = 0.1  # a tracked face found off the centre of its crop by more than this x the crop side is regressed again, re-cropped on its landmarks (0: never)
    size_jump: float = 1.25  # landmarks from a moved crop whose side changed by more than this factor in one frame are checked against upstream's crop (the fall-back)

    def __post_init__(self):
        if self.model not in MOTION_MODELS:
            raise EdgefaceError(f"unknown motion model {self.model!r}: use {' or '.join(MOTION_MODELS)}")
        if not (0.0 < float(self.gain) <= 1.0):
            raise EdgefaceError(f"motion gain must be in (0, 1], got {self.gain}")
        for name in ("min_speed", "reacquire_distance", "reacquire_growth", "recrop"):
            if not (float(getattr(self, name)) >= 0.0 and math.isfinite(float(getattr(self, name)))):
                raise EdgefaceError(f"motion {name.replace('_', ' ')} must be a finite value >= 0, got {getattr(self, name)}")
        if not (float(self.max_shift) > 0.0):
            raise EdgefaceError(f"motion max shift must be > 0 face sides, got {self.max_shift}")
        if not (float(self.scan_lead) > 0.0) or int(self.min_scan_interval) < 1:
            raise EdgefaceError(f"motion scan lead must be > 0 sides and min scan interval >= 1 frame, got "
                                f"{self.scan_lead} and {self.min_scan_interval}")
        if int(self.history) < 1 or int(self.reacquire_frames) < 0:
            raise EdgefaceError(f"motion history must be >= 1 and reacquire frames >= 0, got "
                                f"{self.history} and {self.reacquire_frames}")
        if not (float(self.size_jump) > 1.0):
            raise EdgefaceError(f"motion size jump must be a factor > 1, got {self.size_jump}")
        if not (float(self.reacquire_size) >= 1.0):
            raise EdgefaceError(f"reacquire size ratio must be >= 1, got {self.reacquire_size}")

    @property
    def enabled(self) -> bool:
        return self.model != "none"


def off_centre(roi, new_roi) -> float:
    """How far the crop `new_roi` (built from the landmarks found in `roi`) is from `roi`: the largest
    move of an edge, in sides of `roi` (0: the face sat exactly where the crop expected it)."""
    r0, r1, r2, r3 = roi[:4].tolist() if isinstance(roi, np.ndarray) else (float(v) for v in roi[:4])
    n0, n1, n2, n3 = new_roi[:4].tolist() if isinstance(new_roi, np.ndarray) else new_roi[:4]
    return max(abs(n0 - r0), abs(n1 - r1), abs(n2 - r2), abs(n3 - r3)) / max(r2 - r0, 1e-6)


def fit_similarity(before, after) -> Optional[tuple]:
    """(s, tx, ty) with after ~ s * before + t for boxes of the same faces in two frames (rows (x1, y1, x2, y2)):
    the camera's pan and zoom when the faces stand still in the scene. Robust medians; None without a box."""
    b, a = np.asarray(before, np.float64).reshape(-1, 4), np.asarray(after, np.float64).reshape(-1, 4)
    if b.shape[0] == 0:
        return None
    sb = np.sqrt(np.maximum(b[:, 2] - b[:, 0], 1e-6) * np.maximum(b[:, 3] - b[:, 1], 1e-6))
    sa = np.sqrt(np.maximum(a[:, 2] - a[:, 0], 1e-6) * np.maximum(a[:, 3] - a[:, 1], 1e-6))
    k = float(np.median(sa / sb))
    cb = (b[:, :2] + b[:, 2:]) / 2
    ca = (a[:, :2] + a[:, 2:]) / 2
    tx, ty = np.median(ca - k * cb, axis=0).tolist()
    return k, tx, ty


def apply_similarity(box, sim: tuple) -> np.ndarray:
    k, tx, ty = sim
    return np.asarray(box, np.float64)[:4] * k + np.array([tx, ty, tx, ty])


def box_state(box) -> np.ndarray:
    """(centre x, centre y, log side) of a box (x1, y1, x2, y2); side = sqrt(w * h)."""
    x1, y1, x2, y2 = box[:4].tolist() if isinstance(box, np.ndarray) else (float(v) for v in box[:4])
    return np.array([(x1 + x2) / 2.0, (y1 + y2) / 2.0, 0.5 * math.log(max(x2 - x1, 1e-6) * max(y2 - y1, 1e-6))])


def state_box(state: np.ndarray, aspect: float = 1.0) -> np.ndarray:
    """The box of a state (centre, log side) with width / height = `aspect`."""
    side = math.exp(float(state[2]))
    w, h = side * math.sqrt(aspect), side / math.sqrt(aspect)
    return np.array([state[0] - w / 2, state[1] - h / 2, state[0] + w / 2, state[1] + h / 2])


def move_box(box: np.ndarray, dx: float, dy: float, ds: float = 0.0) -> np.ndarray:
    """`box` moved by (dx, dy) and scaled by exp(ds) about its centre (a new array)."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    cx, cy = (x1 + x2) / 2.0 + dx, (y1 + y2) / 2.0 + dy
    k = math.exp(ds)
    hw, hh = (x2 - x1) * k / 2.0, (y2 - y1) * k / 2.0
    return np.array([cx - hw, cy - hh, cx + hw, cy + hh])


class BoxMotion:
    """The motion state of one track (see module docstring)."""

    def __init__(self, config: MotionConfig):
        self.config = config
        self.state: Optional[tuple] = None  # (cx, cy, log side) at the last observation (Python floats: per face per frame)
        self.velocity = (0.0, 0.0, 0.0)  # per frame
        self.frame: Optional[int] = None  # frame of the last observation
        self.aspect = 1.0
        self.observations = 0
        self._history: deque = deque(maxlen=int(config.history))
        self._undo: Optional[tuple] = None

    def observe(self, box, frame: int, xy: Optional[tuple] = None) -> None:
        """The landmark box regressed in `frame` (frames must increase); `xy`: its 4 values as Python floats, when
        the caller has them."""
        x1, y1, x2, y2 = xy if xy is not None else (
            box[:4].tolist() if isinstance(box, np.ndarray) else (float(v) for v in box[:4]))
        w, h = max(x2 - x1, 1e-6), max(y2 - y1, 1e-6)
        z = ((x1 + x2) / 2.0, (y1 + y2) / 2.0, 0.5 * math.log(w * h))  # box_state, on floats
        self._undo = (self.state, self.velocity, self.frame, self.observations, self.aspect)
        self.aspect = w / h
        if self.state is not None and self.frame is not None and frame > self.frame:
            dt = float(frame - self.frame)
            (a0, a1, a2), (b0, b1, b2) = z, self.state
            s0, s1, s2 = (a0 - b0) / dt, (a1 - b1) / dt, ((a2 - b2) / dt if self.config.scale else 0.0)
            if self.observations == 1:
                self.velocity = (s0, s1, s2)  # the first displacement: nothing to average yet
            else:
                g = self.config.gain
                v0, v1, v2 = self.velocity
                self.velocity = (v0 + g * (s0 - v0), v1 + g * (s1 - v1), v2 + g * (s2 - v2))
        self.state = z
        self.frame = int(frame)
        self.observations += 1
        # the caller's box is never changed in place (Track.lm_box is replaced each frame): kept as it is
        self._history.append((int(frame), box if isinstance(box, np.ndarray) else np.array(box[:4], np.float64)))

    def rollback(self) -> None:
        """Forget the last observation (it was another face's)."""
        if self._undo is not None:
            self.state, self.velocity, self.frame, self.observations, self.aspect = self._undo
            self._undo = None
            if self._history:
                self._history.pop()

    def restart(self) -> None:
        """Forget the velocity (a track re-seeded from a detection far from its prediction)."""
        self.velocity = (0.0, 0.0, 0.0)
        self.observations = min(self.observations, 1)

    def speed(self) -> float:
        """Speed in face sides per frame (0 before two observations)."""
        if self.state is None or self.observations < 2:
            return 0.0
        return math.hypot(self.velocity[0], self.velocity[1]) / self.side()

    def side(self) -> float:
        return math.exp(self.state[2]) if self.state is not None else 0.0

    def innovation(self, box, frame: int) -> float:
        """How far (in face sides) `box` observed in `frame` is from this track's prediction for it."""
        if self.state is None or self.frame is None or frame <= self.frame:
            return 0.0
        dx, dy, _ = self.shift(frame)
        x1, y1, x2, y2 = box if type(box) is tuple and len(box) == 4 else (
            box[:4].tolist() if isinstance(box, np.ndarray) else (float(v) for v in box[:4]))
        return math.hypot((x1 + x2) / 2.0 - self.state[0] - dx, (y1 + y2) / 2.0 - self.state[1] - dy) / self.side()

    def size_change(self, box) -> float:
        """|log| of the ratio of `box`'s side to the side at the last observation (0: the same size, or no observation)."""
        if self.state is None:
            return 0.0
        x1, y1, x2, y2 = box[:4].tolist() if isinstance(box, np.ndarray) else (float(v) for v in box[:4])
        return abs(0.5 * math.log(max(x2 - x1, 1e-6) * max(y2 - y1, 1e-6)) - self.state[2])

    def shift(self, frame: int) -> tuple:
        """(dx, dy, dlog side) predicted from the last observation to `frame` ((0, 0, 0): no move)."""
        if self.state is None or self.frame is None or self.observations < 2:
            return 0.0, 0.0, 0.0
        dt = float(frame - self.frame)
        if dt <= 0:
            return 0.0, 0.0, 0.0
        cfg = self.config
        side = self.side()
        vx, vy, vs = self.velocity
        speed = math.hypot(vx, vy)
        if speed < cfg.min_speed * side and abs(vs) < cfg.min_speed:
            return 0.0, 0.0, 0.0
        cap = cfg.max_shift * side
        if speed > cap:
            vx, vy = vx * cap / speed, vy * cap / speed
        vs = max(-0.3, min(0.3, vs)) if cfg.scale else 0.0
        return vx * dt, vy * dt, vs * dt

    def predict_roi(self, roi: np.ndarray, frame: int) -> np.ndarray:
        """The crop `roi` (built from the last landmarks) moved to where the face should be in `frame`.
        Returns `roi` itself (the same object) when no move is predicted."""
        dx, dy, ds = self.shift(frame)
        if dx == 0.0 and dy == 0.0 and ds == 0.0:
            return roi
        return move_box(roi, dx, dy, ds)

    def predict_box(self, box: np.ndarray, frame: int) -> np.ndarray:
        """Any box tied to the face (its face box) moved the same way as the crop."""
        return self.predict_roi(box, frame)

    def steady_box(self, ratio: float = 0.85) -> tuple:
        """(frame, box) of the latest observation whose side is at least `ratio` x the largest in the history:
        a face leaving the picture shrinks into its last partial views; this is its last whole one."""
        sides = [(f, b, math.sqrt(max(b[2] - b[0], 1e-6) * max(b[3] - b[1], 1e-6))) for f, b in self._history]
        top = max(s for _, _, s in sides)
        return next((f, b) for f, b, s in reversed(sides) if s >= ratio * top)

    def box_at(self, frame: int) -> Optional[np.ndarray]:
        """The landmark box observed in `frame` (None: not in the history)."""
        for f, b in reversed(self._history):
            if f == frame:
                return b
            if f < frame:
                return None
        return None

    def reacquire_score(self, det_box: np.ndarray, face_box: np.ndarray, frame: int) -> Optional[float]:
        """How far (in sides) detection `det_box` is from where this (lost) track's face box
        (`face_box`, at its last observation) should be in `frame`, or None when outside the gate
        (position, size, time since the last observation)."""
        cfg = self.config
        if self.state is None or self.frame is None:
            return None
        lost_for = frame - self.frame
        if lost_for < 0 or lost_for > cfg.reacquire_frames:
            return None
        dx, dy, ds = self.shift(frame)
        pred = box_state(face_box) + (dx, dy, ds)
        z = box_state(det_box)
        side = math.exp(float(pred[2]))
        dist = math.hypot(z[0] - pred[0], z[1] - pred[1]) / side
        if dist > cfg.reacquire_distance + cfg.reacquire_growth * max(0, lost_for - 1):
            return None
        if abs(z[2] - pred[2]) > math.log(cfg.reacquire_size):
            return None
        return dist


__all__ = ("MOTION_MODELS", "MotionConfig", "BoxMotion", "off_centre", "fit_similarity", "apply_similarity", "box_state", "state_box", "move_box")
