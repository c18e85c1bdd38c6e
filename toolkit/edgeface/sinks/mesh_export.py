"""The mesh sink of `edgeface run --dense --export-mesh DIR`: each face's dense mesh, per frame, as a
.ply or .obj file (`frame_000012_face0.ply`, `sinks.mesh_files`), written atomically.

It needs the triangles of the model that produced the vertices (`viz.dense_overlay.model_topology`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeface.errors import EdgefaceError, write_error
from edgeface.results import FrameResult
from edgeface.sinks.mesh_files import mesh_from_frame, write_mesh


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
