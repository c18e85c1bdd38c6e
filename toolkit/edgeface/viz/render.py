"""CPU rendering of a dense face mesh on a BGR frame: shaded mesh, depth, PNCC, points.

`render(frame, vertices_img, tri, mode)` draws one face; `vertices_img` (3, N) are frame pixels
(x right, y down, z toward the camera: larger z is nearer, as `tdmm.to_image` gives them and as
upstream Sim3DR renders). Modes:

* "mesh":   Gouraud-shaded surface (per-vertex normals, Lambert: ambient + diffuse * max(0, n.l)),
            alpha-blended over the frame;
* "depth":  grey level = z normalised over the face (near = bright), upstream `depth`;
* "pncc":   colour = the vertex's normalised mean-face coordinates (ncc_code; x -> B, y -> G,
            z -> R as upstream writes ncc_code into a BGR buffer);
* "points": the 2D dense points (every `point_step`-th vertex), no rasterization.

Rasterizer (`rasterize`): a z-buffer over the face's bounding box only; pixel centres at integer
coordinates (OpenCV convention); a pixel is covered when its barycentric weights are all >= 0;
attributes interpolated with them. Two backends compute the same thing:
  "numba":  a compiled per-triangle loop (numba, optional extra) -- the fast path;
  "numpy":  vectorised candidate pixels per triangle bounding box + `np.maximum.at` z-buffer,
            in chunks of triangles (no dependency; several times slower).
`backend="auto"` takes numba when importable. `available_backends()` tells which exist.
For slow boards render a decimated mesh (`edgeface.dense.loading.load_dense_model(decimate=...)`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

from edgeface.dense.model import check_triangles
from edgeface.errors import EdgefaceError

MODES = ("mesh", "depth", "pncc", "points")
BACKENDS = ("auto", "numba", "numpy")
#: sign that turns cross(v1 - v0, v2 - v0) of the upstream triangles, in image coordinates
#: (y down), into normals pointing out of the face (checked on the mean face in tests)
NORMAL_SIGN = 1.0
#: light direction in image coordinates (toward the camera, a little from above-left)
DEFAULT_LIGHT = (-0.3, -0.4, 1.0)


class Triangles:
    """Triangles checked once (`check_triangles`) for meshes of `n_vertices` vertices, as the int64
    array the rasterizer indexes with: pass it as `tri` to `render` / `rasterize` /
    `vertex_normals` for every frame (`viz.dense_overlay.DenseOverlay` does) instead of checking
    and converting the same 76k triangles per face and frame. A plain array is checked per call."""

    __slots__ = ("array", "n_vertices")

    def __init__(self, tri, n_vertices: int):
        self.array = check_triangles(tri, int(n_vertices), np.int64)
        self.array.setflags(write=False)
        self.n_vertices = int(n_vertices)

    def __len__(self) -> int:
        return len(self.array)


def _triangles(tri, n_vertices: int) -> np.ndarray:
    """The int64 (M, 3) triangles of a mesh of `n_vertices` vertices: a `Triangles` as it is, else checked."""
    if isinstance(tri, Triangles) and tri.n_vertices == n_vertices:
        return tri.array
    return check_triangles(tri.array if isinstance(tri, Triangles) else tri, n_vertices, np.int64)


@dataclass(frozen=True, eq=False)
class Raster:
    """Rasterizer output over the box `[x0, x0 + w) x [y0, y0 + h)` of the frame."""

    x0: int
    y0: int
    depth: np.ndarray  # (h, w) float64, -inf where no triangle covers the pixel
    image: np.ndarray  # (h, w, C) float32 interpolated attributes (0 where uncovered)

    @property
    def mask(self) -> np.ndarray:
        return np.isfinite(self.depth)


# ----------------------------------------------------------------------------- backends

def _raster_kernel(xs, ys, zs, tri, attrs, zbuf, out):  # pragma: no cover - compiled by numba (tested in Python too)
    """Per-triangle z-buffer rasterization (the numba backend's body; plain Python works, slowly)."""
    h, w = zbuf.shape
    nc = attrs.shape[1]
    for t in range(tri.shape[0]):
        a = tri[t, 0]
        b = tri[t, 1]
        c = tri[t, 2]
        ax = xs[a]
        ay = ys[a]
        bx = xs[b]
        by = ys[b]
        cx = xs[c]
        cy = ys[c]
        area = (bx - ax) * (cy - ay) - (cx - ax) * (by - ay)
        if area == 0.0:
            continue
        xmin = max(int(math.ceil(min(ax, bx, cx))), 0)
        xmax = min(int(math.floor(max(ax, bx, cx))), w - 1)
        ymin = max(int(math.ceil(min(ay, by, cy))), 0)
        ymax = min(int(math.floor(max(ay, by, cy))), h - 1)
        if xmin > xmax or ymin > ymax:
            continue
        inv = 1.0 / area
        for py in range(ymin, ymax + 1):
            for px in range(xmin, xmax + 1):
                w0 = ((bx - px) * (cy - py) - (cx - px) * (by - py)) * inv
                w1 = ((cx - px) * (ay - py) - (ax - px) * (cy - py)) * inv
                w2 = ((ax - px) * (by - py) - (bx - px) * (ay - py)) * inv
                if w0 < 0.0 or w1 < 0.0 or w2 < 0.0:
                    continue
                z = w0 * zs[a] + w1 * zs[b] + w2 * zs[c]
                if z > zbuf[py, px]:
                    zbuf[py, px] = z
                    for k in range(nc):
                        out[py, px, k] = w0 * attrs[a, k] + w1 * attrs[b, k] + w2 * attrs[c, k]


def _normals_kernel(xs, ys, zs, tri, sign, out):  # pragma: no cover - compiled by numba (tested in Python too)
    """Accumulate `sign * cross(v1 - v0, v2 - v0)` of every triangle on its 3 corners (out (3, N))."""
    for t in range(tri.shape[0]):
        a = tri[t, 0]
        b = tri[t, 1]
        c = tri[t, 2]
        e1x = xs[b] - xs[a]
        e1y = ys[b] - ys[a]
        e1z = zs[b] - zs[a]
        e2x = xs[c] - xs[a]
        e2y = ys[c] - ys[a]
        e2z = zs[c] - zs[a]
        nx = (e1y * e2z - e1z * e2y) * sign
        ny = (e1z * e2x - e1x * e2z) * sign
        nz = (e1x * e2y - e1y * e2x) * sign
        for i in (a, b, c):
            out[0, i] += nx
            out[1, i] += ny
            out[2, i] += nz


@functools.lru_cache(maxsize=1)
def _numba_kernels():
    """(raster, normals) compiled kernels, or None when numba is not importable."""
    try:
        import numba
    except ImportError:
        return None
    jit = numba.njit(cache=True, nogil=True)
    return jit(_raster_kernel), jit(_normals_kernel)


def _numba_kernel():
    k = _numba_kernels()
    return None if k is None else k[0]


def available_backends() -> Tuple[str, ...]:
    return ("numba", "numpy") if _numba_kernel() is not None else ("numpy",)


def _resolve_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise EdgefaceError(f"render backend {backend!r} is unknown: use one of {', '.join(BACKENDS)}")
    if backend == "auto":
        return "numba" if _numba_kernel() is not None else "numpy"
    if backend == "numba" and _numba_kernel() is None:
        raise EdgefaceError("render backend 'numba' needs numba: pip install 'edgeface[fast]' (or numba), or use backend='numpy'")
    return backend


def _raster_numpy(xs, ys, zs, tri, attrs, zbuf, out, max_candidates: int = 1 << 21) -> None:
    """Vectorised equivalent of `_raster_kernel` (same formulas, float64)."""
    h, w = zbuf.shape
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    ax, ay, bx, by, cx, cy = xs[a], ys[a], xs[b], ys[b], xs[c], ys[c]
    area = (bx - ax) * (cy - ay) - (cx - ax) * (by - ay)
    xmin = np.maximum(np.ceil(np.minimum(np.minimum(ax, bx), cx)), 0).astype(np.int64)
    xmax = np.minimum(np.floor(np.maximum(np.maximum(ax, bx), cx)), w - 1).astype(np.int64)
    ymin = np.maximum(np.ceil(np.minimum(np.minimum(ay, by), cy)), 0).astype(np.int64)
    ymax = np.minimum(np.floor(np.maximum(np.maximum(ay, by), cy)), h - 1).astype(np.int64)
    nx = xmax - xmin + 1
    ny = ymax - ymin + 1
    keep = np.flatnonzero((area != 0) & (nx > 0) & (ny > 0))
    if keep.size == 0:
        return
    counts = nx[keep] * ny[keep]
    zflat = zbuf.reshape(-1)
    oflat = out.reshape(-1, out.shape[2])
    ends = np.cumsum(counts)
    start = 0
    while start < keep.size:  # chunks of triangles with at most ~max_candidates pixel candidates
        base = ends[start - 1] if start else 0
        stop = int(np.searchsorted(ends, base + max_candidates, side="right"))
        stop = max(stop, start + 1)
        sel = keep[start:stop]
        cnt = counts[start:stop]
        tid = np.repeat(sel, cnt)
        local = np.arange(tid.size) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        nxt = nx[tid]
        px = (xmin[tid] + local % nxt).astype(np.float64)
        py = (ymin[tid] + local // nxt).astype(np.float64)
        inv = 1.0 / area[tid]
        tax, tay, tbx, tby, tcx, tcy = ax[tid], ay[tid], bx[tid], by[tid], cx[tid], cy[tid]
        w0 = ((tbx - px) * (tcy - py) - (tcx - px) * (tby - py)) * inv
        w1 = ((tcx - px) * (tay - py) - (tax - px) * (tcy - py)) * inv
        w2 = ((tax - px) * (tby - py) - (tbx - px) * (tay - py)) * inv
        inside = (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
        if np.any(inside):
            tid, w0, w1, w2 = tid[inside], w0[inside], w1[inside], w2[inside]
            pix = py[inside].astype(np.int64) * w + px[inside].astype(np.int64)
            ia, ib, ic = a[tid], b[tid], c[tid]
            z = w0 * zs[ia] + w1 * zs[ib] + w2 * zs[ic]
            np.maximum.at(zflat, pix, z)
            win = z >= zflat[pix]
            if np.any(win):
                ww = np.stack([w0[win], w1[win], w2[win]], axis=1).astype(np.float32)
                val = ww[:, 0:1] * attrs[ia[win]] + ww[:, 1:2] * attrs[ib[win]] + ww[:, 2:3] * attrs[ic[win]]
                oflat[pix[win]] = val
        start = stop


def rasterize(vertices_img: np.ndarray, tri: np.ndarray, attrs: np.ndarray, height: int, width: int,
              backend: str = "auto") -> Raster:
    """Z-buffer rasterization of a mesh into a `height` x `width` frame, restricted to the
    mesh's bounding box. `attrs` (N, C) per-vertex values interpolated over the triangles."""
    v = _check_vertices(vertices_img)
    tri = _triangles(tri, v.shape[1])
    attrs = np.asarray(attrs, dtype=np.float32)
    if attrs.ndim == 1:
        attrs = attrs[:, None]
    if attrs.shape[0] != v.shape[1]:
        raise EdgefaceError(f"render attributes have {attrs.shape[0]} rows but the mesh has {v.shape[1]} vertices")
    attrs = np.ascontiguousarray(attrs)
    x0 = max(int(math.floor(float(v[0].min()))), 0)
    y0 = max(int(math.floor(float(v[1].min()))), 0)
    x1 = min(int(math.ceil(float(v[0].max()))) + 1, int(width))
    y1 = min(int(math.ceil(float(v[1].max()))) + 1, int(height))
    h, w = max(y1 - y0, 0), max(x1 - x0, 0)
    zbuf = np.full((h, w), -np.inf, dtype=np.float64)
    out = np.zeros((h, w, attrs.shape[1]), dtype=np.float32)
    if h and w and tri.shape[0]:
        xs = v[0].astype(np.float64) - x0
        ys = v[1].astype(np.float64) - y0
        zs = v[2].astype(np.float64)
        if _resolve_backend(backend) == "numba":
            _numba_kernel()(xs, ys, zs, tri, attrs, zbuf, out)
        else:
            _raster_numpy(xs, ys, zs, tri, attrs, zbuf, out)
    else:
        _resolve_backend(backend)
    return Raster(x0=x0, y0=y0, depth=zbuf, image=out)


# ----------------------------------------------------------------------------- shading

def vertex_normals(vertices: np.ndarray, tri: np.ndarray, backend: str = "auto") -> np.ndarray:
    """Unit per-vertex normals (3, N): area-weighted sums of the adjacent triangles' normals,
    oriented out of the face for image-space vertices (`NORMAL_SIGN`)."""
    v = np.asarray(vertices, dtype=np.float64)
    n = v.shape[1]
    t = _triangles(tri, n)
    if _resolve_backend(backend) == "numba":
        vn = np.zeros((3, n))
        _numba_kernels()[1](np.ascontiguousarray(v[0]), np.ascontiguousarray(v[1]), np.ascontiguousarray(v[2]), t,
                            NORMAL_SIGN, vn)
    else:
        p0, p1, p2 = v[:, t[:, 0]], v[:, t[:, 1]], v[:, t[:, 2]]
        fn = np.cross(p1 - p0, p2 - p0, axis=0) * NORMAL_SIGN  # (3, M), length = 2 * area
        corners = t.T.reshape(-1)  # every triangle's 3 corners
        vn = np.stack([np.bincount(corners, weights=np.tile(fn[j], 3), minlength=n) for j in range(3)])
    norm = np.linalg.norm(vn, axis=0)
    norm[norm == 0] = 1.0
    return vn / norm


def lambert(normals: np.ndarray, light=DEFAULT_LIGHT, ambient: float = 0.35, diffuse: float = 0.65) -> np.ndarray:
    """Per-vertex intensity `ambient + diffuse * max(0, n . l)` (N,) float32."""
    l = np.asarray(light, dtype=np.float64).reshape(3)
    l = l / (np.linalg.norm(l) or 1.0)
    return (ambient + diffuse * np.clip(l @ np.asarray(normals, np.float64), 0.0, 1.0)).astype(np.float32)


# ----------------------------------------------------------------------------- render

def _check_frame(frame) -> np.ndarray:
    f = np.asarray(frame)
    if f.ndim != 3 or f.shape[2] != 3 or f.dtype != np.uint8:
        raise EdgefaceError(f"render needs a BGR uint8 frame (H, W, 3), got {f.dtype} {f.shape}")
    return f


def _check_vertices(vertices_img) -> np.ndarray:
    v = np.asarray(vertices_img)
    if v.ndim != 2 or v.shape[0] != 3 or v.shape[1] == 0:
        raise EdgefaceError(f"dense vertices must have shape (3, N) with N > 0, got {v.shape}")
    if not np.all(np.isfinite(v)):
        raise EdgefaceError("dense vertices are not finite: check the 3DMM params")
    return v


def depth_map(vertices_img, tri, height: int, width: int, backend: str = "auto") -> np.ndarray:
    """(height, width) float32 z of the nearest surface (frame pixel units), NaN off the face."""
    r = rasterize(vertices_img, tri, np.asarray(vertices_img)[2].reshape(-1, 1), height, width, backend)
    d = np.full((int(height), int(width)), np.nan, dtype=np.float32)
    sub = d[r.y0:r.y0 + r.depth.shape[0], r.x0:r.x0 + r.depth.shape[1]]
    m = r.mask
    sub[m] = r.depth[m]
    return d


def render(frame, vertices_img, tri, mode: str = "mesh", *, ncc_code: Optional[np.ndarray] = None,
           alpha: Optional[float] = None, color=(200, 190, 180), light=DEFAULT_LIGHT, ambient: float = 0.35,
           diffuse: float = 0.65, point_color=(255, 200, 60), point_step: int = 1, point_size: int = 1,
           in_place: bool = False, backend: str = "auto") -> np.ndarray:
    """Draw one face's dense mesh on a BGR frame; returns the frame (a copy unless `in_place`).

    vertices_img (3, N) frame pixels; tri (M, 3) triangles of those N vertices; `ncc_code`
    (3, N) for "pncc" (pass `ncc_code[:, model.vertex_ids]`). `alpha`: opacity of the overlay
    (default 0.6 for "mesh", 1.0 for "depth" / "pncc"). `color` BGR base colour of the shaded
    mesh. "points" draws every `point_step`-th vertex as `point_size` x `point_size` dots.
    """
    if mode not in MODES:
        raise EdgefaceError(f"render mode {mode!r} is unknown: use one of {', '.join(MODES)}")
    img = _check_frame(frame)
    if not in_place:
        img = img.copy()
    v = _check_vertices(vertices_img)
    h, w = img.shape[:2]
    if mode == "points":
        return _draw_points(img, v, point_color, max(int(point_step), 1), max(int(point_size), 1))
    t = _triangles(tri, v.shape[1])
    if mode == "mesh":
        inten = lambert(vertex_normals(v, t, backend), light, ambient, diffuse)
        attrs = inten[:, None] * np.asarray(color, dtype=np.float32).reshape(1, 3)
        a = 0.6 if alpha is None else float(alpha)
    elif mode == "depth":
        z = v[2].astype(np.float32)
        rng = float(z.max() - z.min()) or 1.0
        g = (z - z.min()) / rng * 255.0
        attrs = np.repeat(g[:, None], 3, axis=1)
        a = 1.0 if alpha is None else float(alpha)
    else:
        if ncc_code is None:
            raise EdgefaceError("render mode 'pncc' needs ncc_code (3, N): pass mesh['ncc_code'][:, model.vertex_ids]")
        ncc = np.asarray(ncc_code, dtype=np.float32)
        if ncc.shape != (3, v.shape[1]):
            raise EdgefaceError(f"ncc_code must be (3, {v.shape[1]}) for this mesh, got {ncc.shape}: index it with model.vertex_ids")
        attrs = ncc.T * 255.0
        a = 1.0 if alpha is None else float(alpha)
    if not 0.0 <= a <= 1.0:
        raise EdgefaceError(f"alpha must be within [0, 1], got {a}")
    r = rasterize(v, t, attrs, h, w, backend)
    m = r.mask
    if not np.any(m):
        return img
    roi = img[r.y0:r.y0 + m.shape[0], r.x0:r.x0 + m.shape[1]]
    src = cv2.convertScaleAbs(r.image)  # attributes are >= 0: round and saturate to uint8
    if a < 1.0:
        src = cv2.addWeighted(roi, 1.0 - a, src, a, 0.0)
    np.copyto(roi, src, where=m[:, :, None])
    return img


def _draw_points(img: np.ndarray, v: np.ndarray, color, step: int, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    x = np.rint(v[0, ::step]).astype(np.int64)
    y = np.rint(v[1, ::step]).astype(np.int64)
    off = np.arange(size) - (size - 1) // 2
    xs = (x[:, None, None] + off[None, None, :]).repeat(size, axis=1).reshape(-1)
    ys = (y[:, None, None] + off[None, :, None]).repeat(size, axis=2).reshape(-1)
    ok = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
    img[ys[ok], xs[ok]] = np.asarray(color, dtype=np.uint8)
    return img


__all__: Sequence[str] = ("MODES", "BACKENDS", "Raster", "Triangles", "available_backends", "rasterize", "vertex_normals", "lambert",
                          "depth_map", "render")
