"""`FaceAligner`: the public, in-process API of edgeface (the runtime `edgeface run` uses).

    import edgeface

    with edgeface.FaceAligner.create(precision="int8") as aligner:       # IMAGE mode (default)
        result = aligner.detect(image_bgr)                                # -> FrameResult
        for face in result.faces:
            face.landmarks        # (68, 3) float32, x/y in image pixels, z in pixels
            face.pose.yaw         # degrees

Three running modes, fixed at creation (`RunningMode`, as MediaPipe Tasks do):
`detect(image)` for independent photos, `detect_for_video(image, timestamp_ms)` for the frames
of one video (tracking + smoothing; timestamps must increase) and `detect_async(image,
timestamp_ms)` for a live camera: it returns at once, a worker thread runs the pipeline and
calls `result_callback(result, image, timestamp_ms)`; a frame that arrives while the worker is
still busy is dropped (counted in `dropped_frames`), so nothing queues up and results never lag
behind the camera by more than one frame.

Images are numpy arrays HxWx3 uint8 of any size, BGR (OpenCV's order) unless the options say
`color="rgb"`. Results are `FrameResult` records whose `to_dict()` is exactly the JSONL record
of `edgeface run --json`.

`resolve_options` combines the options with the board profile into the runtime's
`PipelineOptions`. Importing this module loads the pipeline code (OpenCV included) but no model
runtime: TFLite / ONNX Runtime are imported when an aligner opens its models. `import edgeface`
alone stays light (its names resolve lazily).
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Optional, Tuple

import numpy as np

from edgeface.boards.machine import usable_cores
from edgeface.boards.profiles import TargetChoice, resolve_target
from edgeface.dense.loading import load_dense_model
from edgeface.errors import EdgefaceError, OptionsError
from edgeface.frames import Frame
from edgeface.options import FaceAlignerOptions, RunningMode
from edgeface.results import FrameResult
from edgeface.runtime.loading import build_pipeline
from edgeface.runtime.options import PipelineOptions
from edgeface.vocab import Precision


def resolve_options(options: FaceAlignerOptions) -> Tuple[PipelineOptions, TargetChoice]:
    """(PipelineOptions, TargetChoice): `options` over their target profile (reads /proc for "auto"):
    every option left at None takes the profile's value, as `edgeface run` does."""
    choice = resolve_target(options.target)
    prof = choice.profile
    precision = options.precision or (Precision.FP32 if options.backend == "onnx" else prof.precision)
    cores = usable_cores()
    threads = options.threads or min(int(prof.threads), cores)
    stage = {f"{k}_threads": (threads if options.threads else min(int(v), cores) if v else None)
             for k, v in (("regressor", prof.regressor_threads), ("detector", prof.detector_threads))}
    # a precision given here applies to both networks; the profile's may differ per stage
    det_precision = options.detector_precision or (
        None if options.precision or options.backend == "onnx" else prof.detector_precision)
    pipeline_options = PipelineOptions(
        backend=options.backend, precision=precision, detector_precision=det_precision, regressor=options.regressor,
        threads=threads, runtime=options.runtime, **stage,
        # photos never scan periodically: no scan thread or second detector in IMAGE mode
        scan="inline" if options.running_mode is RunningMode.IMAGE else (options.scan or prof.scan),
        scan_threads=min(int(prof.scan_threads), cores), max_misses=prof.max_misses if options.max_misses is None else options.max_misses,
        detector_size=options.detector_size or tuple(prof.detector_size),
        detector_fallback=options.detector_size is None, max_faces=options.max_faces, tracking=options.tracking,
        detect_interval=options.detect_interval if options.detect_interval is not None else (
            prof.one_core_interval if cores == 1 and prof.one_core_interval else prof.detect_interval),
        smoothing=dataclasses.replace(prof.smoothing, enabled=options.smoothing), dense=options.dense,
        dense_max_vertices=prof.dense_max_vertices if options.dense_vertices is None else options.dense_vertices,
        root=options.cache_root, bitexact=bool(options.bitexact), roi_deadband=float(options.roi_deadband), **({} if options.still is None else {"still": options.still}),
    )
    return pipeline_options, choice


class FaceAligner:
    """68 3D landmarks, head pose (and optionally the dense mesh) of every face in an image.

    Create it with `FaceAligner.create(**options)` or `FaceAligner.create_from_options(options)`;
    use it as a context manager or call `close()`. Not thread-safe: call it from one thread
    (LIVE_STREAM mode runs the pipeline on its own worker thread for you).
    """

    def __init__(self, options: FaceAlignerOptions):
        """Load the models for `options` (prefer `create` / `create_from_options`).

        Raises:
            OptionsError (ValueError): bad options.
            MissingAssetError (FileNotFoundError): a model or asset is not in the cache (the message
                says which `edgeface fetch` / `edgeface convert` makes it).
            RuntimeMissingError (ImportError): no TFLite runtime is installed.
        """
        if not isinstance(options, FaceAlignerOptions):
            raise OptionsError(f"FaceAligner needs FaceAlignerOptions, got {type(options).__name__}")
        self._options = options
        self._pipeline_options, self._target = resolve_options(options)
        self._dense_model = None
        if self._pipeline_options.dense:
            self._dense_model = load_dense_model(self._pipeline_options.root,
                                                 decimate=self._pipeline_options.dense_max_vertices or None)
        self._pipeline = build_pipeline(self._pipeline_options, dense=self._dense_model)
        self._last_ts: Optional[float] = None
        self._closed = False
        self._dropped = 0
        self._live: Optional[_LiveWorker] = None
        if options.running_mode is RunningMode.LIVE_STREAM:
            self._live = _LiveWorker(self)

    # ------------------------------------------------------------------ creation

    @classmethod
    def create(cls, **kwargs) -> "FaceAligner":
        """An aligner from keyword options (the fields of `FaceAlignerOptions`), e.g.
        `FaceAligner.create(precision="int8", running_mode="video")`.

        Raises: as `FaceAligner(options)`; an unknown keyword is an `OptionsError`.
        """
        try:
            options = FaceAlignerOptions(**kwargs)
        except TypeError as e:
            names = ", ".join(FaceAlignerOptions.__dataclass_fields__)
            raise OptionsError(f"{e}; FaceAligner options are: {names}") from None
        return cls(options)

    @classmethod
    def create_from_options(cls, options: FaceAlignerOptions) -> "FaceAligner":
        """An aligner from a `FaceAlignerOptions`. Raises: as `FaceAligner(options)`."""
        return cls(options)

    # ------------------------------------------------------------------ the three modes

    def detect(self, image: np.ndarray, *, source: str = "") -> "FrameResult":
        """IMAGE mode: the faces of one independent photo (fresh ids from 0, no tracking or smoothing).

        Args:
            image: HxWx3 uint8 numpy array, BGR (or RGB with `color="rgb"`).
            source: a label copied into `FrameResult.source` (e.g. the file name).
        Returns:
            `FrameResult` (`faces`: list of `Face`, best detection first; `time_ms`: per stage).
        Raises:
            OptionsError: the aligner is not in IMAGE mode, or `image` is not an HxWx3 uint8 array.
        """
        self._check_mode(RunningMode.IMAGE, "detect(image)")
        return self._process(self._as_bgr(image), None, source, still=True)

    def detect_for_video(self, image: np.ndarray, timestamp_ms: float, *, source: str = "") -> "FrameResult":
        """VIDEO mode: the next frame of a video (faces tracked across frames, stable ids, smoothed).

        Args:
            image: HxWx3 uint8 numpy array, BGR (or RGB with `color="rgb"`).
            timestamp_ms: the frame's time in milliseconds; must increase from call to call.
            source: a label copied into `FrameResult.source`.
        Returns:
            `FrameResult`.
        Raises:
            OptionsError: not in VIDEO mode, a timestamp that does not increase, or a bad image.
        """
        self._check_mode(RunningMode.VIDEO, "detect_for_video(image, timestamp_ms)")
        self._check_timestamp(timestamp_ms)
        return self._process(self._as_bgr(image), timestamp_ms, source, still=False)

    def detect_async(self, image: np.ndarray, timestamp_ms: float, *, source: str = "") -> bool:
        """LIVE_STREAM mode: hand over a camera frame and return at once.

        The worker thread processes it and calls `result_callback(result, image, timestamp_ms)`.
        If the worker is still busy with an earlier frame, this frame is dropped and counted in
        `dropped_frames` (the pipeline never works on a stale frame, nothing queues up). Do not
        modify `image` after handing it over.

        Returns:
            True if the frame was taken, False if it was dropped.
        Raises:
            OptionsError: not in LIVE_STREAM mode, a timestamp that does not increase, or a bad image.
            EdgefaceError: the worker failed on an earlier frame (the error is re-raised here once).
        """
        self._check_mode(RunningMode.LIVE_STREAM, "detect_async(image, timestamp_ms)")
        self._check_timestamp(timestamp_ms)
        image = self._as_bgr(image)
        return self._live.submit(image, timestamp_ms, source)

    def wait_until_idle(self, timeout_s: float = 30.0) -> None:
        """LIVE_STREAM: wait until the frame handed over last has been processed and its callback has
        returned (e.g. before reading the results at the end of a stream). Nothing to wait for in the
        other modes.

        Raises:
            EdgefaceError: the worker failed on a frame (the error is re-raised here once).
        """
        if self._live is not None:
            self._live.wait_idle(timeout_s)
            self._live.raise_error()

    # ------------------------------------------------------------------ state

    @property
    def options(self) -> FaceAlignerOptions:
        """The options this aligner was created with."""
        return self._options

    @property
    def running_mode(self) -> RunningMode:
        return self._options.running_mode

    @property
    def target(self):
        """The board profile in use (`boards.profiles.TargetChoice`: `.profile`, `.reason`)."""
        return self._target

    @property
    def pipeline(self):
        """The underlying `runtime.pipeline.Pipeline` (its options, counters and networks)."""
        return self._pipeline

    @property
    def dense_model(self):
        """The dense reconstructor when `dense=True` (its `kind`: "bfm" or "dense_approx"), else None."""
        return self._dense_model

    @property
    def frames_processed(self) -> int:
        return self._pipeline.counters.frames

    @property
    def dropped_frames(self) -> int:
        """LIVE_STREAM: frames dropped because the worker was busy (0 in the other modes)."""
        return self._live.dropped if self._live is not None else 0

    def describe(self) -> dict:
        """What runs: backend, precision, runtime, threads, models, detector size, tracking, target."""
        d = self._pipeline.describe()
        d["running_mode"] = self.running_mode.value
        d["target"] = self._target.profile.name
        return d

    def reset(self) -> None:
        """Start a new sequence (VIDEO / LIVE_STREAM): forget tracks, smoothing and the last timestamp."""
        if self._live is not None:
            self._live.wait_idle()
        self._pipeline.reset()
        self._last_ts = None

    def close(self) -> None:
        """Stop the worker (LIVE_STREAM: after the frame in progress) and release the models."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._live is not None:
                self._live.stop()
        finally:
            self._pipeline.close()

    def __enter__(self) -> "FaceAligner":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        o = self._pipeline_options
        return (f"FaceAligner(mode={self.running_mode.value}, {o.backend} {o.precision.value}, {o.regressor}, "
                f"target={self._target.profile.name}, threads={o.threads})")

    # ------------------------------------------------------------------ internals

    def _check_mode(self, mode: RunningMode, call: str) -> None:
        if self._closed:
            raise EdgefaceError("this FaceAligner is closed; create a new one")
        if self.running_mode is not mode:
            use = {RunningMode.IMAGE: "detect(image)", RunningMode.VIDEO: "detect_for_video(image, timestamp_ms)",
                   RunningMode.LIVE_STREAM: "detect_async(image, timestamp_ms)"}[self.running_mode]
            raise OptionsError(f"{call} needs running_mode={mode.value}; this aligner was created in "
                               f"{self.running_mode.value} mode: use {use}")

    def _check_timestamp(self, timestamp_ms) -> None:
        try:
            ts = float(timestamp_ms)
        except (TypeError, ValueError):
            raise OptionsError(f"timestamp_ms must be a number, got {timestamp_ms!r}") from None
        if not np.isfinite(ts):
            raise OptionsError(f"timestamp_ms must be finite, got {timestamp_ms!r}")
        if self._last_ts is not None and ts <= self._last_ts:
            raise OptionsError(f"timestamp {ts:g} ms is not after the previous frame's {self._last_ts:g} ms: "
                               "timestamps must increase (call reset() to start a new video)")
        self._last_ts = ts

    def _as_bgr(self, image) -> np.ndarray:
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise OptionsError(f"image must be an HxWx3 uint8 numpy array ({self._options.color.upper()}), got "
                               f"{getattr(image, 'dtype', type(image).__name__)} {getattr(image, 'shape', '')}")
        if image.shape[0] < 1 or image.shape[1] < 1:
            raise OptionsError(f"image is empty ({image.shape[1]}x{image.shape[0]})")
        if self._options.color == "rgb":
            image = image[:, :, ::-1]
        return np.ascontiguousarray(image)

    def _process(self, image, timestamp_ms, source: str, still: bool):
        """`image` already checked by `_as_bgr`; the frame index is the count of frames processed so far."""
        frame = Frame(index=self._pipeline.counters.frames, image=image,
                      timestamp_s=None if timestamp_ms is None else float(timestamp_ms) / 1000.0, source=str(source))
        return self._pipeline.process(frame, still=still)


class _LiveWorker:
    """LIVE_STREAM: one worker thread with a one-frame slot (latest frame wins, the rest are dropped)."""

    def __init__(self, aligner: FaceAligner):
        self._aligner = aligner
        self._callback = aligner.options.result_callback
        self._cond = threading.Condition()
        self._pending = None  # (image, timestamp_ms, source) waiting for the worker
        self._busy = False
        self._stop = False
        self._error: Optional[BaseException] = None
        self.dropped = 0
        self._thread = threading.Thread(target=self._loop, name="edgeface-live", daemon=True)
        self._thread.start()

    def raise_error(self) -> None:
        """Re-raise (once) the error the worker stopped on, if any."""
        with self._cond:
            err, self._error = self._error, None
        if err is not None:
            raise err

    def submit(self, image, timestamp_ms, source) -> bool:
        self.raise_error()
        with self._cond:
            if self._stop:
                raise EdgefaceError("this FaceAligner is closed; create a new one")
            if self._busy or self._pending is not None:
                self.dropped += 1
                return False
            self._pending = (image, timestamp_ms, source)
            self._cond.notify()
            return True

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._stop:
                    self._cond.wait()
                if self._pending is None:
                    return
                image, ts, source = self._pending
                self._pending = None
                self._busy = True
            try:
                result = self._aligner._process(image, ts, source, still=False)
                self._callback(result, image, ts)
            except BaseException as e:  # re-raised to the caller at its next detect_async
                with self._cond:
                    self._error = e if isinstance(e, Exception) else EdgefaceError(f"live worker stopped: {e!r}")
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def wait_idle(self, timeout: float = 30.0) -> None:
        with self._cond:
            self._cond.wait_for(lambda: not self._busy and self._pending is None, timeout=timeout)

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout=30.0)
        if self._error is not None:
            err, self._error = self._error, None
            raise err
