"""`dense_approx`: an APPROXIMATE dense face mesh without the dense BFM basis.

The exact dense mesh needs the BFM (configs/bfm_noneck_v3.pkl, academic-use licence, an
optional download). Without it this module builds the next best thing from MIT-licensed data:

1. the 3DDFA dense mean face (u_shp + u_exp of 3DDFA v1, 53,215 vertices) restricted to the
   38,365 no-neck vertices of 3DDFA_V2 (`indices`; its normalised coordinates are exactly
   ncc_code), with the no-neck triangles (configs/tri.pkl);
2. per frame, the 68 sparse landmarks of the params BEFORE the pose,
   `S = u_base + W_shp_base a_shp + W_exp_base a_exp` (3, 68), and their offsets
   `D = S - K0` from the mean face's own 68 keypoints `K0` (u_mean[keypoints_sim]);
3. the offsets spread to every vertex by a radial-basis-function interpolator with an affine
   term, precomputed ONCE as a (68, N) matrix `P`: `shape = V0 + D @ P`, posed as the BFM:
   `R @ shape + offset`. Stored as one (N, 71) array `[P.T | V0.T]`, so a face costs a single
   (N, 71) @ (71, 3) product (~1 ms for N = 38,365 single-threaded).

At alpha = 0 this is the 3DDFA mean face, exactly; the interpolator passes through the keypoints
(their columns of `P` are set to unit vectors), so the mesh's 68 keypoint vertices coincide with
`tdmm.sparse_landmarks` (residual ~1e-4 px, float32 rounding). Between and beyond the keypoints
(forehead, cheeks) the shape is an interpolation, not the BFM: label every output `dense_approx`.

Kernels (`KERNELS`): "linear" phi(r) = r (the 3D biharmonic spline, the default), "cubic"
phi(r) = r^3, "gaussian" exp(-(r / sigma)^2); each with an affine polynomial term, so a global
affine change of the landmarks (e.g. a wider face) is reproduced exactly everywhere.
`loo_error` rates a kernel by leave-one-landmark-out prediction. On the regressor's params for
the 18 annotated faces of shared/eval/faces68 (offsets median 1.0 px in the 120 crop):
  linear   LOO mean 0.50 px, median 0.22, p90 1.0   no flipped triangle, median normal change 1.3 deg
  cubic    LOO mean 0.67 px, median 0.25, p90 1.8   1,322 flipped triangles (worst face)
  gaussian LOO mean 1.0-7.4 px (sigma 0.3-1.0)
  baselines: no deformation 1.90 px mean, affine fit only 1.50 px mean.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from edgeface.dense.decimate import decimate_mesh, vertex_positions
from edgeface.errors import EdgefaceError
from edgeface.hub import assets
from edgeface.runtime import tdmm

KIND = "dense_approx"
KERNELS = ("linear", "cubic", "gaussian")
DEFAULT_KERNEL = "linear"


# ----------------------------------------------------------------------------- RBF interpolation

def _phi(r: np.ndarray, kernel: str, sigma: float) -> np.ndarray:
    if kernel == "linear":
        return r
    if kernel == "cubic":
        return r ** 3
    if kernel == "gaussian":
        return np.exp(-(r / sigma) ** 2)
    raise EdgefaceError(f"RBF kernel {kernel!r} is unknown: use one of {', '.join(KERNELS)}")


def _dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances (len(a), len(b)) of point rows, float64, without a (n, m, 3) temporary."""
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.sqrt(np.maximum(d2, 0.0))


def rbf_matrix(centers: np.ndarray, points: np.ndarray, kernel: str = DEFAULT_KERNEL, sigma: float = 0.5,
               chunk: int = 8192) -> np.ndarray:
    """The linear map (K, M) from values at `centers` (K, 3) to RBF-interpolated values at
    `points` (M, 3): `values_at_points = values_at_centers @ matrix` for values (C, K).

    Interpolant: `f(x) = sum_i c_i phi(|x - k_i|) + d0 + d . x` with sum_i c_i = 0 and
    sum_i c_i k_i = 0 (the affine part is reproduced exactly). Coordinates are normalised by
    the centres' RMS radius first, so `sigma` (gaussian) is in those units.
    """
    c = np.asarray(centers, dtype=np.float64)
    p = np.asarray(points, dtype=np.float64)
    if c.ndim != 2 or c.shape[1] != 3 or p.ndim != 2 or p.shape[1] != 3:
        raise EdgefaceError(f"RBF centres and points must be (K, 3) and (M, 3), got {c.shape} and {p.shape}")
    mu = c.mean(axis=0)
    scale = float(np.sqrt(((c - mu) ** 2).sum(axis=1).mean())) or 1.0
    c = (c - mu) / scale
    p = (p - mu) / scale
    k = c.shape[0]
    A = _phi(_dist(c, c), kernel, sigma)
    P = np.hstack([np.ones((k, 1)), c])
    system = np.zeros((k + 4, k + 4))
    system[:k, :k] = A
    system[:k, k:] = P
    system[k:, :k] = P.T
    rhs = np.zeros((k + 4, k))
    rhs[:k] = np.eye(k)
    coef = np.linalg.solve(system, rhs)  # (K+4, K): column j = interpolant of the j-th unit vector
    out = np.empty((k, p.shape[0]), dtype=np.float64)
    for s in range(0, p.shape[0], chunk):
        q = p[s:s + chunk]
        basis = np.hstack([_phi(_dist(q, c), kernel, sigma), np.ones((q.shape[0], 1)), q])  # (m, K+4)
        out[:, s:s + chunk] = (basis @ coef).T
    return out


def loo_error(centers: np.ndarray, values: np.ndarray, kernel: str = DEFAULT_KERNEL, sigma: float = 0.5) -> np.ndarray:
    """Leave-one-out: for each centre, the error (norm over C) of predicting its value (C, K)
    from the other K-1 centres. Returns (K,) (or (F, K) for values (F, C, K))."""
    c = np.asarray(centers, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    k = c.shape[0]
    errs = []
    for i in range(k):
        others = np.delete(np.arange(k), i)
        m = rbf_matrix(c[others], c[i:i + 1], kernel, sigma)  # (K-1, 1)
        pred = v[..., others] @ m  # (..., C, 1)
        errs.append(np.linalg.norm(pred[..., 0] - v[..., i], axis=-1))
    return np.stack(errs, axis=-1)


# ----------------------------------------------------------------------------- the model

@dataclass(frozen=True, eq=False)
class ApproxDenseModel:
    """The `dense_approx` mesh: `R @ (mean + D @ interp) + offset` with D the sparse landmark offsets.

    `basis` (N, 71) float32: columns 0-67 are the interpolation weights `interp.T` of the 68
    landmark offsets at each vertex, columns 68-70 the unposed mean face (x, y, z), so one
    (N, 71) @ (71, 3) product gives the posed vertices. `keypoints` (68,) vertex indices into the
    N vertices; `sparse_w` (50, 204) and `sparse_u` (204,) the sparse bases (rows x, y, z
    interleaved per landmark); `kp_mean` (3, 68) the mean face's keypoints; `vertex_ids` indices
    into the full no-neck mesh.
    """

    basis: np.ndarray
    tri: np.ndarray
    keypoints: np.ndarray
    vertex_ids: np.ndarray
    sparse_u: np.ndarray
    sparse_w: np.ndarray
    kp_mean: np.ndarray
    n_shp: int = 40
    n_exp: int = 10
    kernel: str = DEFAULT_KERNEL
    kind: str = KIND

    def __post_init__(self):
        if self.basis.ndim != 2 or self.basis.shape[1] != 71:
            raise EdgefaceError(f"dense_approx basis must be (N, 71), got {self.basis.shape}")
        if self.vertex_ids.shape != (self.basis.shape[0],):
            raise EdgefaceError(f"dense_approx vertex_ids must be ({self.basis.shape[0]},), got {self.vertex_ids.shape}")

    @property
    def n_vertices(self) -> int:
        return self.basis.shape[0]

    @property
    def interp(self) -> np.ndarray:
        """(68, N) view: offsets (C, 68) @ interp = offsets at the vertices (C, N)."""
        return self.basis[:, :68].T

    @property
    def mean(self) -> np.ndarray:
        """(3, N) view of the unposed mean face."""
        return self.basis[:, 68:].T

    def landmark_offsets(self, params) -> np.ndarray:
        """D (3, 68): the params' unposed sparse landmarks minus the mean face's keypoints."""
        a = tdmm.shape_expression(params, self.n_shp, self.n_exp, "the sparse bases")
        s = (self.sparse_u + a @ self.sparse_w).reshape(-1, 3).T  # (3, 68)
        return s - self.kp_mean

    def _apply(self, M: np.ndarray, D: np.ndarray, offset: np.ndarray) -> np.ndarray:
        """(3, N) = M @ (mean + D @ interp) + offset, as one (N, 71) @ (71, 3) product."""
        coef = np.empty((71, 3), dtype=np.float32)
        coef[:68] = (M @ D).T
        coef[68:] = M.T
        out = self.basis @ coef  # (N, 3)
        out += offset.reshape(1, 3).astype(np.float32)
        return out.T

    def shape(self, params) -> np.ndarray:
        """The unposed approximate shape (3, N) float32."""
        return self._apply(np.eye(3, dtype=np.float32), self.landmark_offsets(params).astype(np.float32), np.zeros(3, np.float32))

    def vertices(self, params) -> np.ndarray:
        """Model-space vertices (3, N) float32 (a transposed view of an (N, 3) array)."""
        R, offset, _, _ = tdmm.split_params(params)
        return self._apply(R.astype(np.float32), self.landmark_offsets(params).astype(np.float32), offset)

    def image_vertices(self, params, roi, size: int = 120) -> np.ndarray:
        """Vertices (3, N) in frame pixels: `tdmm.to_image(self.vertices(params), roi)` with the
        image mapping (a scale and shift per coordinate, then min z = 0) folded into the one
        (N, 71) @ (71, 3) product instead of applied to the 38k vertices after it (equal within
        float32 rounding, ~1e-4 px). A transposed view of a C-contiguous (N, 3) array."""
        R, offset, _, _ = tdmm.split_params(params)
        sx, sy, ex, ey = (float(v) for v in np.asarray(roi, dtype=np.float64).reshape(-1)[:4])
        kx, ky = (ex - sx) / size, (ey - sy) / size
        ks = (kx + ky) / 2
        # to_image: x' = kx (x - 1) + sx, y' = ky (size - y) + sy, z' = ks (z - 1): x' = k x + b per coordinate
        k = np.array([kx, -ky, ks], np.float32)
        b = np.array([sx - kx, sy + ky * size, -ks], np.float64) + np.asarray(offset, np.float64).reshape(3) * k
        out = self._apply(R.astype(np.float32) * k[:, None], self.landmark_offsets(params).astype(np.float32),
                          b.astype(np.float32))
        z = out[2]
        z -= z.min()
        return out

    def mean_vertices(self) -> np.ndarray:
        return self.mean

    def subset(self, keep: np.ndarray, tri: np.ndarray) -> "ApproxDenseModel":
        keep = np.asarray(keep, dtype=np.int64)
        kp = vertex_positions(keep, self.n_vertices)[self.keypoints]
        if np.any(kp < 0):
            raise EdgefaceError("dense_approx subset drops some of the 68 keypoints: keep them")
        return replace(self, basis=np.ascontiguousarray(self.basis[keep]), tri=np.ascontiguousarray(tri, dtype=np.int32),
                       keypoints=kp, vertex_ids=self.vertex_ids[keep])

    def decimate(self, target_vertices: int) -> "ApproxDenseModel":
        keep, tri = decimate_mesh(self.mean, self.tri, target_vertices, keep=self.keypoints)
        return self.subset(keep, tri)


def keypoint_vertices(keypoints_rows, indices) -> tuple[np.ndarray, np.ndarray]:
    """Map the 68 landmarks (204 rows into the 3 x 53,215 dense vectors, keypoints_sim) to the
    no-neck mesh: returns (positions (68,) into `indices` or -1, missing (landmark numbers))."""
    rows = np.asarray(keypoints_rows, dtype=np.int64).reshape(-1)
    if rows.size != 204:
        raise EdgefaceError(f"expected 204 keypoint rows (68 x 3), got {rows.size}")
    v = rows[0::3] // 3
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    pos = vertex_positions(idx, int(max(idx.max(initial=0), v.max(initial=0))) + 1)[v]
    return pos, np.flatnonzero(pos < 0)


def build_approx_model(u_mean, indices, tri, keypoints_rows, sparse_u, sparse_w_shp, sparse_w_exp,
                       kernel: str = DEFAULT_KERNEL, sigma: float = 0.5) -> ApproxDenseModel:
    """Assemble the `dense_approx` model from the mesh asset arrays and the sparse bases."""
    u_mean = np.asarray(u_mean, dtype=np.float64).reshape(-1)
    if u_mean.size % 3:
        raise EdgefaceError(f"dense mean face has {u_mean.size} values, not x, y, z per vertex")
    full = u_mean.reshape(-1, 3)  # (53215, 3) interleaved rows
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    if idx.max(initial=0) >= full.shape[0]:
        raise EdgefaceError(f"no-neck indices reach {idx.max()} but the mean face has {full.shape[0]} vertices")
    mean = full[idx]  # (N, 3)
    kp, missing = keypoint_vertices(keypoints_rows, idx)
    if missing.size:
        raise EdgefaceError(f"landmarks {missing.tolist()} are not vertices of the no-neck mesh: the mesh files do not match")
    kp_rows = np.asarray(keypoints_rows, dtype=np.int64).reshape(-1)
    kp_mean = u_mean[kp_rows].reshape(-1, 3).T  # (3, 68)
    su = np.asarray(sparse_u, dtype=np.float32).reshape(-1)
    sw = np.concatenate([np.asarray(sparse_w_shp, np.float32), np.asarray(sparse_w_exp, np.float32)], axis=1)
    if su.shape != (204,) or sw.shape[0] != 204:
        raise EdgefaceError(f"sparse bases must have 204 rows, got u {su.shape}, w {sw.shape}")
    interp = rbf_matrix(kp_mean.T, mean, kernel=kernel, sigma=sigma)
    interp[:, kp] = np.eye(68)  # exact at the keypoints (removes the solve's rounding)
    basis = np.ascontiguousarray(np.hstack([interp.T, mean]), dtype=np.float32)
    return ApproxDenseModel(
        basis=basis, tri=np.ascontiguousarray(np.asarray(tri, dtype=np.int32)), keypoints=kp, vertex_ids=np.arange(idx.size, dtype=np.int64),
        sparse_u=su, sparse_w=np.ascontiguousarray(sw.T), kp_mean=kp_mean.astype(np.float32),
        n_shp=int(np.asarray(sparse_w_shp).shape[1]), n_exp=int(np.asarray(sparse_w_exp).shape[1]), kernel=kernel,
    )


def load_approx_model(root: Optional[Path] = None, kernel: str = DEFAULT_KERNEL, sigma: float = 0.5) -> ApproxDenseModel:
    """The `dense_approx` model from the cached mesh and sparse_bases assets (`edgeface fetch`)."""
    mesh = assets.load_mesh(root)
    sb = assets.load_sparse_bases(root)
    return build_approx_model(mesh["u_mean"], mesh["indices"], mesh["tri"], mesh["keypoints"], sb.u, sb.w_shp, sb.w_exp,
                              kernel=kernel, sigma=sigma)


__all__: Sequence[str] = ("KIND", "KERNELS", "ApproxDenseModel", "rbf_matrix", "loo_error", "keypoint_vertices",
                          "build_approx_model", "load_approx_model")
