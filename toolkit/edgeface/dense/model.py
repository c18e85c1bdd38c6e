"""Dense face reconstruction: the 38,365-vertex mesh of a face from its 62 3DMM params.

Two models share one interface (`DenseReconstructor`): `vertices(params) -> (3, N)` in the
model space of the 120x120 crop, `image_vertices(params, roi)` in frame pixels (via
`tdmm.to_image`, upstream `similar_transform`), `tri` (M, 3), `keypoints` (68 vertex indices),
`vertex_ids` (indices into the full no-neck mesh, for colour codes such as PNCC), `kind`.

* `DenseModel` (kind "bfm"): the exact 3DDFA_V2 reconstruction
  `R @ (u + W_shp a_shp + W_exp a_exp).reshape(3, -1, order="F") + offset` with the dense BFM
  (optional download, academic-use licence).
* `edgeface.dense.approx.ApproxDenseModel` (kind "dense_approx"): the mean face warped so that
  its 68 keypoints follow the regressed sparse landmarks (no BFM needed).

Speed: the basis is stored "planar" and transposed, `w` (K, 3N) with columns x of every
vertex, then y, then z; `a @ w` (one BLAS gemv reading the basis once) gives the shape already
as (3, N) without the interleaved reshape/transpose copy, then one 3x3 product poses it. The
basis read (23 MB for float32, 38,365 vertices, 50 columns) dominates: ~1 ms per face
single-threaded on the development machine. `decimate` keeps a vertex subset (vertex clustering
on the mean face, `edgeface.dense.decimate`; the 68 keypoints always kept) with re-indexed
triangles, for slow boards. `edgeface.dense.loading.load_dense_model` picks and loads a model.
float16 bases (`hub.bfm_npz`, storage dtype) halve the file; they are cast to float32 at load:
numpy has no float16 BLAS (a float16 gemv takes ~15-30 ms) and the shape coefficients (up to
~1e6) overflow float16, so the product is always float32.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol, Sequence

import numpy as np

from edgeface.dense.decimate import decimate_mesh, vertex_positions
from edgeface.errors import EdgefaceError
from edgeface.runtime import tdmm


class DenseReconstructor(Protocol):
    kind: str
    tri: np.ndarray
    keypoints: np.ndarray
    vertex_ids: np.ndarray

    @property
    def n_vertices(self) -> int: ...

    def vertices(self, params) -> np.ndarray: ...

    def image_vertices(self, params, roi, size: int = 120) -> np.ndarray: ...


# ----------------------------------------------------------------------------- layout helpers

def planar_columns(vertex_ids: np.ndarray, n_vertices: int) -> np.ndarray:
    """Columns of a planar (x block | y block | z block) 3N layout that hold `vertex_ids`."""
    v = np.asarray(vertex_ids, dtype=np.int64)
    return np.concatenate([v, v + n_vertices, v + 2 * n_vertices])


def interleaved_to_planar(a: np.ndarray) -> np.ndarray:
    """Rows x0,y0,z0,x1,... (3N, ...) -> rows x0..xN-1, y0.., z0.. (3N, ...) (a copy)."""
    a = np.asarray(a)
    n = a.shape[0] // 3
    return np.ascontiguousarray(a.reshape((n, 3) + a.shape[1:]).swapaxes(0, 1).reshape(a.shape))


def _pose(R: np.ndarray, shape3: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """R (3,3) @ shape (3, N) + offset (3, 1), float32."""
    out = np.einsum("ij,jn->in", R.astype(np.float32, copy=False), shape3)
    out += offset.astype(np.float32, copy=False)
    return out


def check_triangles(tri, n_vertices: int, dtype=np.int32) -> np.ndarray:
    """`tri` as a C-contiguous (M, 3) integer array of `dtype`, if it indexes only the
    `n_vertices` vertices; else a one-line EdgefaceError (used by the renderer and the mesh writers)."""
    t = np.asarray(tri)
    if t.ndim != 2 or t.shape[1] != 3 or t.dtype.kind not in "iu":
        raise EdgefaceError(f"mesh triangles must be integer (M, 3), got {t.dtype} {t.shape}")
    if t.size and (int(t.min()) < 0 or int(t.max()) >= n_vertices):
        raise EdgefaceError(f"mesh triangles index vertices {int(t.min())}..{int(t.max())} but there are "
                            f"{n_vertices} vertices: pass the mesh's own triangles")
    return np.ascontiguousarray(t, dtype=dtype)


# ----------------------------------------------------------------------------- the BFM model

@dataclass(frozen=True, eq=False)
class DenseModel:
    """Dense 3DMM with the basis laid out for one vector-matrix product.

    `u` (3N,) and `w` (n_shp + n_exp, 3N) are PLANAR (all x, then all y, then all z);
    `w` rows are the 40 shape then 10 expression components (float32). `vertex_ids` maps the model's vertices to the full no-neck
    mesh (arange(N) unless decimated).
    """

    u: np.ndarray
    w: np.ndarray
    tri: np.ndarray
    keypoints: np.ndarray
    vertex_ids: np.ndarray
    n_shp: int = 40
    n_exp: int = 10
    kind: str = "bfm"

    def __post_init__(self):
        rows = self.u.size
        if self.u.ndim != 1 or rows == 0 or rows % 3:
            raise EdgefaceError(f"dense model: u must be (3N,), got {self.u.shape}")
        if self.w.shape != (self.n_shp + self.n_exp, rows):
            raise EdgefaceError(f"dense model: w must be ({self.n_shp + self.n_exp}, {rows}), got {self.w.shape}")
        if self.w.dtype != np.float32 or self.u.dtype != np.float32:
            raise EdgefaceError(f"dense model: u and w must be float32, got {self.u.dtype} / {self.w.dtype}")
        if self.vertex_ids.shape != (rows // 3,):
            raise EdgefaceError(f"dense model: vertex_ids must be ({rows // 3},), got {self.vertex_ids.shape}")

    @property
    def n_vertices(self) -> int:
        return self.u.size // 3

    @classmethod
    def from_interleaved(cls, u, w_shp, w_exp, tri, keypoints, vertex_ids=None, kind: str = "bfm") -> "DenseModel":
        """Build from upstream-layout bases: u (3N,[1]), w_shp (3N, 40), w_exp (3N, 10) rows
        interleaved per vertex; `keypoints` either 204 rows (upstream) or 68 vertex indices."""
        u = np.asarray(u, dtype=np.float32).reshape(-1)
        n = u.size // 3
        w_shp = np.asarray(w_shp)
        w_exp = np.asarray(w_exp)
        if w_shp.ndim != 2 or w_exp.ndim != 2 or w_shp.shape[0] != u.size or w_exp.shape[0] != u.size:
            raise EdgefaceError(f"dense bases disagree: u {u.shape}, w_shp {w_shp.shape}, w_exp {w_exp.shape}")
        w = np.concatenate([w_shp, w_exp], axis=1).astype(np.float32)  # (3N, K) interleaved rows
        w = np.ascontiguousarray(interleaved_to_planar(w).T)  # (K, 3N) planar columns
        k = np.asarray(keypoints, dtype=np.int64).reshape(-1)
        if k.size == 204:
            k = k[0::3] // 3
        if k.size != 68 or k.min() < 0 or k.max() >= n:
            raise EdgefaceError(f"dense model: keypoints must be 204 rows or 68 vertex indices below {n}")
        return cls(u=interleaved_to_planar(u), w=w, tri=np.ascontiguousarray(np.asarray(tri, dtype=np.int32)),
                   keypoints=k, vertex_ids=np.arange(n, dtype=np.int64) if vertex_ids is None else np.asarray(vertex_ids, np.int64),
                   n_shp=w_shp.shape[1], n_exp=w_exp.shape[1], kind=kind)

    def shape(self, params) -> np.ndarray:
        """The unposed shape `u + W a` as (3, N) float32."""
        a = tdmm.shape_expression(params, self.n_shp, self.n_exp, "the dense model")
        s = a @ self.w
        s += self.u
        return s.reshape(3, -1)

    def vertices(self, params) -> np.ndarray:
        """Model-space vertices (3, N) float32 (upstream `recon_dense`)."""
        R, offset, _, _ = tdmm.split_params(params)
        return _pose(R, self.shape(params), offset)

    def image_vertices(self, params, roi, size: int = 120) -> np.ndarray:
        """Vertices (3, N) in frame pixels (x right, y down, z toward the camera, min z = 0)."""
        return tdmm.to_image(self.vertices(params), roi, size)

    def subset(self, keep: np.ndarray, tri: np.ndarray) -> "DenseModel":
        """The model restricted to the vertices `keep` (indices into this model), `tri` re-indexed
        into `keep`. Keypoints must all be kept."""
        keep = np.asarray(keep, dtype=np.int64)
        pos = vertex_positions(keep, self.n_vertices)
        kp = pos[self.keypoints]
        if np.any(kp < 0):
            raise EdgefaceError("dense model subset drops some of the 68 keypoints: keep them")
        cols = planar_columns(keep, self.n_vertices)
        return replace(self, u=np.ascontiguousarray(self.u[cols]), w=np.ascontiguousarray(self.w[:, cols]),
                       tri=np.ascontiguousarray(tri, dtype=np.int32), keypoints=kp, vertex_ids=self.vertex_ids[keep])

    def mean_vertices(self) -> np.ndarray:
        """The unposed mean shape (3, N) (for decimation and normals)."""
        return self.u.reshape(3, -1)

    def decimate(self, target_vertices: int) -> "DenseModel":
        keep, tri = decimate_mesh(self.mean_vertices(), self.tri, target_vertices, keep=self.keypoints)
        return self.subset(keep, tri)


def dense_model_from_bfm(arrays) -> DenseModel:
    """A `DenseModel` from `edgeface.hub.bfm_npz.BfmArrays` (float16-stored bases cast to float32)."""
    return DenseModel.from_interleaved(arrays.u, arrays.w_shp, arrays.w_exp, arrays.tri, arrays.keypoints)


__all__: Sequence[str] = (
    "DenseReconstructor", "DenseModel", "planar_columns", "interleaved_to_planar", "check_triangles",
    "dense_model_from_bfm",
)
