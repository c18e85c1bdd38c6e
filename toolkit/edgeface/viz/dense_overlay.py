"""Dense mesh outputs of `edgeface run --dense`: the rendered overlay and per-face mesh files.

`DenseOverlay` draws each face's dense vertices (Face.dense, frame pixels) with the z-buffer
renderer (mesh, depth, pncc) or as points, under the usual landmark overlay.
`MeshExportSink` writes one .ply/.obj per face per frame (`frame_000012_face0.ply`).
Both need the topology (triangles, PNCC code) of the model that produced the vertices.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import numpy as np

from edgeface.errors import EdgefaceError, write_error
from edgeface.results import FrameResult

RENDER_MODES = ("mesh", "depth", "pncc", "points")


def model_topology(model, root: Optional[Path] = None) -> tuple:
    """(triangles (M,3), PNCC colour code (3,N) of the model's vertices) for a dense model."""
    from edgeface.hub.assets import load_mesh

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
        from edgeface.viz.render import Triangles

        if mode not in RENDER_MODES:
            raise EdgefaceError(f"--render {mode} is unknown: use one of {', '.join(RENDER_MODES)}")
        ncc = None if ncc_code is None else np.ascontiguousarray(ncc_code, np.float32)
        self.tri = tri if ncc is None or mode == "points" else Triangles(tri, ncc.shape[1])
        self.ncc, self.mode, self.point_step = ncc, mode, point_step

    def __call__(self, image: np.ndarray, result: FrameResult) -> np.ndarray:
        """A copy of `image` with every face's dense mesh drawn; adds result.time_ms['render']."""
        from edgeface.viz.render import render

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


class MeshExportSink:
    """Writes each face's dense mesh per frame as `<dir>/frame_<n>_face<id>.<fmt>` (atomically)."""

    needs_picture = False

    def __init__(self, directory: str | Path, tri: np.ndarray, fmt: str = "ply", colors: bool = True):
        if fmt not in ("ply", "obj"):
            raise EdgefaceError(f"mesh format {fmt} is unknown: use ply or obj")
        self.dir = Path(directory)
        if self.dir.exists() and not self.dir.is_dir():
            raise EdgefaceError(f"--export-mesh {self.dir} is a file; give a folder")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.tri, self.fmt, self.colors = tri, fmt, colors
        self.written = 0
        self.stopped = False

    def write(self, frame, result: FrameResult, annotated=None) -> None:
        from edgeface.sinks.mesh_files import mesh_from_frame, write_mesh

        for face in result.faces:
            if face.dense is None:
                continue
            v = np.asarray(face.dense, np.float32).T
            verts, tris, cols = mesh_from_frame(v, self.tri, frame.image.shape[0], frame.image if self.colors else None)
            name = f"frame_{int(result.frame):06d}_face{int(face.id)}.{self.fmt}"
            try:
                write_mesh(self.dir / name, verts, tris, cols, fmt=self.fmt, comment=f"edgeface {face.dense_kind}")
            except OSError as e:  # a full disk: one line; the meshes written before are complete
                raise write_error(self.dir / name, e, f"; the {self.written} meshes before it are in {self.dir}") from None
            self.written += 1

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass
