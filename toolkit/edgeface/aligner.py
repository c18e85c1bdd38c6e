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

Time is in milliseconds everywhere: `timestamp_ms` in, `FrameResult.timestamp_ms` out; timestamps
that look like seconds get one `TimestampUnitsWarning` per aligner. `close()` (or leaving the `with`
block) stops the worker threads and releases the models' interpreters; a closed aligner refuses calls.

`resolve_options` (`edgeface.option_resolution`) combines the options with the board profile (and a model bundle) into the runtime's
`PipelineOptions`. Importing this module loads the pipeline code (OpenCV included) but no model
runtime: TFLite / ONNX Runtime are imported when an aligner opens its models. `import edgeface`
alone stays light (its names resolve lazily).
"""

from __future__ import annotations

import math
import threading
from typing import Any, Optional

import numpy as np
import numpy.typing as npt

from edgeface.boards.profiles import TargetChoice
from edgeface.deprecation import warn_renamed
from edgeface.dense.loading import load_dense_model
from edgeface.errors import EdgefaceError, OptionsError
from edgeface.frames import Frame
from edgeface.live_worker import LiveWorker
from edgeface.option_resolution import resolve_options
from edgeface.options import FaceAlignerOptions, RunningMode
from edgeface.results import FrameResult
from edgeface.runtime.loading import build_pipeline
from edgeface.runtime.pipeline import Pipeline
from edgeface.timestamp_units import TimestampUnits

#: what `wait_until_idle` waits at most by default (ms)
IDLE_TIMEOUT_MS = 30_000.0


class FaceAligner:
    """68 3D landmarks, head pose (and optionally the dense mesh) of every face in an image.

    Create it with `FaceAligner.create(**options)` or `FaceAligner.create_from_options(options)`;
    use it as a context manager or call `close()`.

    Thread safety: calls from several threads are serialised by a lock (one frame runs through the
    models at a time; the others wait their turn), so sharing one aligner is safe but not faster: for
    parallel work create one aligner per thread. In VIDEO mode the frames of one video must still come
    in timestamp order (a late frame is an `OptionsError`). LIVE_STREAM runs the pipeline on its own
    worker thread; `detect_async` never waits for it.
    """

    def __init__(self, options: FaceAlignerOptions) -> None:
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
        self._call_lock = threading.RLock()  # one call through the pipeline at a time (see the class doc)
        self._ts_lock = threading.Lock()  # the timestamp checks (detect_async does not wait for a frame)
        self._pipeline_options, self._target = resolve_options(options)
        self._dense_model: Any = None
        if self._pipeline_options.dense:
            self._dense_model = load_dense_model(self._pipeline_options.root,
                                                 decimate=self._pipeline_options.dense_max_vertices or None)
        self._pipeline: Optional[Pipeline] = build_pipeline(self._pipeline_options, dense=self._dense_model)
        try:
            self._pipeline.warm()  # one Invoke per interpreter now: the first frame costs what the tenth does
        except BaseException:
            self._pipeline.close()  # the scan and pool threads stop
            raise
        self._frames_at_close = 0
        self._last_ts: Optional[float] = None
        self._units = TimestampUnits()
        self._live: Optional[LiveWorker] = None
        if options.mode is RunningMode.LIVE_STREAM and options.result_callback is not None:
            self._live = LiveWorker(self._process_live, options.result_callback)

    # ------------------------------------------------------------------ creation

    @classmethod
    def create(cls, **options: Any) -> FaceAligner:
        """An aligner from keyword options: the fields of `BaseOptions` and `FaceAlignerOptions` mixed,
        e.g. `FaceAligner.create(precision="int8", running_mode="video", max_faces=1)`.

        Raises: as `FaceAligner(options)`; an unknown keyword is an `OptionsError` listing the known ones.
        """
        return cls(FaceAlignerOptions.from_keywords(**options))

    @classmethod
    def create_from_options(cls, options: FaceAlignerOptions) -> FaceAligner:
        """An aligner from a `FaceAlignerOptions` (with its `BaseOptions`). Raises: as `FaceAligner(options)`."""
        return cls(options)

    # ------------------------------------------------------------------ the three modes

    def detect(self, image: npt.NDArray[np.uint8], *, source: str = "") -> FrameResult:
        """IMAGE mode: the faces of one independent photo (fresh ids from 0, no tracking or smoothing).

        Args:
            image: HxWx3 uint8 numpy array, BGR (or RGB with `color="rgb"`).
            source: a label copied into `FrameResult.source` (e.g. the file name).
        Returns:
            `FrameResult` (`faces`: list of `Face`, best detection first; `time_ms`: per stage, ms;
            `timestamp_ms`: None).
        Raises:
            OptionsError: the aligner is not in IMAGE mode, or `image` is not an HxWx3 uint8 array.
            EdgefaceError: the aligner is closed.
        """
        with self._call_lock:
            self._check_mode(RunningMode.IMAGE, "detect(image)")
            return self._process(self._as_bgr(image), None, source, still=True)

    def detect_for_video(self, image: npt.NDArray[np.uint8], timestamp_ms: float, *, source: str = "") -> FrameResult:
        """VIDEO mode: the next frame of a video (faces tracked across frames, stable ids, smoothed).

        Args:
            image: HxWx3 uint8 numpy array, BGR (or RGB with `color="rgb"`).
            timestamp_ms: the frame's time in milliseconds; must increase from call to call.
            source: a label copied into `FrameResult.source`.
        Returns:
            `FrameResult` (its `timestamp_ms` is `timestamp_ms`).
        Raises:
            OptionsError: not in VIDEO mode, a timestamp that does not increase, or a bad image.
            EdgefaceError: the aligner is closed.
        Warns:
            TimestampUnitsWarning: once per aligner, when the timestamps look like seconds.
        """
        with self._call_lock:
            self._check_mode(RunningMode.VIDEO, "detect_for_video(image, timestamp_ms)")
            ts = self._check_timestamp(timestamp_ms)
            return self._process(self._as_bgr(image), ts, source, still=False)

    def detect_async(self, image: npt.NDArray[np.uint8], timestamp_ms: float, *, source: str = "") -> bool:
        """LIVE_STREAM mode: hand over a camera frame and return at once.

        The worker thread processes it and calls `result_callback(result, image, timestamp_ms)`.
        If the worker is still busy with an earlier frame, this frame is dropped and counted in
        `dropped_frames` (the pipeline never works on a stale frame, nothing queues up). Do not
        modify `image` after handing it over.

        Args:
            timestamp_ms: the frame's capture time in milliseconds (e.g. `time.monotonic() * 1000`); must increase.
        Returns:
            True if the frame was taken, False if it was dropped.
        Raises:
            OptionsError: not in LIVE_STREAM mode, a timestamp that does not increase, or a bad image.
            EdgefaceError: the aligner is closed, or the worker failed on an earlier frame (re-raised here once).
        Warns:
            TimestampUnitsWarning: once per aligner, when the timestamps look like seconds.
        """
        self._check_mode(RunningMode.LIVE_STREAM, "detect_async(image, timestamp_ms)")
        ts = self._check_timestamp(timestamp_ms)
        image = self._as_bgr(image)
        assert self._live is not None  # LIVE_STREAM options always have a callback
        return self._live.submit(image, ts, source)

    def wait_until_idle(self, timeout_ms: float = IDLE_TIMEOUT_MS, *, timeout_s: Optional[float] = None) -> bool:
        """LIVE_STREAM: wait at most `timeout_ms` milliseconds until the frame handed over last has been
        processed and its callback has returned (e.g. before reading the results at the end of a stream).

        Returns:
            True when idle (always in the other modes), False when `timeout_ms` passed first.
        Raises:
            EdgefaceError: the worker failed on a frame (the error is re-raised here once).
        Deprecated: `timeout_s=` (seconds); use `timeout_ms`.
        """
        if timeout_s is not None:
            warn_renamed("wait_until_idle(timeout_s=...)", "wait_until_idle(timeout_ms=...) (milliseconds)", stacklevel=3)
            timeout_ms = float(timeout_s) * 1000.0
        if self._live is None:
            return True
        idle = self._live.wait_idle(timeout_ms)
        self._live.raise_error()
        return idle

    # ------------------------------------------------------------------ state

    @property
    def options(self) -> FaceAlignerOptions:
        """The options this aligner was created with."""
        return self._options

    @property
    def running_mode(self) -> RunningMode:
        """IMAGE, VIDEO or LIVE_STREAM, fixed at creation."""
        return self._options.mode

    @property
    def target(self) -> TargetChoice:
        """The board profile in use (`boards.profiles.TargetChoice`: `.profile`, `.reason`)."""
        return self._target

    @property
    def pipeline(self) -> Pipeline:
        """The underlying `runtime.pipeline.Pipeline` (its options, counters and networks).
        Raises EdgefaceError once closed."""
        return self._open_pipeline()

    @property
    def dense_model(self) -> Any:
        """The dense reconstructor when `dense=True` (its `kind`: "bfm" or "dense_approx"), else None."""
        return self._dense_model

    @property
    def closed(self) -> bool:
        """Whether `close()` has run (the models are released; calls raise EdgefaceError)."""
        return self._pipeline is None

    @property
    def frames_processed(self) -> int:
        """Frames processed so far (a count; still readable after `close()`)."""
        return self._pipeline.counters.frames if self._pipeline is not None else self._frames_at_close

    @property
    def dropped_frames(self) -> int:
        """LIVE_STREAM: frames dropped because the worker was busy (a count; 0 in the other modes)."""
        return self._live.dropped if self._live is not None else 0

    def describe(self) -> dict[str, Any]:
        """What runs: backend, precision, runtime, threads, models, detector size (pixels), tracking, target;
        `note`: what was changed from the options (threads capped at the usable cores) or is worth knowing."""
        d: dict[str, Any] = self._open_pipeline().describe()
        asked = self._options.base_options.threads
        if asked is not None and asked > self._pipeline_options.threads:
            capped = (f"--threads {asked} capped at {self._pipeline_options.threads}: this process may use "
                      f"{self._pipeline_options.threads} cores (more threads than cores only slows inference)")
            d["note"] = f"{d['note']}; {capped}" if d.get("note") else capped
        d["running_mode"] = self.running_mode.value
        d["target"] = self._target.profile.name
        return d

    def reset(self) -> None:
        """Start a new sequence (VIDEO / LIVE_STREAM): forget tracks, smoothing and the last timestamp."""
        self._open_pipeline()
        if self._live is not None:
            self._live.wait_idle(IDLE_TIMEOUT_MS)
        with self._call_lock, self._ts_lock:
            self._open_pipeline().reset()
            self._last_ts = None
            self._units.reset()

    def close(self) -> None:
        """Stop the worker threads (LIVE_STREAM: after the frame in progress; the periodic scan's) and
        release the models (their interpreters go with the last reference). Calling it again does nothing.

        Raises:
            EdgefaceError: the LIVE_STREAM worker failed on its last frame (re-raised here once).
        """
        if self._pipeline is None:
            return
        try:
            if self._live is not None:
                self._live.stop()  # the frame in progress still runs on the pipeline
        finally:
            with self._call_lock:  # after a call in progress on another thread
                pipeline, self._pipeline = self._pipeline, None
                if pipeline is not None:
                    self._frames_at_close = pipeline.counters.frames
                    pipeline.close()
                self._dense_model = None

    def __enter__(self) -> FaceAligner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        o = self._pipeline_options
        state = ", closed" if self.closed else ""
        return (f"FaceAligner(mode={self.running_mode.value}, {o.backend} {o.precision.value}, {o.regressor}, "
                f"target={self._target.profile.name}, threads={o.threads}{state})")

    # ------------------------------------------------------------------ internals

    def _open_pipeline(self) -> Pipeline:
        if self._pipeline is None:
            raise EdgefaceError("this FaceAligner is closed; create a new one")
        return self._pipeline

    def _check_mode(self, mode: RunningMode, call: str) -> None:
        self._open_pipeline()
        if self.running_mode is not mode:
            use = {RunningMode.IMAGE: "detect(image)", RunningMode.VIDEO: "detect_for_video(image, timestamp_ms)",
                   RunningMode.LIVE_STREAM: "detect_async(image, timestamp_ms)"}[self.running_mode]
            raise OptionsError(f"{call} needs running_mode={mode.value}; this aligner was created in "
                               f"{self.running_mode.value} mode: use {use}")

    def _check_timestamp(self, timestamp_ms: object) -> float:
        """`timestamp_ms` as a float, checked: a finite number past the previous one."""
        with self._ts_lock:
            return self._check_timestamp_locked(timestamp_ms)

    def _check_timestamp_locked(self, timestamp_ms: object) -> float:
        try:
            ts = float(timestamp_ms)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise OptionsError(f"timestamp_ms must be a number, got {timestamp_ms!r}") from None
        if not math.isfinite(ts):
            raise OptionsError(f"timestamp_ms must be finite, got {timestamp_ms!r}")
        if self._last_ts is not None and ts <= self._last_ts:
            raise OptionsError(f"timestamp {ts:g} ms is not after the previous frame's {self._last_ts:g} ms: "
                               "timestamps must increase (call reset() to start a new video)")
        self._last_ts = ts
        self._units.observe(ts)
        return ts

    def _as_bgr(self, image: object) -> npt.NDArray[np.uint8]:
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise OptionsError(f"image must be an HxWx3 uint8 numpy array ({self._options.color.upper()}), got "
                               f"{getattr(image, 'dtype', type(image).__name__)} {getattr(image, 'shape', '')}")
        if image.shape[0] < 1 or image.shape[1] < 1:
            raise OptionsError(f"image is empty ({image.shape[1]}x{image.shape[0]})")
        if self._options.color == "rgb":
            image = image[:, :, ::-1]
        return np.ascontiguousarray(image)

    def _process(self, image: npt.NDArray[np.uint8], timestamp_ms: Optional[float], source: str,
                 still: bool) -> FrameResult:
        """`image` already checked by `_as_bgr`; the frame index is the count of frames processed so far."""
        pipeline = self._open_pipeline()
        frame = Frame(index=pipeline.counters.frames, image=image, timestamp_ms=timestamp_ms, source=str(source))
        result: FrameResult = pipeline.process(frame, still=still)
        return result

    def _process_live(self, image: npt.NDArray[np.uint8], timestamp_ms: float, source: str) -> FrameResult:
        with self._call_lock:
            return self._process(image, timestamp_ms, source, still=False)
