"""The dense BFM basis (upstream configs/bfm_noneck_v3.pkl) as a compact runtime `.npz`.

Upstream layout (3DDFA_V2 bfm/bfm.py, BFMModel): the pickle is a dict with
  u          (3N, 1)  mean shape, rows x, y, z interleaved per vertex (N = 38,365 no-neck vertices)
  w_shp      (3N, K)  shape basis (3DDFA_V2 keeps the first 40 columns)
  w_exp      (3N, L)  expression basis (3DDFA_V2 keeps the first 10 columns)
  keypoints  (204,)   rows of the 68 landmarks' x, y, z in the 3N-long vectors
  tri        (3, M)   triangles (upstream ignores it for bfm_noneck_v3 and uses configs/tri.pkl)
Upstream casts u, w_* to float32 and the keypoints to integers ("fix bug"), so the stored dtypes
may be float64 / float keypoints: both are accepted here.

The runtime `.npz` holds
  u (3N,) float32, w_shp (3N, 40), w_exp (3N, 10) float32 (or float16 with `dtype="float16"`),
  keypoints (204,) int64, tri (M, 3) int32 (from the mesh asset, configs/tri.pkl, as upstream).
`u` always stays float32: its values reach 1.3e5, beyond float16's range (65504). The float16
storage halves the file; its effect on the vertices is measured by
`edgeface.dense.float16_error.float16_vertex_error`.

The pickle is read through `edgeface.hub.safe_pickle` (no code runs while loading it). The dense
model built from these arrays is `edgeface.dense.model.dense_model_from_bfm`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

import numpy as np

from edgeface.errors import EdgefaceError, MissingAssetError
from edgeface.hub import assets, safe_pickle
from edgeface.hub.atomic import atomic_path

#: columns 3DDFA_V2 keeps (BFMModel shape_dim / exp_dim)
SHAPE_DIM = 40
EXP_DIM = 10
#: vertices of the upstream no-neck mesh
NO_NECK_VERTICES = 38365
STORAGE_DTYPES = ("float32", "float16")


@dataclass(frozen=True, eq=False)
class BfmArrays:
    """The runtime BFM arrays (rows x, y, z interleaved per vertex, as upstream)."""

    u: np.ndarray  # (3N,) float32
    w_shp: np.ndarray  # (3N, 40) float32 or float16
    w_exp: np.ndarray  # (3N, 10) float32 or float16
    keypoints: np.ndarray  # (204,) int64 rows into the 3N vectors
    tri: np.ndarray  # (M, 3) int32

    @property
    def n_vertices(self) -> int:
        return self.u.size // 3

    def as_npz_dict(self) -> dict:
        return {"u": self.u, "w_shp": self.w_shp, "w_exp": self.w_exp, "keypoints": self.keypoints, "tri": self.tri}


def _as_triangles(tri, n_vertices: int, what: str) -> np.ndarray:
    t = np.asarray(tri)
    if t.ndim != 2 or 3 not in t.shape:
        raise EdgefaceError(f"{what}: triangles must be (3, M) or (M, 3), got {t.shape}")
    if t.shape[0] == 3 and t.shape[1] != 3:
        t = t.T
    if t.dtype.kind == "f":
        if not np.all(np.isfinite(t)) or np.any(t != np.round(t)):
            raise EdgefaceError(f"{what}: triangle indices are not whole numbers")
    elif t.dtype.kind not in "iu":
        raise EdgefaceError(f"{what}: triangle indices have dtype {t.dtype}, expected integers")
    t = np.ascontiguousarray(t.astype(np.int64))
    if t.size and (t.min() < 0 or t.max() >= n_vertices):
        raise EdgefaceError(f"{what}: triangle indices run from {t.min()} to {t.max()} but the model has {n_vertices} vertices")
    return t.astype(np.int32)


def _as_keypoints(k, rows: int, what: str) -> np.ndarray:
    k = np.asarray(k).reshape(-1)
    if k.dtype.kind == "f":
        if not np.all(np.isfinite(k)) or np.any(k != np.round(k)):
            raise EdgefaceError(f"{what}: keypoints are not whole numbers")
    elif k.dtype.kind not in "iu":
        raise EdgefaceError(f"{what}: keypoints have dtype {k.dtype}, expected integers")
    k = k.astype(np.int64)
    if k.size != 204:
        raise EdgefaceError(f"{what}: expected 204 keypoint rows (68 landmarks x 3), got {k.size}")
    if k.min() < 0 or k.max() >= rows:
        raise EdgefaceError(f"{what}: keypoint rows run from {k.min()} to {k.max()} but the basis has {rows} rows")
    trip = k.reshape(68, 3)
    if np.any(trip[:, 0] % 3) or np.any(trip[:, 1] != trip[:, 0] + 1) or np.any(trip[:, 2] != trip[:, 0] + 2):
        raise EdgefaceError(f"{what}: keypoints are not x, y, z row triples (3i, 3i+1, 3i+2) of 68 vertices")
    return k


def bfm_arrays_from_dict(d: Mapping, tri=None, shape_dim: int = SHAPE_DIM, exp_dim: int = EXP_DIM,
                         dtype: str = "float32", name: str = "BFM pickle") -> BfmArrays:
    """Validate an upstream BFM dict and cut it to the runtime layout.

    `tri` (3, M) or (M, 3) overrides the dict's own `tri` (upstream uses configs/tri.pkl for
    bfm_noneck_v3); one of the two must be given.
    """
    if not isinstance(d, Mapping):
        raise EdgefaceError(f"{name}: expected a dict with u, w_shp, w_exp, keypoints; got {type(d).__name__}")
    missing = [k for k in ("u", "w_shp", "w_exp", "keypoints") if k not in d]
    if missing:
        raise EdgefaceError(f"{name}: missing {', '.join(missing)} (has {', '.join(map(str, d))}); "
                            "download configs/bfm_noneck_v3.pkl of 3DDFA_V2 again")
    if dtype not in STORAGE_DTYPES:
        raise EdgefaceError(f"BFM storage dtype {dtype!r} is not supported: use one of {', '.join(STORAGE_DTYPES)}")
    u = np.asarray(d["u"])
    w_shp = np.asarray(d["w_shp"])
    w_exp = np.asarray(d["w_exp"])
    for key, a in (("u", u), ("w_shp", w_shp), ("w_exp", w_exp)):
        if a.dtype.kind != "f":
            raise EdgefaceError(f"{name}: {key} has dtype {a.dtype}, expected floating point")
    if u.ndim == 2 and u.shape[1] == 1:
        u = u[:, 0]
    if u.ndim != 1 or u.size == 0 or u.size % 3:
        raise EdgefaceError(f"{name}: u has shape {u.shape}; expected (3N, 1) or (3N,)")
    rows = u.size
    for key, a, need in (("w_shp", w_shp, shape_dim), ("w_exp", w_exp, exp_dim)):
        if a.ndim != 2 or a.shape[0] != rows:
            raise EdgefaceError(f"{name}: {key} has shape {a.shape}; expected ({rows}, >= {need}) to match u")
        if a.shape[1] < need:
            raise EdgefaceError(f"{name}: {key} has {a.shape[1]} columns, fewer than the {need} the regressor uses")
    keypoints = _as_keypoints(d["keypoints"], rows, name)
    n = rows // 3
    if tri is None:
        if "tri" not in d:
            raise EdgefaceError(f"{name}: has no triangles and none were given; fetch the mesh card (configs/tri.pkl)")
        tri = d["tri"]
    tri = _as_triangles(tri, n, name)
    u32 = np.ascontiguousarray(u, dtype=np.float32)
    ws = np.ascontiguousarray(w_shp[:, :shape_dim], dtype=np.float32)
    we = np.ascontiguousarray(w_exp[:, :exp_dim], dtype=np.float32)
    if not (np.all(np.isfinite(u32)) and np.all(np.isfinite(ws)) and np.all(np.isfinite(we))):
        raise EdgefaceError(f"{name}: the basis has non-finite values; download it again")
    if dtype == "float16":
        big = max(float(np.abs(ws).max(initial=0)), float(np.abs(we).max(initial=0)))
        if big >= np.finfo(np.float16).max:
            raise EdgefaceError(f"{name}: basis values up to {big:.3g} do not fit float16; store it as float32")
        ws = ws.astype(np.float16)
        we = we.astype(np.float16)
    return BfmArrays(u=u32, w_shp=ws, w_exp=we, keypoints=keypoints, tri=tri)


def _mesh_triangles(root: Optional[Path], n_vertices: int) -> Optional[np.ndarray]:
    """configs/tri.pkl (via the mesh asset) when it belongs to a mesh of `n_vertices` vertices."""
    try:
        mesh = assets.load_mesh(root)
    except MissingAssetError:
        return None
    if int(mesh["indices"].size) != n_vertices:
        return None
    return mesh["tri"]


def bfm_npz_from_pickle(pickle_path: Path, dest: Path, root: Optional[Path] = None, *,
                        dtype: str = "float32", tri=None) -> Path:
    """Convert upstream bfm_noneck_v3.pkl into the runtime `.npz` at `dest` (written atomically).

    Triangles: `tri` if given; else configs/tri.pkl from the mesh asset under `root` when the
    vertex counts agree (as upstream does for bfm_noneck_v3); else the pickle's own `tri`.
    `dtype="float16"` stores w_shp / w_exp as float16 (u stays float32).
    """
    pickle_path = Path(pickle_path)
    if not pickle_path.is_file():
        raise MissingAssetError(f"BFM pickle {pickle_path} not found: run `edgeface fetch bfm`")
    d = safe_pickle.load(pickle_path, name=pickle_path.name)
    if not isinstance(d, Mapping) or "u" not in d:
        raise EdgefaceError(f"{pickle_path.name}: not a BFM dict (u, w_shp, w_exp, keypoints); download configs/bfm_noneck_v3.pkl again")
    n = np.asarray(d["u"]).size // 3
    if tri is None:
        tri = _mesh_triangles(root, n)
    arrays = bfm_arrays_from_dict(d, tri=tri, dtype=dtype, name=pickle_path.name)
    return write_bfm_npz(arrays, dest)


def write_bfm_npz(arrays: BfmArrays, dest: Path) -> Path:
    dest = Path(dest)
    with atomic_path(dest) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays.as_npz_dict())
    return dest


def load_bfm_npz(path: Path) -> BfmArrays:
    """Read a runtime BFM `.npz` (float32 or float16 bases) and check its shapes."""
    path = Path(path)
    if not path.is_file():
        raise MissingAssetError(f"dense BFM {path} is not in the cache: run `edgeface fetch bfm` (academic-use licence)")
    with np.load(path, allow_pickle=False) as z:
        d = {k: z[k] for k in z.files}
    return bfm_arrays_from_dict(d, tri=d.get("tri"), dtype="float16" if d.get("w_shp", np.zeros(0)).dtype == np.float16 else "float32",
                                name=path.name)
