"""`FaceAlignerOptions` and `RunningMode`: how a `FaceAligner` is configured, validated at creation.

Options left at `None` come from the board profile (`target`, default `"auto"`: the profile
`edgeface run --target auto` picks for this machine, read from /proc), exactly as the CLI does:
precision, threads (never more than the cores this process may use), detector size (with a
fallback to another converted size when the profile's is not converted), detect interval,
smoothing parameters, camera size and dense mesh budget.

This module imports nothing heavy (no OpenCV, no TFLite runtime): `import edgeface` stays fast.
"""

from __future__ import annotations

import dataclasses
import enum
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Union

from edgeface.errors import OptionsError
from edgeface.vocab import Precision, check_regressor, parse_size

COLORS = ("bgr", "rgb")
#: a tracked face's crop is held while it would move by less than this fraction of its side (README, Stability)
ROI_DEADBAND = 0.02
#: VIDEO / LIVE_STREAM: predict each tracked face's crop from its motion (runtime.motion; benchmarks/motion.md)
MOTION = "velocity"


class RunningMode(str, enum.Enum):
    """How frames reach a `FaceAligner`, fixed at creation (as MediaPipe Tasks do).

    IMAGE: independent photos, `detect(image)`: a fresh detection per image, no tracking, no smoothing.
    VIDEO: frames of one video in order, `detect_for_video(image, timestamp_ms)`: tracking + smoothing.
    LIVE_STREAM: a live camera, `detect_async(image, timestamp_ms)`: results go to `result_callback`
    from a worker thread; a frame that arrives while the worker is busy is dropped and counted.
    """

    IMAGE = "image"
    VIDEO = "video"
    LIVE_STREAM = "live_stream"

    @classmethod
    def parse(cls, value: Union[str, "RunningMode"]) -> "RunningMode":
        if isinstance(value, RunningMode):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            raise OptionsError(f"unknown running mode {value!r}: use image, video or live_stream") from None


#: result_callback(result: FrameResult, image: np.ndarray, timestamp_ms: int) in LIVE_STREAM mode
ResultCallback = Callable[..., None]


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@dataclass
class FaceAlignerOptions:
    """Options of a `FaceAligner`. `None` means "the target profile's value".

    Args:
        regressor: "mb05" (default) or "mb1".
        precision: "fp32" | "fp16" | "int8" | "int8_floatio" (or a `Precision`), for both networks; None:
            the profile's (which may give the detector its own, `[detector] precision`).
        detector_precision: the detector's own precision, when it differs from `precision` (None: as
            `precision` when that is given, else the profile's detector precision).
        target: a board profile name (rpi3, rpi4, rpi5, rpi-zero2w, generic-aarch64, x86_64) or "auto".
        threads: inference threads; None: the profile's, capped at the usable cores.
        detector_size: FaceBoxes input as (w, h) or "WxH" (multiples of 32); None: the profile's, and
            another converted size is used (with a note) if the profile's is not converted.
        max_faces: at most this many faces per frame (None: all).
        detect_interval: VIDEO / LIVE_STREAM: re-detect every N frames while tracking (0: only when a
            face is lost); None: the profile's (its `one_core_interval` when the process may use one
            core only: the periodic scans then share that core with the tracking).
        tracking: VIDEO / LIVE_STREAM: crop each frame from the previous landmarks (False: detector on
            every frame).
        scan: VIDEO / LIVE_STREAM: periodic scans for new faces "async" (a worker thread with its own
            detector; tracked frames never wait) or "inline"; None: the profile's.
        max_misses: scans a tracked face may go undetected (profile view, blur) while its landmarks
            pass the loss checks; None: the profile's.
        smoothing: VIDEO / LIVE_STREAM: One Euro smoothing of landmarks, box and pose (profile parameters).
        dense: add the dense mesh per face (`Face.dense`: exact with the BFM, else `dense_approx`).
        dense_vertices: decimate the dense mesh to about N vertices (0: full); None: the profile's.
        running_mode: `RunningMode` (or its name); fixed for the aligner's life.
        result_callback: LIVE_STREAM only (and required there): called as
            `callback(result, image, timestamp_ms)` from the aligner's worker thread.
        color: channel order of the images you pass: "bgr" (OpenCV, default) or "rgb" (PIL, picamera2 "RGB888" is BGR).
        backend: "tflite" (converted models, default) or "onnx" (the float reference; needs the convert extra).
        runtime: TFLite runtime to prefer: ai_edge_litert | tflite_runtime | tensorflow (None: the first importable).
        cache_root: the model cache (default $EDGEFACE_HOME or ~/.cache/edgeface).
        still: IMAGE mode: `edgeface.runtime.still.StillConfig` (detector scale policy, landmark re-crops,
            flip TTA); None: the measured default (native scale, 1 re-crop, flip); `StillConfig.upstream()`
            is upstream demo.py.
        roi_deadband: VIDEO / LIVE_STREAM: a tracked face keeps its crop while the next one would move by
            less than this fraction of the crop's side (a still face gets the same crop every frame
            instead of one following its own landmark noise; README, Stability); 0: a new crop
            every frame, as upstream demo_video.
        bitexact: resample crops and the detector canvas with cv2.INTER_LINEAR_EXACT, which gives the
            same pixels on x86 and arm64 (what the cross-CPU parity checks use); default False:
            upstream's cv2.INTER_LINEAR, about 2x cheaper per crop.
        motion: VIDEO / LIVE_STREAM: "velocity" (default) predicts each tracked face's next crop from
            its recent motion and gives a face lost and re-detected near its prediction its old id
            (runtime.motion; benchmarks/motion.md); "none": upstream demo_video's crop from the
            previous landmarks (the parity tests).
        regressor_workers: regress up to this many faces of a frame at once, each on its own
            1-thread interpreter (runtime.regressor_pool); None: the profile's, capped at the cores.

    Raises:
        OptionsError (a ValueError): a bad value, e.g. an unknown precision or a callback outside LIVE_STREAM.
    """

    regressor: str = "mb05"
    precision: Optional[Union[str, Precision]] = None
    detector_precision: Optional[Union[str, Precision]] = None
    target: str = "auto"
    threads: Optional[int] = None
    detector_size: Optional[Union[str, tuple]] = None
    max_faces: Optional[int] = None
    detect_interval: Optional[int] = None
    tracking: bool = True
    scan: Optional[str] = None
    max_misses: Optional[int] = None
    smoothing: bool = True
    dense: bool = False
    dense_vertices: Optional[int] = None
    running_mode: Union[str, RunningMode] = RunningMode.IMAGE
    result_callback: Optional[ResultCallback] = None
    color: str = "bgr"
    backend: str = "tflite"
    runtime: Optional[str] = None
    cache_root: Optional[Union[str, Path]] = None
    still: Optional[object] = None  # IMAGE mode: a runtime.still.StillConfig (None: the measured default)
    roi_deadband: float = ROI_DEADBAND
    bitexact: bool = False
    motion: str = MOTION
    regressor_workers: Optional[int] = None

    def __post_init__(self):
        check_regressor(self.regressor)
        self.running_mode = RunningMode.parse(self.running_mode)
        if self.precision is not None:
            self.precision = Precision.parse(self.precision)
        if self.detector_precision is not None:
            self.detector_precision = Precision.parse(self.detector_precision)
            if self.backend == "onnx" and self.detector_precision is not Precision.FP32:
                raise OptionsError("detector_precision applies to TFLite models; the ONNX reference is fp32")
        if self.backend not in ("tflite", "onnx"):
            raise OptionsError(f"unknown backend '{self.backend}': use tflite or onnx")
        if self.backend == "onnx" and self.precision not in (None, Precision.FP32):
            raise OptionsError(f"precision {self.precision} applies to TFLite models; the ONNX reference is fp32 "
                               "(drop the precision or use backend tflite)")
        if self.detector_size is not None:
            self.detector_size = parse_size(self.detector_size)
        for name in ("threads", "max_faces"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or int(v) < 1):
                raise OptionsError(f"{name} must be >= 1, got {v!r}")
        if self.scan is not None and self.scan not in ("async", "inline"):
            raise OptionsError(f"unknown scan mode {self.scan!r}: use async or inline")
        for name in ("detect_interval", "dense_vertices", "max_misses"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or int(v) < 0):
                raise OptionsError(f"{name} must be >= 0, got {v!r}")
        if isinstance(self.roi_deadband, bool) or not (0.0 <= float(self.roi_deadband) < 0.5):
            raise OptionsError(f"roi_deadband must be a fraction of the crop side in [0, 0.5), got {self.roi_deadband!r}")
        if self.motion not in ("none", "velocity"):
            raise OptionsError(f"unknown motion model {self.motion!r}: use velocity or none")
        if self.regressor_workers is not None and (isinstance(self.regressor_workers, bool) or int(self.regressor_workers) < 1):
            raise OptionsError(f"regressor_workers must be >= 1, got {self.regressor_workers!r}")
        if self.color not in COLORS:
            raise OptionsError(f"unknown color order {self.color!r}: use bgr or rgb")
        live = self.running_mode is RunningMode.LIVE_STREAM
        if live and self.result_callback is None:
            raise OptionsError("running mode live_stream needs a result_callback(result, image, timestamp_ms)")
        if not live and self.result_callback is not None:
            raise OptionsError(f"result_callback is only used in live_stream mode, not {self.running_mode.value}: "
                               "use detect()/detect_for_video() return values")
        if self.result_callback is not None and not callable(self.result_callback):
            raise OptionsError("result_callback must be callable: callback(result, image, timestamp_ms)")
        if self.cache_root is not None:
            self.cache_root = Path(self.cache_root).expanduser()

    def resolve(self):
        """(PipelineOptions, TargetChoice): these options over the target profile (reads /proc for "auto")."""
        from edgeface.boards.profiles import resolve_target
        from edgeface.runtime.options import PipelineOptions

        choice = resolve_target(self.target)
        prof = choice.profile
        precision = self.precision or (Precision.FP32 if self.backend == "onnx" else prof.precision)
        cores = usable_cores()
        threads = self.threads or min(int(prof.threads), cores)
        stage = {f"{k}_threads": (threads if self.threads else min(int(v), cores) if v else None)
                 for k, v in (("regressor", prof.regressor_threads), ("detector", prof.detector_threads))}
        # a precision given here applies to both networks; the profile's may differ per stage
        det_precision = self.detector_precision or (
            None if self.precision or self.backend == "onnx" else prof.detector_precision)
        options = PipelineOptions(
            backend=self.backend, precision=precision, detector_precision=det_precision, regressor=self.regressor,
            threads=threads, runtime=self.runtime, **stage,
            # photos never scan periodically: no scan thread or second detector in IMAGE mode
            scan="inline" if self.running_mode is RunningMode.IMAGE else (self.scan or prof.scan),
            scan_threads=min(int(prof.scan_threads), cores), max_misses=prof.max_misses if self.max_misses is None else self.max_misses,
            detector_size=self.detector_size or tuple(prof.detector_size),
            detector_fallback=self.detector_size is None, max_faces=self.max_faces, tracking=self.tracking,
            detect_interval=self.detect_interval if self.detect_interval is not None else (
                prof.one_core_interval if cores == 1 and prof.one_core_interval else prof.detect_interval),
            smoothing=dataclasses.replace(prof.smoothing, enabled=self.smoothing), dense=self.dense,
            dense_max_vertices=prof.dense_max_vertices if self.dense_vertices is None else self.dense_vertices,
            root=self.cache_root, bitexact=bool(self.bitexact), roi_deadband=float(self.roi_deadband), **({} if self.still is None else {"still": self.still}),
            motion=self.motion, regressor_workers=int(self.regressor_workers or min(int(prof.regressor_workers), cores)),
        )
        return options, choice
