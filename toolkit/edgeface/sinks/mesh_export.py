"""The mesh sink of `edgeface run --dense --export-mesh DIR`: each face's dense mesh, per frame, as a
.ply or .obj file, written atomically (`sinks.mesh_files`): `<input stem>_face0.ply` for the images of a
folder (or one image), `frame_000012_face0.ply` for video and camera frames; the folder is checked by
`hub.output_guard` when the sink is created.

It needs the triangles of the model that produced the vertices (`viz.dense_overlay.model_topology`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeface.errors import EdgefaceError, write_error
from edgeface.hub.output_guard import DIR, check_output
from edgeface.results import FrameResult
from edgeface.sinks.images import input_stem, output_name
from edgeface.sinks.mesh_files import mesh_from_frame, write_mesh


class MeshExportSink:
    """Writes each face's dense mesh per frame as `<dir>/<input stem>_face<id>.<fmt>` (images) or
    `<dir>/frame_<n>_face<id>.<fmt>` (video, camera), atomically."""

    needs_picture = False

    def __init__(self, directory: str | Path, tri: np.ndarray, fmt: str = "ply", colors: bool = True):
        if fmt not in ("ply", "obj"):
            raise EdgefaceError(f"mesh format {fmt} is unknown: use ply or obj")
        self.dir = check_output(directory, "--export-mesh", DIR)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._taken: set = set()  # the per-input prefixes of this run (lower case)
        self.tri, self.fmt, self.colors = tri, fmt, colors
        self.written = 0
        self.stopped = False

    def _prefix(self, frame, index: int) -> str:
        stem = input_stem(frame.source)
        if stem is None:
            return f"frame_{int(index):06d}"
        name = output_name(stem, Path(frame.source).suffix, "", self._taken)
        self._taken.add(name.lower())
        return name

    def write(self, frame, result: FrameResult, annotated=None) -> None:
        prefix = self._prefix(frame, result.frame) if result.faces else ""
        for face in result.faces:
            if face.dense is None:
                continue
            v = np.asarray(face.dense, np.float32).T
            verts, tris, cols = mesh_from_frame(v, self.tri, frame.image.shape[0], frame.image if self.colors else None)
            name = f"{prefix}_face{int(face.id)}.{self.fmt}"
            try:
                write_mesh(self.dir / name, verts, tris, cols, fmt=self.fmt, comment=f"edgeface {face.dense_kind}")
            except OSError as e:  # a full disk: one line; the meshes written before are complete
                raise write_error(self.dir / name, e, f"; the {self.written} meshes before it are in {self.dir}") from None
            self.written += 1

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass
