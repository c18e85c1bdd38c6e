"""Mesh decimation by vertex clustering: a vertex subset of a dense mesh with re-indexed
triangles, for slow boards (`DenseModel.decimate`, `ApproxDenseModel.decimate`).
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

from edgeface.errors import EdgefaceError


def vertex_positions(keep: np.ndarray, n: int) -> np.ndarray:
    """(n,) position of each vertex in `keep`, -1 for the vertices not kept."""
    pos = np.full(n, -1, dtype=np.int64)
    pos[keep] = np.arange(keep.size)
    return pos


def cluster_vertices(vertices: np.ndarray, tri: np.ndarray, cell: float, keep=None) -> Tuple[np.ndarray, np.ndarray]:
    """Vertex clustering on a grid of side `cell`: one representative vertex per cell (the one
    nearest the cell's centroid; every vertex in `keep` represents itself), triangles mapped to
    representatives, degenerate and duplicate ones dropped, orientation kept.

    Returns `(kept, tri_new)`: sorted indices of the kept vertices and triangles indexing `kept`.
    """
    v = np.asarray(vertices, dtype=np.float64)
    if v.shape[0] == 3 and v.ndim == 2:
        v = v.T
    n = v.shape[0]
    q = np.floor((v - v.min(axis=0)) / float(cell)).astype(np.int64)
    dims = q.max(axis=0) + 1
    key = (q[:, 0] * dims[1] + q[:, 1]) * dims[2] + q[:, 2]
    _, cluster = np.unique(key, return_inverse=True)
    cluster = cluster.reshape(-1)
    k = cluster.max() + 1
    cnt = np.bincount(cluster, minlength=k).astype(np.float64)
    cen = np.stack([np.bincount(cluster, weights=v[:, j], minlength=k) for j in range(3)], axis=1) / cnt[:, None]
    d = ((v - cen[cluster]) ** 2).sum(axis=1)
    order = np.lexsort((d, cluster))  # by cluster, nearest first
    first = np.ones(n, dtype=bool)
    first[1:] = cluster[order][1:] != cluster[order][:-1]
    rep_of_cluster = np.empty(k, dtype=np.int64)
    rep_of_cluster[cluster[order][first]] = order[first]
    rep = rep_of_cluster[cluster]
    if keep is not None:
        kk = np.asarray(keep, dtype=np.int64).reshape(-1)
        rep[kk] = kk
    t = rep[np.asarray(tri, dtype=np.int64)]
    good = (t[:, 0] != t[:, 1]) & (t[:, 1] != t[:, 2]) & (t[:, 0] != t[:, 2])
    t = t[good]
    srt = np.sort(t, axis=1)
    _, first_tri = np.unique(srt, axis=0, return_index=True)
    t = t[np.sort(first_tri)]
    kept = np.unique(np.concatenate([rep, t.reshape(-1)]))
    pos = vertex_positions(kept, n)
    return kept, pos[t].astype(np.int32)


def decimate_mesh(vertices: np.ndarray, tri: np.ndarray, target_vertices: int, keep=None) -> Tuple[np.ndarray, np.ndarray]:
    """A vertex subset of about `target_vertices` (within ~5 %) with re-indexed triangles, by
    vertex clustering (`cluster_vertices`) with a cell size found by bisection. `keep` vertices
    (the 68 keypoints) are always kept."""
    v = np.asarray(vertices, dtype=np.float64)
    if v.shape[0] == 3 and v.ndim == 2:
        v = v.T
    n = v.shape[0]
    target = int(target_vertices)
    if target >= n:
        return np.arange(n, dtype=np.int64), np.ascontiguousarray(np.asarray(tri, dtype=np.int32))
    if target < 100:
        raise EdgefaceError(f"decimated mesh of {target} vertices is too coarse: ask for at least 100")
    extent = float(np.max(v.max(axis=0) - v.min(axis=0)))
    lo, hi = 0.0, extent / 4  # cell sizes giving too many / too few vertices
    best = None
    for _ in range(40):
        mid = (lo + hi) / 2
        kept, t = cluster_vertices(v, tri, mid, keep=keep)
        if best is None or abs(kept.size - target) < abs(best[0].size - target):
            best = (kept, t)
        if abs(kept.size - target) <= 0.05 * target:
            break
        if kept.size > target:
            lo = mid
        else:
            hi = mid
    return best
