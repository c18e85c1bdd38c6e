"""Result records that flow from the pipeline to the sinks (plain dataclasses).

`FrameResult.to_dict()` is the public JSONL contract documented in docs/reference/records.md:
{"frame": 0, "source": "...", "time_ms": {"detect": .., "regress": .., "decode": .., "total": ..},
 "faces": [{"id": 0, "bbox": [x1, y1, x2, y2], "score": 0.99, "landmarks": [[x, y, z] * 68],
            "pose": {"yaw": .., "pitch": .., "roll": ..}, "params": [62 floats]}]}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import numpy.typing as npt

from edgeface.deprecation import warn_renamed
from edgeface.pose import rotation_from_angles


@dataclass(frozen=True)
class Pose:
    """Head pose angles in degrees (3DDFA_V2 convention, `edgeface.pose`): yaw > 0 turns the face toward
    the image's left, pitch > 0 tilts it down, roll > 0 rotates it counter-clockwise in the image.
    `rotation_matrix` is the same pose as a rotation; `to_dict()`: rounded to 1e-3 degree."""

    yaw: float
    pitch: float
    roll: float

    @property
    def rotation_matrix(self) -> npt.NDArray[np.float64]:
        """(3, 3) rotation `Rz(roll) @ Ry(-yaw) @ Rx(pitch)` (unitless): it maps the face model's axes to the
        camera's, x to the image's right, y UP (the image's y flipped), z toward the viewer. Its columns are
        the face's x, y and forward (z) axes: `R[0, 2] < 0` when yaw > 0 (facing the image's left),
        `R[1, 2] < 0` when pitch > 0 (facing down), `R[1, 0] > 0` when roll > 0 (counter-clockwise). Equal to
        the rotation of the face's `camera` (3DDFA_V2's P2sRt) up to its orthonormalisation."""
        return rotation_from_angles(float(self.yaw), float(self.pitch), float(self.roll))

    def to_dict(self) -> dict[str, float]:
        return {"yaw": round(float(self.yaw), 3), "pitch": round(float(self.pitch), 3), "roll": round(float(self.roll), 3)}


@dataclass
class Face:
    """One face of a frame: a stable `id` (across frames in VIDEO / LIVE_STREAM mode, 0.. per image in
    IMAGE mode), its box (pixels) and detector score (0..1), the 68 3D landmarks (pixels), the head pose
    (degrees), the 62 3DMM params and the camera. `to_dict(with_params=True)` is the face's JSONL record
    (rounded as documented in docs/reference/records.md). Not frozen: the pipeline fills a face in stages (tracking,
    smoothing, dense mesh); treat the faces you receive as read-only."""

    id: int
    bbox: npt.NDArray[np.floating[Any]]  # (4,) x1, y1, x2, y2 in frame pixels (detector box or the tracked box)
    score: float  # detector score (for tracked frames: the score of the last detection)
    landmarks: npt.NDArray[np.floating[Any]]  # (68, 3) x, y in frame pixels, z in pixels (3DDFA_V2 convention)
    pose: Pose
    params: npt.NDArray[np.floating[Any]]  # (62,) de-normalized 3DMM params: 12 pose, 40 shape, 10 expression
    roi: npt.NDArray[np.floating[Any]]  # (4,) the crop box the regressor saw, frame pixels
    camera: npt.NDArray[np.floating[Any]]  # (3, 4) scaled-orthographic camera [s*R | t] from the params
    dense: Optional[npt.NDArray[np.floating[Any]]] = None  # (N, 3) dense vertices in frame pixels
    dense_kind: Optional[str] = None  # "dense" (BFM) or "dense_approx" (mean face warped to landmarks)
    tracked: bool = False  # True when the ROI came from the previous landmarks, not a detection

    def to_dict(self, with_params: bool = True) -> dict[str, Any]:
        """The face's JSONL record: id, bbox (px, 0.01), score (1e-4), landmarks (px, 0.01), pose (degrees),
        params (6 significant digits, unless `with_params=False`), dense (kind, vertex count) when present."""
        d: dict[str, Any] = {
            "id": int(self.id),
            "bbox": [round(float(v), 2) for v in self.bbox],
            "score": round(float(self.score), 4),
            "landmarks": [[round(float(v), 2) for v in p] for p in self.landmarks],
            "pose": self.pose.to_dict(),
        }
        if with_params:
            d["params"] = [float(f"{v:.6g}") for v in self.params]
        if self.dense is not None:  # optional, only with --dense: which mesh, how many vertices
            d["dense"] = {"kind": self.dense_kind, "vertices": int(len(self.dense))}
        return d


@dataclass(frozen=True)
class FrameResult:
    """What `FaceAligner.detect*` returns for one image: its `faces` (best detection first, then by
    id), per-stage `time_ms` (milliseconds), whether the detector ran (`detected`) and the frame's
    `timestamp_ms` (milliseconds as passed to `detect_for_video` / `detect_async`; None for photos).
    `to_dict()` is exactly the JSONL record of `edgeface run --json`. Deprecated: `timestamp_s`."""

    frame: int
    source: str
    faces: list[Face] = field(default_factory=list)
    time_ms: dict[str, float] = field(default_factory=dict)  # detect, regress, decode, (dense, render), total
    detected: bool = False  # whether the detector ran on this frame
    timestamp_ms: Optional[float] = None  # the frame's time in milliseconds (None: a photo)

    @property
    def timestamp_s(self) -> Optional[float]:
        """Deprecated: the timestamp in seconds; use `timestamp_ms`."""
        warn_renamed("FrameResult.timestamp_s", "FrameResult.timestamp_ms (milliseconds)")
        return None if self.timestamp_ms is None else self.timestamp_ms / 1000.0

    def to_dict(self) -> dict[str, Any]:
        """The JSONL record of `edgeface run --json`: frame, source, time_ms (ms, 1e-3), faces."""
        return {
            "frame": int(self.frame),
            "source": self.source,
            "time_ms": {k: round(float(v), 3) for k, v in self.time_ms.items()},
            "faces": [f.to_dict() for f in self.faces],
        }
