"""Temporal smoothing of per-face outputs with the One Euro filter (Casiez, Roussel, Vogel, CHI 2012).

The One Euro filter is a first-order low-pass filter whose cutoff frequency rises with the
signal's speed: slow motion (jitter) is smoothed hard, fast motion is followed with little lag.
For each new sample x at time t (Te = t - t_prev):

    alpha(fc) = 1 / (1 + tau / Te),   tau = 1 / (2 pi fc)
    dx        = (x - x_hat_prev) / Te                     # speed
    dx_hat    = dx_hat_prev + alpha(d_cutoff) * (dx - dx_hat_prev)
    fc        = min_cutoff + beta * |dx_hat|              # per element
    x_hat     = x_hat_prev + alpha(fc) * (x - x_hat_prev)

It is causal (no look-ahead): each output depends only on the samples so far. `OneEuroFilter`
works element-wise on arrays of any shape (68x3 landmarks, 3 pose angles, 4 box corners...).

`FaceSmoother` keeps one set of filters per face id (landmarks, bbox, pose angles and, when
present, the dense vertices) and forgets ids that are not in the current frame. It leaves
`params` and `camera` untouched (the JSONL keeps the raw regressor output there); overlays draw
the pose axes from the (smoothed) `pose` angles. The pipeline switches smoothing off for still
images (`SmoothingConfig.enabled`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from edgeface.errors import EdgefaceError
from edgeface.runtime.results import Face, FrameResult, Pose


@dataclass
class SmoothingConfig:
    """One Euro filter parameters.

    min_cutoff: cutoff frequency (Hz) at rest: lower = smoother but more lag on slow motion.
    beta: speed coefficient (Hz per unit of speed): higher = less lag on fast motion. In
        `FaceSmoother` the speed of positions (landmarks, box, dense) is measured in face sizes
        per second, that of pose angles in degrees per second (see `DEFAULT_POSE`).
    d_cutoff: cutoff (Hz) of the speed estimate.
    nominal_fps: frame rate assumed when frames carry no timestamp.

    The defaults were chosen on synthetic 25 fps tracks with 1 px / 1 deg white jitter (see
    tests/test_smoothing.py): landmarks of a 200 px face: jitter (std of the frame-to-frame
    change) / 7.5 at rest, mean lag 2.5 px (12 ms) moving at 1 face size per second; pose:
    jitter / 6.5 at rest, lag 2.3 deg (39 ms) turning at 60 deg/s.
    """

    enabled: bool = True
    min_cutoff: float = 0.7
    beta: float = 4.0
    d_cutoff: float = 1.0
    nominal_fps: float = 30.0

    def __post_init__(self):
        if not (self.min_cutoff > 0 and self.d_cutoff > 0 and self.nominal_fps > 0 and self.beta >= 0):
            raise EdgefaceError(f"bad smoothing parameters {self}: min_cutoff, d_cutoff and nominal_fps must be > 0 "
                                "and beta >= 0")


# Positions: pixels filtered, speed in face sizes / s. Pose: degrees, speed in deg / s.
DEFAULT_POSITION = SmoothingConfig()
DEFAULT_POSE = SmoothingConfig(min_cutoff=0.7, beta=0.03, d_cutoff=1.0)


def smoothing_factor(te, cutoff) -> np.ndarray:
    """alpha = 1 / (1 + tau/Te) with tau = 1/(2*pi*cutoff); equivalently r/(r+1), r = 2*pi*cutoff*Te."""
    r = 2.0 * math.pi * np.asarray(cutoff, dtype=np.float64) * te
    return r / (r + 1.0)


def wrap_angle(a, period: float = 360.0):
    """Wrap to [-period/2, period/2)."""
    half = period / 2.0
    return (np.asarray(a, dtype=np.float64) + half) % period - half


class OneEuroFilter:
    """Element-wise One Euro filter over arrays of a fixed shape.

    period: set (e.g. 360.0) for angles: differences are taken on the circle so that a signal
    crossing +-180 is not seen as a huge jump, and outputs are wrapped to [-period/2, period/2).
    """

    def __init__(self, config: Optional[SmoothingConfig] = None, period: Optional[float] = None):
        self.config = config or SmoothingConfig()
        self.period = period
        self.reset()

    def reset(self) -> None:
        self._x: Optional[np.ndarray] = None
        self._dx: Optional[np.ndarray] = None
        self._t: Optional[float] = None

    @property
    def initialized(self) -> bool:
        return self._x is not None

    def _diff(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        d = a - b
        return d if self.period is None else wrap_angle(d, self.period)

    def __call__(self, x, t: Optional[float] = None, speed_scale: float = 1.0) -> np.ndarray:
        """Filter one sample. t: seconds (None: previous t + 1/nominal_fps).
        speed_scale: the speed is divided by it before entering the cutoff (e.g. the face size)."""
        x = np.asarray(x, dtype=np.float64)
        cfg = self.config
        if self._x is None or self._x.shape != x.shape:
            self._x = x.copy() if self.period is None else wrap_angle(x, self.period)
            self._dx = np.zeros_like(x)
            self._t = 0.0 if t is None else float(t)
            return self._x.copy()
        nominal = 1.0 / cfg.nominal_fps
        if t is None:
            te = nominal
            t = self._t + te
        else:
            t = float(t)
            te = t - self._t
            if not te > 0:  # repeated / out-of-order timestamp
                te = nominal
                t = self._t + te
        self._t = t
        d = self._diff(x, self._x)
        dx = d / te
        self._dx = self._dx + smoothing_factor(te, cfg.d_cutoff) * (dx - self._dx)
        cutoff = cfg.min_cutoff + cfg.beta * np.abs(self._dx) / float(speed_scale)
        x_hat = self._x + smoothing_factor(te, cutoff) * d
        if self.period is not None:
            x_hat = wrap_angle(x_hat, self.period)
        self._x = x_hat
        return x_hat.copy()


class _FaceState:
    def __init__(self, pos_cfg: SmoothingConfig, pose_cfg: SmoothingConfig):
        self.landmarks = OneEuroFilter(pos_cfg)
        self.bbox = OneEuroFilter(pos_cfg)
        self.roi = OneEuroFilter(pos_cfg)
        self.dense = OneEuroFilter(pos_cfg)
        self.pose = OneEuroFilter(pose_cfg, period=360.0)


def face_size(face: Face) -> float:
    """Face size in pixels: sqrt of the box area (at least 1)."""
    b = np.asarray(face.bbox, dtype=np.float64)
    return float(max(1.0, math.sqrt(max(0.0, (b[2] - b[0])) * max(0.0, (b[3] - b[1])))))


class FaceSmoother:
    """One Euro smoothing per face id. Call it on each FrameResult in order.

    Returns a new FrameResult with new Face objects (the input is not modified). When disabled
    (config.enabled False) the input is returned unchanged. Times come from
    `result.timestamp_s`, else from `result.frame / nominal_fps`.
    """

    def __init__(self, config: Optional[SmoothingConfig] = None, pose_config: Optional[SmoothingConfig] = None,
                 smooth_dense: bool = True, scale_invariant: bool = True):
        self.config = config or DEFAULT_POSITION
        # pose: the position config's cutoffs (Hz) with the pose beta (its speed unit differs)
        self.pose_config = pose_config or dataclasses.replace(
            self.config, beta=DEFAULT_POSE.beta)
        self.smooth_dense = smooth_dense
        self.scale_invariant = scale_invariant
        self._states: dict[int, _FaceState] = {}

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        self.config = dataclasses.replace(self.config, enabled=bool(value))

    @property
    def tracked_ids(self) -> list[int]:
        return sorted(self._states)

    def reset(self, face_id: Optional[int] = None) -> None:
        """Forget one face id (or all)."""
        if face_id is None:
            self._states.clear()
        else:
            self._states.pop(int(face_id), None)

    def _time(self, result: FrameResult) -> float:
        if result.timestamp_s is not None:
            return float(result.timestamp_s)
        return float(result.frame) / self.config.nominal_fps

    def smooth_face(self, face: Face, t: float) -> Face:
        st = self._states.get(face.id)
        if st is None:
            st = self._states[face.id] = _FaceState(self.config, self.pose_config)
        scale = face_size(face) if self.scale_invariant else 1.0
        landmarks = st.landmarks(face.landmarks, t, scale)
        bbox = st.bbox(face.bbox, t, scale)
        roi = st.roi(face.roi, t, scale) if face.roi is not None else None
        yaw, pitch, roll = st.pose(np.array([face.pose.yaw, face.pose.pitch, face.pose.roll]), t)
        dense = face.dense
        if dense is not None and self.smooth_dense:
            dense = st.dense(dense, t, scale)
        elif dense is None:
            st.dense.reset()
        return dataclasses.replace(
            face, landmarks=landmarks.astype(np.asarray(face.landmarks).dtype, copy=False),
            bbox=bbox.astype(np.asarray(face.bbox).dtype, copy=False),
            roi=roi if roi is None else roi.astype(np.asarray(face.roi).dtype, copy=False),
            pose=Pose(float(yaw), float(pitch), float(roll)),
            dense=dense if dense is None or dense is face.dense else dense.astype(face.dense.dtype, copy=False))

    def __call__(self, result: FrameResult) -> FrameResult:
        if not self.enabled:
            return result
        t = self._time(result)
        faces = [self.smooth_face(f, t) for f in result.faces]
        present = {f.id for f in result.faces}
        for fid in list(self._states):
            if fid not in present:
                del self._states[fid]
        return dataclasses.replace(result, faces=faces)
