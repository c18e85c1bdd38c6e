"""`PipelineOptions`: everything that configures the on-board pipeline, validated at creation.

The public API (`edgeface.FaceAlignerOptions`) and the CLI build one of these from a target profile
and the user's overrides; the pipeline and the model loader read it and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from edgeface.errors import OptionsError
from edgeface.runtime.smoothing_config import SmoothingConfig
from edgeface.runtime.motion import MOTION_MODELS, MotionConfig
from edgeface.runtime.still import StillConfig
from edgeface.runtime.tracks import TrackerConfig
from edgeface.vocab import DEFAULT_DETECTOR_SIZE, Precision, check_detector_size, check_regressor

BACKENDS = ("tflite", "onnx")
SCAN_MODES = ("inline", "async")


@dataclass
class PipelineOptions:
    """Everything that configures a pipeline (the API and the CLI fill it from a target profile + overrides)."""

    backend: str = "tflite"  # tflite | onnx (the float reference)
    precision: Precision = Precision.FP32  # TFLite models from the cache (a Precision or its name)
    detector_precision: Optional[Precision] = None  # the detector's, when it differs (None: `precision`)
    regressor: str = "mb05"  # mb05 | mb1
    threads: int = 1
    runtime: Optional[str] = None  # TFLite runtime to prefer (ai_edge_litert | tflite_runtime | tensorflow)
    detector_size: tuple = DEFAULT_DETECTOR_SIZE  # FaceBoxes input (width, height)
    detector_fallback: bool = False  # if that size is not converted, use another converted size
    score_threshold: float = 0.5  # detector: faces with score > this
    max_faces: Optional[int] = None  # at most this many faces per frame (best detections first)
    tracking: bool = True  # video: crop from the previous landmarks between detections
    detect_interval: int = 10  # video with tracking: re-detect every N frames (0: only when needed)
    refine: bool = True  # video: re-crop a newly detected face from its landmarks and regress again
    scan: str = "inline"  # periodic scans for new faces: "inline" (this thread) | "async" (runtime.scanner)
    max_misses: int = 0  # scans a tracked face may go undetected while its landmarks pass the loss checks
    roi_deadband: float = 0.0  # hold a tracked face's crop while it moves less than this fraction of its side (0: upstream; FaceAligner: 0.02)
    motion: str = "none"  # video: "velocity" predicts each face's crop from its motion and revives lost faces (runtime.motion); "none": upstream
    min_scan_interval: int = 1  # motion: periodic scans never closer than this (one usable core: the interval itself, scans share the core)
    regressor_workers: int = 1  # regress up to this many faces of a frame at once, each on its own 1-thread interpreter (runtime.regressor_pool)
    regressor_threads: Optional[int] = None  # per-stage inference threads (None: `threads`)
    detector_threads: Optional[int] = None
    scan_threads: int = 1  # threads of the asynchronous scan's detector (it shares the cores with the tracking)
    smoothing: SmoothingConfig = field(default_factory=SmoothingConfig)  # enabled=False: raw output
    dense: bool = False  # fill Face.dense with the dense reconstructor given to the pipeline
    dense_max_vertices: int = 0  # dense mesh vertex budget for that reconstructor (0: full mesh)
    root: Optional[Path] = None  # cache folder (default $EDGEFACE_HOME)
    still: StillConfig = field(default_factory=StillConfig)  # still images: detector scale, re-crops, flip TTA
    bitexact: bool = False  # resample with cv2.INTER_LINEAR_EXACT (the same pixels on x86 and arm64) instead of INTER_LINEAR

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise OptionsError(f"unknown backend '{self.backend}': use tflite or onnx")
        check_regressor(self.regressor)
        self.precision = Precision.parse(self.precision)
        if self.detector_precision is not None:
            self.detector_precision = Precision.parse(self.detector_precision)
        if int(self.threads) < 1:
            raise OptionsError(f"threads must be >= 1, got {self.threads}")
        if self.scan not in SCAN_MODES:
            raise OptionsError(f"unknown scan mode '{self.scan}': use {' or '.join(SCAN_MODES)}")
        if int(self.max_misses) < 0:
            raise OptionsError(f"max misses must be >= 0, got {self.max_misses}")
        if not (0.0 <= float(self.roi_deadband) < 0.5):
            raise OptionsError(f"ROI deadband must be in [0, 0.5) of the crop side, got {self.roi_deadband}")
        for name in ("regressor_threads", "detector_threads", "scan_threads"):
            v = getattr(self, name)
            if v is not None and int(v) < 1:
                raise OptionsError(f"{name.replace('_', ' ')} must be >= 1, got {v}")
        if int(self.detect_interval) < 0:
            raise OptionsError(f"detect interval must be >= 0 frames, got {self.detect_interval}")
        if self.motion not in MOTION_MODELS:
            raise OptionsError(f"unknown motion model {self.motion!r}: use {' or '.join(MOTION_MODELS)}")
        if isinstance(self.min_scan_interval, bool) or int(self.min_scan_interval) < 1:
            raise OptionsError(f"min scan interval must be >= 1 frame, got {self.min_scan_interval!r}")
        if isinstance(self.regressor_workers, bool) or int(self.regressor_workers) < 1:
            raise OptionsError(f"regressor workers must be >= 1, got {self.regressor_workers!r}")
        if self.max_faces is not None and int(self.max_faces) < 1:
            raise OptionsError(f"max faces must be >= 1, got {self.max_faces}")
        if int(self.dense_max_vertices) < 0:
            raise OptionsError(f"dense vertex budget must be >= 0, got {self.dense_max_vertices}")
        self.detector_size = check_detector_size(*self.detector_size)
        if not isinstance(self.still, StillConfig):
            raise OptionsError(f"still must be a StillConfig, got {type(self.still).__name__}")
        self.still = self.still.for_precision(self.precision if self.backend == "tflite" else Precision.FP32)

    def stage_threads(self, stage: str) -> int:
        """Inference threads of a stage ("regressor" | "detector" | "scan"): its own count, else `threads`."""
        v = getattr(self, f"{stage}_threads")
        return int(v if v is not None else self.threads)  # scan_threads is never None

    @property
    def detector_precision_used(self) -> Precision:
        """The precision of the detector's model file (a board profile may pick it per stage)."""
        return self.detector_precision or self.precision

    def tracker_config(self, still: bool = False) -> TrackerConfig:
        if still:
            return TrackerConfig(tracking=False, detect_interval=1, max_faces=self.max_faces)
        return TrackerConfig(tracking=self.tracking, detect_interval=int(self.detect_interval) if self.tracking else 1,
                             max_faces=self.max_faces, max_misses=int(self.max_misses),
                             roi_deadband=float(self.roi_deadband),
                             motion=MotionConfig(self.motion, min_scan_interval=int(self.min_scan_interval))
                             if self.motion != "none" and self.tracking else None)
