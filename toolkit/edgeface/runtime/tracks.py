"""The tracker's records: its policy (`TrackerConfig`, validated at creation), the crops it hands the
pipeline each frame (`Target`) and the state of one tracked face (`Track`). The state machine that
uses them is `runtime.tracker.FaceTracker`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from edgeface.errors import EdgefaceError
from edgeface.runtime import roi as roi_mod
from edgeface.runtime.boxes import box_from_relative, points_box
from edgeface.runtime.motion import BoxMotion, MotionConfig


@dataclass
class TrackerConfig:
    """Tracking policy. Defaults: re-detect every 10 frames, loss checks as described above."""

    tracking: bool = True  # False: detector + detection crop on every frame
    detect_interval: int = 10  # re-detect every N frames while tracking (0: only when needed)
    max_faces: Optional[int] = None  # at most this many tracks (None: no limit)
    match_iou: float = 0.3  # a detection continues a track when their boxes overlap this much
    reseed_iou: float = 0.5  # below this (but matched) the track's crop is re-seeded from the detection
    min_area_ratio: float = 0.5  # landmark-box area ratio to the previous frame outside
    max_area_ratio: float = 2.0  # [min_area_ratio, max_area_ratio]: lost (scale jump)
    min_roi_area: float = 2020.0  # next crop smaller than this (px^2): lost (upstream demo_video)
    min_visible: float = 0.5  # fraction of the next crop inside the frame below this: lost
    duplicate_iou: float = 0.6  # landmark boxes of two tracks overlapping more: the younger is lost
    max_misses: int = 0  # detector runs a track may go unconfirmed before it is dropped
    roi_deadband: float = 0.0  # keep a tracked face's crop while its next one moves less (fraction of its side; roi.hold_roi)
    motion: Optional[MotionConfig] = None  # predict crops from each track's motion, revive lost tracks (None: upstream)

    def __post_init__(self):
        if int(self.detect_interval) < 0:
            raise EdgefaceError(f"detect interval must be >= 0 frames, got {self.detect_interval}")
        if self.max_faces is not None and int(self.max_faces) < 1:
            raise EdgefaceError(f"max faces must be >= 1, got {self.max_faces}")
        if not (0.0 < self.min_area_ratio <= 1.0 <= self.max_area_ratio):
            raise EdgefaceError(f"area ratio bounds must satisfy 0 < min <= 1 <= max, got "
                                f"[{self.min_area_ratio}, {self.max_area_ratio}]")
        if int(self.max_misses) < 0:
            raise EdgefaceError(f"max misses must be >= 0, got {self.max_misses}")
        if not (0.0 <= float(self.roi_deadband) < 0.5):
            raise EdgefaceError(f"ROI deadband must be in [0, 0.5) of the crop side, got {self.roi_deadband}")
        if self.motion is not None and not isinstance(self.motion, MotionConfig):
            raise EdgefaceError(f"motion must be a MotionConfig or None, got {type(self.motion).__name__}")

    @property
    def motion_on(self) -> bool:
        return self.motion is not None and self.motion.enabled


@dataclass(frozen=True)
class Target:
    """One crop the pipeline must regress this frame."""

    track_id: int
    roi: np.ndarray  # (4,) float64 square crop box, frame pixels
    bbox: np.ndarray  # (4,) face box (detector convention, unclipped), frame pixels
    score: float  # score of the track's last detection
    source: str  # "detect": crop from a detection box; "track": crop from the previous landmarks
    new: bool  # the track starts with this target


@dataclass
class Track:
    id: int
    bbox: np.ndarray  # last face box (a detection, or predicted from the landmarks)
    score: float
    landmarks: Optional[np.ndarray] = None  # (N, 2) landmarks of the last update
    box_rel: Optional[np.ndarray] = None  # the last detection box relative to the landmark box
    anchor: Optional[np.ndarray] = None  # a detection box whose box_rel awaits the next landmarks
    frames: int = 0  # frames the track has existed
    misses: int = 0  # consecutive detector runs that did not confirm it
    updated: bool = False  # landmarks were updated this frame
    source: str = "detect"  # where the crop of its pending target comes from ("detect" | "track")
    lm_box: Optional[np.ndarray] = None  # points_box(landmarks), kept with them
    next_roi: Optional[np.ndarray] = None  # roi_from_landmarks(landmarks), kept with them
    _pred: Optional[tuple] = field(default=None, repr=False, compare=False)  # (box_rel, lm_box, predicted box)
    motion: Optional[BoxMotion] = field(default=None, repr=False, compare=False)  # TrackerConfig.motion on
    innovation: float = 0.0  # distance (face sides) of this frame's landmark box from its motion prediction
    fell_back: bool = False  # motion: this frame's predicted crop failed, the crop without prediction is used
    _xy: Optional[tuple] = field(default=None, repr=False, compare=False)  # (lm_box, its 4 values as Python floats)

    def set_landmarks(self, pts: Optional[np.ndarray], box: Optional[np.ndarray] = None,
                      nxt: Optional[np.ndarray] = None) -> None:
        """New landmarks (or None) with their box and next crop (computed here when not given)."""
        self.landmarks = pts
        if pts is None:
            self.lm_box = self.next_roi = None
            return
        self.lm_box = points_box(pts) if box is None else box
        self.next_roi = roi_mod.roi_from_landmarks(pts) if nxt is None else nxt

    @property
    def lm_xy(self) -> tuple:
        """`lm_box` as 4 Python floats (x1, y1, x2, y2): what the per-face checks compare, without numpy scalars."""
        c = self._xy  # once per lm_box: it is replaced, never changed in place
        if c is None or c[0] is not self.lm_box:
            c = self._xy = (self.lm_box, tuple(self.lm_box.tolist()))
        return c[1]

    def landmark_box(self) -> Optional[np.ndarray]:
        return None if self.landmarks is None else self.lm_box

    def predicted_box(self) -> np.ndarray:
        """The face box implied by the current landmarks (the detection box moved with them)."""
        if self.landmarks is None or self.box_rel is None:
            return self.bbox
        c = self._pred  # computed once per (box_rel, lm_box): both are replaced, never changed in place
        if c is None or c[0] is not self.box_rel or c[1] is not self.lm_box:
            c = self._pred = (self.box_rel, self.lm_box, box_from_relative(self.box_rel, self.lm_box))
        return c[2]
