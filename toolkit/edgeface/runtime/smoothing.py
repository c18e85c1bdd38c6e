"""Temporal smoothing of per-face outputs: One Euro filtering (Casiez, Roussel, Vogel, CHI 2012).

The One Euro filter is a first-order low-pass filter whose cutoff frequency rises with the
signal's speed: slow motion (jitter) is smoothed hard, fast motion is followed with little lag.
For each new sample x at time t (Te = t - t_prev):

    alpha(fc) = 1 / (1 + tau / Te),   tau = 1 / (2 pi fc)
    dx        = (x - x_hat_prev) / Te                     # speed
    dx_hat    = dx_hat_prev + alpha(d_cutoff) * (dx - dx_hat_prev)
    fc        = min_cutoff + beta * max(0, |dx_hat| - speed_floor)
    x_hat     = x_hat_prev + alpha(fc) * (x - x_hat_prev)

It is causal (no look-ahead). The building blocks are in `runtime.one_euro` (`OneEuroFilter`
element-wise; `AngleFilter` for the pose angles).

Positions are filtered per face, not per element (`FaceMotionFilter`; measured with
`edgeface bench --stability`, docs/concepts/stability.md). Per-element cutoffs react to each landmark's
own noise (with them, smoothed INT8 jittered 1.37x fp32 on JianzhuGuo against 1.22x raw), and a
fixed low-pass barely helps because tracked landmarks wander slowly. Here:

- one speed per face: dx is the mean over the 68 landmarks of (x - x_hat_prev), in face sizes
  per second, whose noise is much smaller than any single landmark's;
- dead zones (`speed_floor`, `shape_floor`: the noise levels at rest), so sensor noise and
  quantization steps do not open the filter;
- position and shape apart: the landmarks' mean and their shape (landmarks - mean) get their own
  factors, so a face sliding across the image is followed at once while its shape noise stays
  filtered; landmarks, box, ROI and dense vertices move with the same two factors;
- a warm start: alpha >= 1/n for the n-th sample of a track, so a new track settles on the mean
  of its first samples instead of creeping for seconds from one noisy first sample.

Everything in the hot path is float32 (no float64 temporaries; tests/test_smoothing.py traces
the allocations); its cost is reported by `edgeface bench --stability`.

The parameters are a `runtime.smoothing_config.SmoothingConfig`. `FaceSmoother` keeps one state
per face id and forgets ids that are not in the current frame. It leaves `params` and `camera`
untouched (the JSONL keeps the raw regressor output there); overlays draw the pose axes from the
(smoothed) `pose` angles. The pipeline switches smoothing off for still images
(`SmoothingConfig.enabled`).
"""

from __future__ import annotations

import copy
import dataclasses
import math
from typing import Optional, Sequence

import cv2
import numpy as np

from edgeface.runtime.boxes import corners
from edgeface.runtime.one_euro import AngleFilter, _alpha, _Clock
from edgeface.runtime.smoothing_config import DEFAULT_POSE, DEFAULT_POSITION, SmoothingConfig
from edgeface.results import Face, FrameResult, Pose


_ADD = np.add.reduce  # a sum without np.sum's Python wrapper (the hot path runs per face and frame)
_PAD = tuple((0.0,) * (4 - k) for k in range(5))  # cv2 scalars have 4 channels
_SMALL = 64  # blend_points: up to this many values in Python floats (cheaper than two cv2 calls)


def blend_points(prev: np.ndarray, x: np.ndarray, alpha: float, shift: np.ndarray, groups: tuple) -> np.ndarray:
    """`prev + alpha * (x - prev) + shift[:k]` for n points of k coordinates (float32 arrays of the
    same shape), a new float32 array. Up to 4 coordinates it is one fused pass over the points as a
    k-channel image (cv2.addWeighted, then cv2.add of the shift as a per-channel scalar): about 6x
    faster than the numpy expression on a 38k-vertex mesh, whose broadcast add of a 3-vector is
    slow; equal to it within float32 rounding. Up to `_SMALL` values (a face's box and ROI corners)
    the same numbers come from Python floats (cv2's float32 addWeighted computes in double and rounds
    once; its scalar add is a float32 add): two cv2 calls cost more than that on a few values."""
    n, k = groups
    if n * k <= _SMALL:  # a few values (box and ROI corners): cv2's numbers, computed as cv2 does
        b = 1.0 - float(alpha)  # addWeighted on float32: a * x + b * prev + 0 in double, rounded once
        out = np.array([u * alpha + v * b + 0.0 for u, v in zip(x.reshape(-1).tolist(), prev.reshape(-1).tolist())],
                       np.float32)
        out.reshape(n, k)[...] += shift[:k]  # cv2.add of a scalar: a float32 add
        return out.reshape(x.shape)
    if not 1 <= k <= 4:
        out = np.subtract(x, prev)
        out *= alpha
        out += prev
        out.reshape(n, k)[...] += shift[:k]
        return out
    out = cv2.addWeighted(x.reshape(n, 1, k), float(alpha), prev.reshape(n, 1, k), 1.0 - float(alpha), 0.0)
    cv2.add(out, tuple(shift.tolist()[:k]) + _PAD[k], dst=out)  # in place: one new array in all
    return out.reshape(x.shape)


class FaceMotionFilter:
    """One Euro smoothing of everything that moves with a face: two blending factors per face and frame.

    A face's landmarks are their mean c (the face's position) plus a shape (landmarks - c). Each
    gets its own factor: `alpha` from the speed of c, `alpha_shape` from the RMS speed of the shape
    (both in face sizes / s, minus their dead zones). Any array that moves with the face (landmarks,
    box, ROI, dense vertices) is filtered as

        x_hat = x_hat_prev + alpha_shape * (x - x_hat_prev) + (alpha - alpha_shape) * (c - c_hat_prev)

    which filters c with `alpha` and the rest with `alpha_shape`: a face sliding across the image
    is followed at once while the noise of its shape stays filtered.

    `step(landmarks, t, size)` computes both factors and returns the filtered landmarks (a new
    float32 array); `blend(name, x, groups)` filters an array in place of the previous (state per name; a shape
    change or a new name starts that array afresh). `groups` says how x's coordinates line up with
    c: `(n, k)` = n points of k coordinates (x, y[, z]).
    """

    def __init__(self, config: Optional[SmoothingConfig] = None):
        self.config = config or SmoothingConfig()
        self.reset()

    def reset(self) -> None:
        self._state: dict = {}
        self._v = [0.0, 0.0]  # filtered speeds, face sizes / s: position, shape
        self._lm: Optional[np.ndarray] = None  # filtered landmarks
        self._clock = _Clock(self.config.nominal_fps)
        self._n = 0
        self.alpha = self.alpha_shape = 1.0
        self._shift = np.zeros(3, np.float32)  # (alpha - alpha_shape) * (c - c_hat_prev), per coordinate

    def step(self, landmarks, t: Optional[float], size: float) -> np.ndarray:
        """The filtered landmarks; sets this frame's `alpha`, `alpha_shape` (1, 1 for a track's first sample).
        (`step_faces` does the same for several faces at once.)"""
        lm = np.asarray(landmarks, dtype=np.float32)
        te = self._clock.step(t)
        prev = self._lm
        if te is None or prev is None or prev.shape != lm.shape:
            return self._restart(lm)
        return self._advance(lm, te, size)

    def _advance(self, lm: np.ndarray, te: float, size: float) -> np.ndarray:
        """One sample `lm` of an ongoing track, `te` s after the previous one: the filtered landmarks (a copy)."""
        prev = self._lm
        n = lm.shape[0]
        d = lm - prev  # offsets from the filtered landmarks (float32 throughout: Python floats do not upcast)
        dc = _ADD(d, axis=0) * (1.0 / n)  # of their mean: the position
        sq = _ADD(d * d, axis=0)
        a, a_s = self._factors(dc.tolist(), sq.tolist(), n, te, size)
        dc *= a - a_s
        self._shift = dc if dc.shape[0] >= 3 else np.concatenate((dc, np.zeros(3 - dc.shape[0], np.float32)))
        # the filtered landmarks: prev + a_s * (d - dc) + a * dc = prev + a_s * d + (a - a_s) * dc
        d *= a_s
        d += prev
        d += dc
        self._lm = d
        return d.copy()

    def _restart(self, lm: np.ndarray) -> np.ndarray:
        """A track's first sample (or a shape change): the landmarks as they are, factors 1."""
        self._v = [0.0, 0.0]
        self._n = 1
        self.alpha = self.alpha_shape = 1.0
        self._shift = np.zeros(max(3, lm.shape[-1]), np.float32)
        self._lm = lm.copy()
        return lm.copy()

    def _factors(self, dc: list, sq: list, n: int, te: float, size: float) -> tuple:
        """This frame's (alpha, alpha_shape) from the mean offset `dc` and the summed squared offsets `sq` of the
        landmarks from their filtered values (x, y, ...: Python floats), in face sizes / s."""
        cfg = self.config
        self._n += 1
        dcx, dcy = dc[0], dc[1]
        scale = 1.0 / (te * max(float(size), 1.0))
        v_pos = math.hypot(dcx, dcy) * scale
        # the shape's offsets are d - dc: sum |d - dc|^2 = sum |d|^2 - n |dc|^2
        v_shape = math.sqrt(max(0.0, (sq[0] + sq[1]) / n - dcx * dcx - dcy * dcy)) * scale
        a_d = _alpha(te, cfg.d_cutoff)
        v = self._v
        v[0] += a_d * (v_pos - v[0])
        v[1] += a_d * (v_shape - v[1])
        warm = 1.0 / self._n
        a = max(_alpha(te, cfg.min_cutoff + cfg.beta * max(0.0, v[0] - cfg.speed_floor)), warm)
        a_s = max(_alpha(te, cfg.shape_cutoff + cfg.shape_beta * max(0.0, v[1] - cfg.shape_floor)), warm)
        self.alpha, self.alpha_shape = a, a_s
        return a, a_s

    def blend(self, name: str, x, groups: tuple) -> np.ndarray:
        """x filtered with this frame's factors (see the class docstring); a new float32 array."""
        x = np.asarray(x, dtype=np.float32)
        prev = self._state.get(name)
        if prev is None or prev.shape != x.shape or self.alpha_shape >= 1.0:
            self._state[name] = x.copy()
            return x.copy()
        out = blend_points(prev, x, self.alpha_shape, self._shift, groups)
        np.copyto(prev, out)
        return out

    def forget(self, name: str) -> None:
        self._state.pop(name, None)


def step_faces(filters: Sequence[FaceMotionFilter], landmarks: Sequence, t: Optional[float], sizes: Sequence[float]) -> list:
    """`FaceMotionFilter.step` of several faces (each with its own filter) at one time `t`: the filtered landmarks
    of each (new float32 arrays). The faces whose landmarks have one shape are filtered together, one numpy
    call per step for all of them (the same float32 operations as face by face, so the same bits: the sums
    over the points run in the same order, the per-face factors are cast to float32 as scalars are)."""
    out: list = [None] * len(filters)
    groups: dict = {}
    for i, (m, x) in enumerate(zip(filters, landmarks)):
        lm = np.asarray(x, dtype=np.float32)
        te = m._clock.step(t)
        if te is None or m._lm is None or m._lm.shape != lm.shape:
            out[i] = m._restart(lm)
        else:
            groups.setdefault(lm.shape, []).append((i, lm, te))
    for shape, items in groups.items():
        idx = [i for i, _, _ in items]
        if len(items) == 1:  # one face: the plain step
            i, x, te = items[0]
            out[i] = filters[i]._advance(x, te, sizes[i])
            continue
        lm = np.stack([x for _, x, _ in items])
        prev = np.stack([filters[i]._lm for i in idx])
        n = shape[0]
        d = lm - prev  # offsets from the filtered landmarks (float32 throughout)
        dc = _ADD(d, axis=1) * (1.0 / n)  # of their mean: the position
        sq = _ADD(d * d, axis=1)
        dcl, sql = dc.tolist(), sq.tolist()
        ab = [filters[i]._factors(dcl[k], sql[k], n, te, sizes[i]) for k, (i, _, te) in enumerate(items)]
        a_s = np.array([b for _, b in ab], np.float32)
        dc *= np.array([a - b for a, b in ab], np.float32)[:, None]
        if dc.shape[1] < 3:
            dc = np.concatenate((dc, np.zeros((dc.shape[0], 3 - dc.shape[1]), np.float32)), axis=1)
        # the filtered landmarks: prev + a_s * (d - dc) + a * dc = prev + a_s * d + (a - a_s) * dc
        d *= a_s.reshape((-1,) + (1,) * (d.ndim - 1))
        d += prev
        d += dc[:, None, :shape[-1]] if d.ndim == 3 else dc[:, :shape[-1]]
        res = d.copy()  # the filters keep `d`; the callers get their own arrays
        for k, i in enumerate(idx):
            m = filters[i]
            m._lm, m._shift = d[k], dc[k]
            out[i] = res[k]
    return out


def blend_small(filters: Sequence[FaceMotionFilter], name: str, vectors: Sequence[np.ndarray]) -> list:
    """`filters[i].blend(name, vectors[i], (n, 2))` for a few (x, y) values per face (box and ROI corners): the faces
    whose vectors have one length and a state to blend with are done in one numpy pass (the same float64 sums as
    `blend_points`' Python floats, rounded once to float32, then the float32 shift), the others one by one."""
    out: list = [None] * len(filters)
    ready = [i for i, (m, x) in enumerate(zip(filters, vectors))
             if m.alpha_shape < 1.0 and x.size <= _SMALL and x.size % 2 == 0 and m._state.get(name) is not None
             and m._state[name].shape == x.shape and x.shape == vectors[0].shape]
    if len(ready) > 1:
        x = np.stack([vectors[i] for i in ready]).astype(np.float64)
        prev = np.stack([filters[i]._state[name] for i in ready]).astype(np.float64)
        a = np.array([filters[i].alpha_shape for i in ready])[:, None]
        res = (x * a + prev * (1.0 - a) + 0.0).astype(np.float32)
        res.reshape(len(ready), -1, 2)[...] += np.stack([filters[i]._shift[:2] for i in ready])[:, None, :]
        for k, i in enumerate(ready):
            np.copyto(filters[i]._state[name], res[k])
            out[i] = res[k]
    for i, (m, x) in enumerate(zip(filters, vectors)):
        if out[i] is None:
            out[i] = m.blend(name, x, (x.size // 2, 2))
    return out


class _FaceState:
    def __init__(self, pos_cfg: SmoothingConfig, pose_cfg: SmoothingConfig):
        self.motion = FaceMotionFilter(pos_cfg)
        self.pose = AngleFilter(pose_cfg)


def face_size(face: Face) -> float:
    """Face size in pixels: sqrt of the box area (at least 1)."""
    x1, y1, x2, y2 = corners(face.bbox)
    return max(1.0, math.sqrt(max(0.0, x2 - x1) * max(0.0, y2 - y1)))


def _as(x: np.ndarray, like) -> np.ndarray:
    """x in the dtype of `like` (the caller's arrays keep their dtype; float32 is not copied)."""
    dt = getattr(like, "dtype", None)
    return x if dt is None or dt == x.dtype else x.astype(dt)


class FaceSmoother:
    """Smoothing per face id. Call it on each FrameResult in order.

    Returns a new FrameResult with new Face objects (the input is not modified). When disabled
    (config.enabled False) the input is returned unchanged. Times come from
    `result.timestamp_ms`, else from `result.frame / nominal_fps`.
    """

    def __init__(self, config: Optional[SmoothingConfig] = None, pose_config: Optional[SmoothingConfig] = None,
                 smooth_dense: bool = True, scale_invariant: bool = True):
        self.config = config or DEFAULT_POSITION
        # pose: the position config's cutoffs (Hz) with the pose beta and no dead zone (its speed unit differs)
        self.pose_config = pose_config or dataclasses.replace(
            self.config, beta=DEFAULT_POSE.beta, speed_floor=DEFAULT_POSE.speed_floor, min_cutoff=DEFAULT_POSE.min_cutoff)
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

    def smooth_into(self, face: Face, t: float) -> None:
        """Smooth `face` in place (its landmarks, box, ROI, pose, dense get new arrays; params and
        camera are untouched): for a Face its caller owns, e.g. the pipeline's own results."""
        self._smooth([face], t)

    def _smooth(self, faces: list, t: float) -> None:
        """`smooth_into` of a frame's faces: their landmarks filtered together (`step_faces`), the rest per face."""
        states = []
        for face in faces:
            st = self._states.get(face.id)
            if st is None:
                st = self._states[face.id] = _FaceState(self.config, self.pose_config)
            states.append(st)
        sizes = [face_size(f) if self.scale_invariant else 1.0 for f in faces]
        lms = ([states[0].motion.step(faces[0].landmarks, t, sizes[0])] if len(faces) == 1 else
               step_faces([st.motion for st in states], [f.landmarks for f in faces], t, sizes))
        # box and ROI corners, (x, y) pairs, blended as one vector per face (all faces' at once when they can be)
        vecs = [np.asarray(f.bbox, np.float32).reshape(-1) if f.roi is None else
                np.array(np.asarray(f.bbox).reshape(-1).tolist() + np.asarray(f.roi).reshape(-1).tolist(), np.float32)
                for f in faces]
        blended = ([states[0].motion.blend("corners", vecs[0], (vecs[0].size // 2, 2))] if len(faces) == 1 else
                   blend_small([st.motion for st in states], "corners", vecs))
        for face, st, lm, vec in zip(faces, states, lms, blended):
            m = st.motion
            face.landmarks = _as(lm, face.landmarks)
            box, roi = face.bbox, face.roi
            nb = np.size(box)
            face.bbox = _as(vec[:nb], box)
            if roi is not None:
                face.roi = _as(vec[nb:], roi)
            p = face.pose
            face.pose = Pose(*st.pose((p.yaw, p.pitch, p.roll), t))
            if face.dense is not None and self.smooth_dense:
                face.dense = _as(m.blend("dense", face.dense, (face.dense.shape[0], face.dense.shape[-1])), face.dense)
            elif face.dense is None:
                m.forget("dense")

    def time_of(self, frame: int, timestamp_ms: Optional[float]) -> float:
        """The sample time (s) of a frame: its timestamp (ms) / 1000, else frame / nominal_fps."""
        return float(timestamp_ms) / 1000.0 if timestamp_ms is not None else float(frame) / self.config.nominal_fps

    def apply(self, faces: list, t: float) -> None:
        """Smooth one frame's faces in place (`smooth_into`, for faces the caller owns) and forget the
        ids not among them; what `__call__` does without copying."""
        if faces:
            self._smooth(list(faces), t)
        states = self._states
        present = {f.id for f in faces}
        if len(states) != len(present):  # states hold every present id
            for fid in [i for i in states if i not in present]:
                del states[fid]

    def __call__(self, result: FrameResult) -> FrameResult:
        if not self.enabled:
            return result
        faces = [copy.copy(f) for f in result.faces]  # new Face objects: the input is not modified
        self.apply(faces, self.time_of(result.frame, result.timestamp_ms))
        return dataclasses.replace(result, faces=faces)
