"""How a `FaceAligner` is configured, split as MediaPipe Tasks do, frozen and validated at creation.

- `BaseOptions`: which models and how to run them (regressor, precision, detector size, target
  profile, threads, backend, TFLite runtime, model cache or bundle, bit-exact resampling);
- `FaceAlignerOptions`: what the task does with them (running mode, max faces, score threshold,
  detect interval, tracking, smoothing, dense mesh, result callback, colour order, ...), holding a
  `BaseOptions` in `base_options`;
- `RunningMode`: IMAGE / VIDEO / LIVE_STREAM.

`FaceAligner.create(**kw)` takes the fields of both as keywords and sorts them. Options left at `None`
come from the board profile (`target`, default "auto": the profile `edgeface run --target auto` picks
for this machine), exactly as the CLI does; that combination is `edgeface.option_resolution.resolve_options`.

Deprecated (one release): the `BaseOptions` fields given to `FaceAlignerOptions` directly
(`FaceAlignerOptions(precision="int8")`) or read from it (`options.precision`) still work, with a
`DeprecationWarning` naming `base_options`.

This module imports nothing heavy (no numpy, OpenCV or TFLite runtime): `import edgeface` stays fast.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

from edgeface.callbacks import ResultCallback
from edgeface.deprecation import warn_renamed
from edgeface.errors import OptionsError
from edgeface.vocab import Precision, check_regressor, parse_size

COLORS = ("bgr", "rgb")
#: a tracked face's crop is held while it would move by less than this fraction of its side (docs/concepts/stability.md)
ROI_DEADBAND = 0.02
#: the detector keeps faces scoring above this (FaceBoxes' upstream `vis_thres`)
SCORE_THRESHOLD = 0.5
BACKENDS = ("tflite", "onnx")
SCAN_MODES = ("async", "inline")
#: VIDEO / LIVE_STREAM: how a tracked face's next crop is predicted (runtime.motion; benchmarks/motion.md)
MOTION_MODELS = ("velocity", "none")


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
    def parse(cls, value: Union[str, RunningMode]) -> RunningMode:
        """A `RunningMode` from itself or its name ("image", "video", "live_stream"); else `OptionsError`."""
        if isinstance(value, RunningMode):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            raise OptionsError(f"unknown running mode {value!r}: use image, video or live_stream") from None


def _set(obj: object, name: str, value: object) -> None:
    """Normalise a field of a frozen dataclass in its `__post_init__`."""
    object.__setattr__(obj, name, value)


def _check_count(name: str, value: Optional[int], minimum: int) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < minimum):
        raise OptionsError(f"{name} must be an integer >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class BaseOptions:
    """Which models a `FaceAligner` runs and how. `None` means "the target profile's value".

    Args:
        regressor: "mb05" (default) or "mb1".
        precision: "fp32" | "fp16" | "int8" | "int8_floatio" (or a `Precision`), for both networks; None:
            the profile's (which may give the detector its own), or the bundle's.
        detector_precision: the detector's own precision when it differs from `precision` (None: as
            `precision` when that is given, else the profile's or the bundle's).
        detector_size: FaceBoxes input in pixels as (width, height) or "WxH" (multiples of 32); None: the
            profile's (another converted size is used, with a note, if that one is not converted), or the bundle's.
        target: a board profile name (rpi3, rpi4, rpi5, rpi-zero2w, generic-aarch64, x86_64) or "auto".
        threads: inference threads, capped at the cores this process may use (`FaceAligner.describe()["note"]`
            says so); None: the profile's (also capped).
        regressor_workers: regress up to this many faces of a frame at once, each on its own 1-thread
            interpreter (runtime.regressor_pool); None: the profile's, capped at the cores.
        backend: "tflite" (converted models, default) or "onnx" (the float reference; the convert extra).
        runtime: TFLite runtime to prefer: ai_edge_litert | tflite_runtime | tensorflow (None: the first importable).
        cache_root: the model cache folder (None: $EDGEFACE_HOME or ~/.cache/edgeface).
        bundle: a model bundle file (`edgeface pack`): verified, unpacked beside it, and used as the model
            cache; its precision and detector size are the defaults (a different one is an `OptionsError`).
        bitexact: resample with cv2.INTER_LINEAR_EXACT (the same pixels on x86 and arm64, about 2x the
            resize cost); default False: upstream's cv2.INTER_LINEAR.

    Raises:
        OptionsError: a bad value, named with the fix (also a ValueError).
    """

    regressor: str = "mb05"
    precision: Optional[Union[str, Precision]] = None
    detector_precision: Optional[Union[str, Precision]] = None
    detector_size: Optional[Union[str, tuple[int, int]]] = None
    target: str = "auto"
    threads: Optional[int] = None
    regressor_workers: Optional[int] = None
    backend: str = "tflite"
    runtime: Optional[str] = None
    cache_root: Optional[Union[str, Path]] = None
    bundle: Optional[Union[str, Path]] = None
    bitexact: bool = False

    def __post_init__(self) -> None:
        check_regressor(self.regressor)
        if self.backend not in BACKENDS:
            raise OptionsError(f"unknown backend '{self.backend}': use tflite or onnx")
        if self.precision is not None:
            _set(self, "precision", Precision.parse(self.precision))
        if self.detector_precision is not None:
            _set(self, "detector_precision", Precision.parse(self.detector_precision))
            if self.backend == "onnx" and self.detector_precision is not Precision.FP32:
                raise OptionsError("detector_precision applies to TFLite models; the ONNX reference is fp32")
        if self.backend == "onnx" and self.precision not in (None, Precision.FP32):
            raise OptionsError(f"precision {self.precision} applies to TFLite models; the ONNX reference is fp32 "
                               "(drop the precision or use backend tflite)")
        if self.detector_size is not None:
            _set(self, "detector_size", parse_size(self.detector_size))
        _check_count("threads", self.threads, 1)
        _check_count("regressor_workers", self.regressor_workers, 1)
        if self.cache_root is not None:
            _set(self, "cache_root", Path(self.cache_root).expanduser())
        if self.bundle is not None:
            _set(self, "bundle", Path(self.bundle).expanduser())
            if self.backend == "onnx":
                raise OptionsError("a bundle holds TFLite models: drop backend='onnx' or the bundle")
        _set(self, "bitexact", bool(self.bitexact))

    @property
    def precision_value(self) -> Optional[Precision]:
        """`precision` as a `Precision` (None: the profile's)."""
        return None if self.precision is None else Precision.parse(self.precision)

    @property
    def detector_size_value(self) -> Optional[tuple[int, int]]:
        """`detector_size` as (width, height) in pixels (None: the profile's)."""
        return None if self.detector_size is None else parse_size(self.detector_size)


#: the option names `FaceAligner.create` sends to `BaseOptions`
BASE_FIELDS = tuple(f.name for f in dataclasses.fields(BaseOptions))


@dataclass(frozen=True)
class FaceAlignerOptions:
    """What a `FaceAligner` does: its running mode and task options, with `base_options` (the models
    and how they run). `None` means "the target profile's value".

    Args:
        base_options: `BaseOptions` (default: every model option from the profile).
        running_mode: `RunningMode` (or its name); fixed for the aligner's life.
        max_faces: at most this many faces per frame, best detections first (None: all).
        score_threshold: the detector keeps faces scoring above this (0..1, default 0.5 as upstream).
        detect_interval: VIDEO / LIVE_STREAM: re-detect every N frames while tracking (0: only when a face
            is lost); None: the profile's (its `one_core_interval` when this process may use one core).
        tracking: VIDEO / LIVE_STREAM: crop each frame from the previous landmarks (False: the detector
            on every frame).
        scan: VIDEO / LIVE_STREAM: periodic scans for new faces "async" (a worker thread with its own
            detector) or "inline"; None: the profile's.
        max_misses: scans a tracked face may go undetected while its landmarks pass the loss checks;
            None: the profile's.
        smoothing: VIDEO / LIVE_STREAM: One Euro smoothing of landmarks, box and pose (profile parameters).
        dense: add the dense mesh per face (`Face.dense`: exact with the BFM, else `dense_approx`).
        dense_vertices: decimate the dense mesh to about N vertices (0: full); None: the profile's.
        result_callback: LIVE_STREAM only (and required there): a `ResultCallback`, called as
            `callback(result, image, timestamp_ms)` from the aligner's worker thread.
        color: channel order of the images you pass: "bgr" (OpenCV, default) or "rgb".
        still: IMAGE mode: an `edgeface.runtime.still.StillConfig` (detector scale, landmark re-crops,
            flip TTA); None: the measured default; `StillConfig.upstream()` is upstream demo.py.
        roi_deadband: VIDEO / LIVE_STREAM: a tracked face keeps its crop while the next one would move by
            less than this fraction of the crop's side (default 0.02; 0: a new crop every frame, as upstream).
        motion: VIDEO / LIVE_STREAM: "velocity" (default) predicts each tracked face's next crop from its
            recent motion and gives a face lost and re-detected near its prediction its old id
            (runtime.motion; benchmarks/motion.md); "none": upstream demo_video's crop from the previous
            landmarks (the parity tests).

    Raises:
        OptionsError: a bad value (also a ValueError), e.g. an unknown running mode or a callback outside
            LIVE_STREAM.
    """

    base_options: BaseOptions = field(default_factory=BaseOptions)
    running_mode: Union[str, RunningMode] = RunningMode.IMAGE
    max_faces: Optional[int] = None
    score_threshold: float = SCORE_THRESHOLD
    detect_interval: Optional[int] = None
    tracking: bool = True
    scan: Optional[str] = None
    max_misses: Optional[int] = None
    smoothing: bool = True
    dense: bool = False
    dense_vertices: Optional[int] = None
    result_callback: Optional[ResultCallback] = None
    color: str = "bgr"
    still: Optional[object] = None
    roi_deadband: float = ROI_DEADBAND
    motion: str = "velocity"

    def __post_init__(self) -> None:
        if not isinstance(self.base_options, BaseOptions):
            raise OptionsError(f"base_options must be a BaseOptions, got {type(self.base_options).__name__}")
        _set(self, "running_mode", RunningMode.parse(self.running_mode))
        _check_count("max_faces", self.max_faces, 1)
        for name in ("detect_interval", "dense_vertices", "max_misses"):
            _check_count(name, getattr(self, name), 0)
        if isinstance(self.score_threshold, bool) or not isinstance(self.score_threshold, (int, float)) \
                or not 0.0 <= float(self.score_threshold) < 1.0:
            raise OptionsError(f"score_threshold must be a detector score in [0, 1), got {self.score_threshold!r}")
        _set(self, "score_threshold", float(self.score_threshold))
        if self.scan is not None and self.scan not in SCAN_MODES:
            raise OptionsError(f"unknown scan mode {self.scan!r}: use async or inline")
        if isinstance(self.roi_deadband, bool) or not isinstance(self.roi_deadband, (int, float)) \
                or not 0.0 <= float(self.roi_deadband) < 0.5:
            raise OptionsError(f"roi_deadband must be a fraction of the crop side in [0, 0.5), got {self.roi_deadband!r}")
        if self.motion not in MOTION_MODELS:
            raise OptionsError(f"unknown motion model {self.motion!r}: use velocity or none")
        if self.color not in COLORS:
            raise OptionsError(f"unknown color order {self.color!r}: use bgr or rgb")
        live = self.running_mode is RunningMode.LIVE_STREAM
        if live and self.result_callback is None:
            raise OptionsError("running mode live_stream needs a result_callback(result, image, timestamp_ms)")
        if not live and self.result_callback is not None:
            raise OptionsError(f"result_callback is only used in live_stream mode, not {RunningMode.parse(self.running_mode).value}: "
                               "use detect()/detect_for_video() return values")
        if self.result_callback is not None and not callable(self.result_callback):
            raise OptionsError("result_callback must be callable: callback(result, image, timestamp_ms)")

    @property
    def mode(self) -> RunningMode:
        """`running_mode` as a `RunningMode`."""
        return RunningMode.parse(self.running_mode)

    @classmethod
    def from_keywords(cls, **kwargs: Any) -> FaceAlignerOptions:
        """The options of `FaceAligner.create(**kwargs)`: `BaseOptions` fields go to `base_options`,
        the rest to the task options. An unknown keyword is an `OptionsError` listing the known ones."""
        base = {k: kwargs.pop(k) for k in BASE_FIELDS if k in kwargs}
        task_fields = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(kwargs) - set(task_fields))
        if unknown:
            names = ", ".join(sorted(set(task_fields) - {"base_options"} | set(BASE_FIELDS)))
            raise OptionsError(f"unknown FaceAligner option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: "
                               f"the options are {names}")
        if base:
            if "base_options" in kwargs:
                raise OptionsError(f"give {', '.join(base)} inside base_options, or drop base_options")
            kwargs["base_options"] = BaseOptions(**base)
        return cls(**kwargs)

    if not TYPE_CHECKING:
        def __getattr__(self, name: str):
            # deprecated (one release): the BaseOptions fields read from FaceAlignerOptions
            if name in BASE_FIELDS:
                warn_renamed(f"FaceAlignerOptions.{name}", f"FaceAlignerOptions.base_options.{name}")
                return getattr(object.__getattribute__(self, "base_options"), name)
            raise AttributeError(f"'FaceAlignerOptions' object has no attribute {name!r}")


_dataclass_init = FaceAlignerOptions.__init__


def _init_accepting_base_fields(self: FaceAlignerOptions, *args: Any, **kwargs: Any) -> None:
    """Deprecated (one release): `FaceAlignerOptions(precision=...)` and the other `BaseOptions` fields."""
    moved = {k: kwargs.pop(k) for k in BASE_FIELDS if k in kwargs}
    if moved:
        names = ", ".join(f"{k}=..." for k in moved)
        warn_renamed(f"FaceAlignerOptions({names})",
                     f"FaceAlignerOptions(base_options=BaseOptions({names})) or FaceAligner.create({names})")
        base = kwargs.get("base_options") or BaseOptions()
        kwargs["base_options"] = dataclasses.replace(base, **moved)
    _dataclass_init(self, *args, **kwargs)


FaceAlignerOptions.__init__ = _init_accepting_base_fields  # type: ignore[method-assign]
