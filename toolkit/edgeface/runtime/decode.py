"""The per-face decoding of the pipeline's hot path: params -> 68 landmarks in frame pixels, and pose.

Same numbers as `tdmm.sparse_landmarks` + `tdmm.to_image` and `tdmm.pose_from_params` (upstream's
order of operations, float32 landmarks, float64 pose), without their per-call checks and
temporaries: the bases are validated and laid out once (`SparseDecoder(u, w_shp, w_exp)`), the
rotation is decomposed on 9 Python floats, and the landmark maths writes into preallocated
buffers (the returned array is a fresh copy: results must never alias a buffer reused next call).
Not thread-safe: one decoder per pipeline.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from edgeface.errors import EdgefaceError
from edgeface.runtime.tdmm import GIMBAL_THRESHOLD

CROP = 120  # regressor input size: the model space of the params


class SparseDecoder:
    def __init__(self, u, w_shp, w_exp, n_shp: int = 40, n_exp: int = 10):
        u = np.asarray(u, np.float32).reshape(-1)
        w_shp = np.asarray(w_shp, np.float32)
        w_exp = np.asarray(w_exp, np.float32)
        if u.size % 3 or w_shp.shape[0] != u.size or w_exp.shape[0] != u.size:
            raise EdgefaceError(f"sparse bases do not fit together: u {u.shape}, w_shp {w_shp.shape}, w_exp {w_exp.shape}")
        if w_shp.shape[1] < n_shp or w_exp.shape[1] < n_exp:
            raise EdgefaceError(f"sparse bases have {w_shp.shape[1]}/{w_exp.shape[1]} columns, params need {n_shp}/{n_exp}")
        self.u = u.reshape(-1, 1)
        self.w_shp = np.ascontiguousarray(w_shp[:, :n_shp])
        self.w_exp = np.ascontiguousarray(w_exp[:, :n_exp])
        self.n = u.size // 3
        self.n_shp, self.n_exp = n_shp, n_exp
        self._shape = np.empty((u.size, 1), np.float32)
        self._tmp = np.empty((u.size, 1), np.float32)
        self._cam = np.empty((3, 4), np.float32)
        self._pts = np.empty((3, self.n), np.float32)
        self._k = np.empty((3, 1), np.float32)  # per call: x, y, z scales of the ROI
        self._base = np.zeros((3, 1), np.float32)  # per call: the ROI's corner (z: 0)

    #: [s*R | t] with its y row negated: R @ shape + t then gives (x, -y, z) (negation is exact in IEEE)
    _FLIP_Y = np.array([[1.0] * 4, [-1.0] * 4, [1.0] * 4], np.float32)
    #: + (-1, CROP, -1): x - 1, CROP - y, z - 1 (upstream similar_transform), exactly as those subtractions
    _SHIFT = np.array([[-1.0], [float(CROP)], [-1.0]], np.float32)

    def landmarks(self, params: np.ndarray, roi) -> np.ndarray:
        """(N, 3) float32 landmarks in frame pixels of `params` (62,) regressed from the crop `roi`."""
        return self._points(params, roi).T.copy()

    def _points(self, params: np.ndarray, roi) -> np.ndarray:
        """`landmarks` as rows x, y, z (3, N): the decoder's own buffer, valid until the next call."""
        p = params
        if p.dtype != np.float32 or p.ndim != 1 or p.size != 12 + self.n_shp + self.n_exp:
            raise EdgefaceError(f"params must be a ({12 + self.n_shp + self.n_exp},) float32 vector, got {p.dtype} {p.shape}")
        cam = np.multiply(p[:12].reshape(3, 4), self._FLIP_Y, out=self._cam)
        a_shp = p[12:12 + self.n_shp].reshape(-1, 1)
        a_exp = p[12 + self.n_shp:].reshape(-1, 1)
        shape = np.matmul(self.w_shp, a_shp, out=self._shape)  # u + w_shp a_shp + w_exp a_exp, as upstream
        np.add(self.u, shape, out=shape)
        np.add(shape, np.matmul(self.w_exp, a_exp, out=self._tmp), out=shape)
        pts = np.matmul(cam[:, :3], shape.reshape(-1, 3).T, out=self._pts)  # rows x, -y, z
        pts += cam[:, 3:]
        # to frame pixels (upstream similar_transform): x-1, size-y, z-1, scaled by the ROI, min z = 0,
        # in float32 with the same roundings as those steps one by one (scales and corner cast to float32)
        pts += self._SHIFT
        sx, sy, ex, ey = roi[:4].tolist() if isinstance(roi, np.ndarray) else (float(v) for v in roi[:4])
        kx, ky = (ex - sx) / CROP, (ey - sy) / CROP
        k, base = self._k, self._base
        k[0, 0], k[1, 0], k[2, 0] = kx, ky, (kx + ky) / 2
        base[0, 0], base[1, 0] = sx, sy
        pts *= k
        pts += base
        z = pts[2]
        z -= z.min()
        return pts

    def landmarks_many(self, params: np.ndarray, rois: np.ndarray) -> np.ndarray:
        """(F, N, 3) float32 landmarks of F faces at once: `params` (F, 62) float32, `rois` (F, 4) their crops.

        The same bits per face as `landmarks` (the same float32 operations in the same order; numpy's
        stacked matmul runs the 2-D product of each face as `landmarks` does), with one numpy call per step
        for all the faces of a frame instead of one per face."""
        return self._points_many(params, rois).transpose(0, 2, 1).copy()

    def decode(self, params: Sequence[np.ndarray], rois: Sequence) -> tuple:
        """The landmarks of a frame's faces (`params[i]` (62,) float32 regressed from the crop `rois[i]`):
        ((F, N, 3) float32 as `landmarks` / `landmarks_many`, each face's (x, y, z) minimum over its points,
        its maximum), the extremes as lists of Python floats, taken on the rows before the transpose (a
        reduction along contiguous rows: ~2 us for 16 faces, ~50 us on the (F, N, 3) result). One face takes
        `landmarks`' path, several `landmarks_many`'s. A NaN or inf anywhere reaches the extremes."""
        if len(params) == 1:
            rows = self._points(params[0], rois[0])[None]
        else:
            rows = self._points_many(np.stack(params), np.stack(rois))
        lo, hi = np.minimum.reduce(rows, axis=2).tolist(), np.maximum.reduce(rows, axis=2).tolist()
        return rows.transpose(0, 2, 1).copy(), lo, hi

    def _points_many(self, params: np.ndarray, rois: np.ndarray) -> np.ndarray:
        """`landmarks_many` as rows x, y, z per face (F, 3, N), a new array."""
        p = params
        f = p.shape[0] if p.ndim == 2 else 0
        if p.dtype != np.float32 or p.ndim != 2 or p.shape[1] != 12 + self.n_shp + self.n_exp or f == 0:
            raise EdgefaceError(f"params must be (F, {12 + self.n_shp + self.n_exp}) float32, got {p.dtype} {p.shape}")
        r = np.asarray(rois, np.float64).reshape(f, -1)[:, :4]
        cam = p[:, :12].reshape(f, 3, 4) * self._FLIP_Y
        shape = np.matmul(self.w_shp, p[:, 12:12 + self.n_shp, None])  # (F, 3N, 1), per face as `landmarks`
        shape = np.add(self.u, shape, out=shape)
        shape += np.matmul(self.w_exp, p[:, 12 + self.n_shp:, None])
        pts = np.matmul(cam[:, :, :3], shape.reshape(f, -1, 3).transpose(0, 2, 1))  # (F, 3, N): x, -y, z
        pts += cam[:, :, 3:]
        pts += self._SHIFT
        kx = (r[:, 2] - r[:, 0]) / CROP  # float64 as `landmarks`' Python floats, then float32
        ky = (r[:, 3] - r[:, 1]) / CROP
        k = np.stack([kx, ky, (kx + ky) / 2], axis=1).astype(np.float32)[:, :, None]
        base = np.zeros((f, 3, 1), np.float32)
        base[:, 0, 0], base[:, 1, 0] = r[:, 0], r[:, 1]
        pts *= k
        pts += base
        z = pts[:, 2]
        z -= z.min(axis=1, keepdims=True)
        return pts


def pose_degrees(params) -> tuple:
    """(yaw, pitch, roll) in degrees (upstream `calc_pose`: P2sRt, then matrix2angle), on floats."""
    r = params[:11].tolist() if isinstance(params, np.ndarray) else [float(v) for v in params[:11]]
    a0, a1, a2, b0, b1, b2 = r[0], r[1], r[2], r[4], r[5], r[6]
    n1 = math.sqrt(a0 * a0 + a1 * a1 + a2 * a2)
    n2 = math.sqrt(b0 * b0 + b1 * b1 + b2 * b2)
    if n1 == 0.0 or n2 == 0.0:
        raise EdgefaceError("camera matrix has a zero row: the params do not describe a face pose")
    a0, a1, a2 = a0 / n1, a1 / n1, a2 / n1
    b0, b1, b2 = b0 / n2, b1 / n2, b2 / n2
    c0, c1, c2 = a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0  # third row: r1 x r2
    # R = [[a0 a1 a2], [b0 b1 b2], [c0 c1 c2]]; matrix2angle on it
    if c0 > GIMBAL_THRESHOLD:
        yaw, pitch, roll = math.pi / 2, math.atan2(-a1, -a2), 0.0
    elif c0 < -GIMBAL_THRESHOLD:
        yaw, pitch, roll = -math.pi / 2, math.atan2(a1, a2), 0.0
    else:
        yaw = math.asin(c0)
        c = math.cos(yaw)
        pitch = math.atan2(c1 / c, c2 / c)
        roll = math.atan2(b0 / c, a0 / c)
    k = 180 / math.pi
    return yaw * k, pitch * k, roll * k


__all__ = ("SparseDecoder", "pose_degrees")
