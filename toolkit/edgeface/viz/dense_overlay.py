"""The dense mesh overlay of `edgeface run --dense`, and the topology it and the mesh files need.

`DenseOverlay` draws each face's dense vertices (Face.dense, frame pixels) with the z-buffer
renderer (mesh, depth, pncc) or as points, under the usual landmark overlay. It needs the topology
(triangles, PNCC code) of the model that produced the vertices: `model_topology`, which also gives
the triangles of the per-face mesh files (`sinks.mesh_export.MeshExportSink`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import numpy as np

from edgeface.errors import EdgefaceError
from edgeface.hub.assets import load_mesh
from edgeface.results import FrameResult
from edgeface.viz.render import Triangles, render

RENDER_MODES = ("mesh", "depth", "pncc", "points")


def model_topology(model, root: Optional[Path] = None) -> tuple:
    """(triangles (M,3), PNCC colour code (3,N) of the model's vertices) for a dense model."""
    ncc = load_mesh(root)["ncc_code"]
    ids = getattr(model, "vertex_ids", None)
    if ids is not None and len(ids) and int(np.max(ids)) < ncc.shape[1]:
        ncc = ncc[:, ids]
    return np.asarray(model.tri, np.int32), np.ascontiguousarray(ncc, np.float32)


class DenseOverlay:
    """`overlay(image, result)`: every face's dense mesh rendered on a copy of `image`.

    The topology is checked and converted once here (`viz.render.Triangles`, for meshes of as many
    vertices as `ncc_code` has columns), not per face and frame."""

    def __init__(self, tri: np.ndarray, ncc_code: Optional[np.ndarray], mode: str = "mesh", point_step: int = 4):
        if mode not in RENDER_MODES:
            raise EdgefaceError(f"--render {mode} is unknown: use one of {', '.join(RENDER_MODES)}")
        ncc = None if ncc_code is None else np.ascontiguousarray(ncc_code, np.float32)
        self.tri = tri if ncc is None or mode == "points" else Triangles(tri, ncc.shape[1])
        self.ncc, self.mode, self.point_step = ncc, mode, point_step

    def __call__(self, image: np.ndarray, result: FrameResult) -> np.ndarray:
        """A copy of `image` with every face's dense mesh drawn; adds result.time_ms['render']."""
        t0 = time.perf_counter()
        out = image
        for face in result.faces:
            if face.dense is None:
                continue
            v = np.asarray(face.dense, np.float32).T  # (3, N) view: the renderer reads rows
            out = render(out, v, self.tri, self.mode, ncc_code=self.ncc, point_step=self.point_step,
                         in_place=out is not image)
        if out is image:
            out = image.copy()
        result.time_ms["render"] = (time.perf_counter() - t0) * 1000.0
        return out
