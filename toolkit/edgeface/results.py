"""Result records that flow from the pipeline to the sinks (plain dataclasses).

`FrameResult.to_dict()` is the public JSONL contract documented in the README:
{"frame": 0, "source": "...", "time_ms": {"detect": .., "regress": .., "decode": .., "total": ..},
 "faces": [{"id": 0, "bbox": [x1, y1, x2, y2], "score": 0.99, "landmarks": [[x, y, z] * 68],
            "pose": {"yaw": .., "pitch": .., "roll": ..}, "params": [62 floats]}]}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np


@dataclass
class Pose:
    """Head pose in degrees (3DDFA_V2 convention, see `runtime.tdmm`): yaw > 0 turns the face toward
    the image's left, pitch > 0 tilts it down, roll > 0 rotates it counter-clockwise in the image.
    `to_dict()`: rounded to 1e-3 degree."""

    yaw: float
    pitch: float
    roll: float

    def to_dict(self) -> dict:
        return {"yaw": round(float(self.yaw), 3), "pitch": round(float(self.pitch), 3), "roll": round(float(self.roll), 3)}


@dataclass
class Face:
    """One face of a frame: a stable `id` (across frames in VIDEO / LIVE_STREAM mode, 0.. per image in
    IMAGE mode), its box and score, the 68 3D landmarks, pose, the 62 3DMM params and the camera.
    `to_dict(with_params=True)` is the face's JSONL record (rounded as documented in the README)."""

    id: int
    bbox: np.ndarray  # (4,) x1, y1, x2, y2 in frame pixels (detector box or the tracked box)
    score: float  # detector score (for tracked frames: the score of the last detection)
    landmarks: np.ndarray  # (68, 3) x, y in frame pixels, z in pixels (3DDFA_V2 convention)
    pose: Pose
    params: np.ndarray  # (62,) de-normalized 3DMM params: 12 pose, 40 shape, 10 expression
    roi: np.ndarray  # (4,) the crop box the regressor saw, frame pixels
    camera: np.ndarray  # (3, 4) scaled-orthographic camera [s*R | t] from the params
    dense: Optional[np.ndarray] = None  # (N, 3) dense vertices in frame pixels
    dense_kind: Optional[str] = None  # "dense" (BFM) or "dense_approx" (mean face warped to landmarks)
    tracked: bool = False  # True when the ROI came from the previous landmarks, not a detection

    def to_dict(self, with_params: bool = True) -> dict:
        d = {
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


@dataclass
class FrameResult:
    """What `FaceAligner.detect*` returns for one image: its `faces` (best detection first, then by
    id), per-stage `time_ms`, whether the detector ran (`detected`) and the frame's timestamp.
    `to_dict()` is exactly the JSONL record of `edgeface run --json`."""

    frame: int
    source: str
    faces: list[Face] = field(default_factory=list)
    time_ms: dict = field(default_factory=dict)  # detect, regress, decode, (dense, render), total
    detected: bool = False  # whether the detector ran on this frame
    timestamp_s: Optional[float] = None

    def to_dict(self) -> dict:
        return {
            "frame": int(self.frame),
            "source": self.source,
            "time_ms": {k: round(float(v), 3) for k, v in self.time_ms.items()},
            "faces": [f.to_dict() for f in self.faces],
        }
