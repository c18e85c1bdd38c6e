"""The on-board pipeline: frame -> detector / tracker -> regressor -> 3DMM decoding -> smoothing.

`Pipeline` takes its two networks as objects (dependency injection: a `models.FaceDetector` and a
`models.LandmarkRegressor` over any backend), so it runs the same with TFLite models from the
cache (`build_pipeline(PipelineOptions(backend="tflite", precision=...))`), the ONNX reference
(`backend="onnx"`), or test doubles. `Pipeline.process(frame)` gives one `results.FrameResult`:
per face a stable id (from `tracker.FaceTracker`), the face box, the 68 landmarks in frame pixels
(`tdmm.sparse_landmarks` + `tdmm.to_image` with the crop box), head pose, camera and the 62 params,
plus per-stage times in milliseconds: detect (letterbox + FaceBoxes + post-processing), regress
(crop + regressor + de-normalization, refinement included), decode (68 landmarks, pose, camera),
[dense,] total (the whole `process` call, tracking and smoothing included).

Crops from detections use the detector's UNclipped boxes (as upstream); the reported face box is
clipped to the frame. Still images (`still=True`) are processed independently, as upstream demo.py:
detection on every image, crops from the boxes, no tracking, no refinement, no smoothing.
Video and camera frames are tracked as upstream demo_video: a new face's crop comes from its
detection box and is refined once from the landmarks it gives (`refine`), then each frame is
cropped from the previous frame's landmarks; the detector runs every `detect_interval` frames
and whenever a track is lost. Temporal smoothing (One Euro, `smoothing.FaceSmoother`) applies to
the landmarks, box and pose of each face id; `params` and `camera` stay the raw regressor output.

Dense reconstruction is a hook: set `PipelineOptions.dense` and pass `dense=` either a
`dense.DenseReconstructor` (e.g. `dense.load_dense_model(root, decimate=options.dense_max_vertices
or None)`) or a callable `(params (62,), roi (4,), landmarks (68, 3)) -> (vertices (N, 3) frame
pixels, kind)`; each face then gets `Face.dense` / `Face.dense_kind`, timed as "dense".

`run(source, sinks, pipeline)` is the loop behind `edgeface run`: frames from a
`sources.FrameSource`, results to `sinks` (and an optional MJPEG server), live statistics to a
`progress` callback, a clean stop at the end of the input, when the camera is lost, when a
window is closed, or on Ctrl-C; sinks are closed (keeping what was written) in every case but
an unexpected error, which aborts them.
"""

from __future__ import annotations

import collections
import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from . import paths, roi as roi_mod, store, tdmm
from .detect_post import DetectorConfig
from .errors import EdgefaceError, MissingAssetError
from .results import Face, FrameResult, Pose
from .smoothing import FaceSmoother, SmoothingConfig
from .tracker import FaceTracker, Target, TrackerConfig

BACKENDS = ("tflite", "onnx")
REGRESSORS = ("mb05", "mb1")

#: dense_fn(params, roi, landmarks) -> (vertices (N, 3) in frame pixels, kind "dense" | "dense_approx")
DenseFn = Callable[[np.ndarray, np.ndarray, np.ndarray], "tuple[np.ndarray, str]"]
#: Face.dense_kind for a reconstructor's `kind`
DENSE_KINDS = {"bfm": "dense", "dense": "dense", "dense_approx": "dense_approx"}


def as_dense_fn(dense) -> Optional[DenseFn]:
    """A DenseFn from a `dense.DenseReconstructor` (anything with `image_vertices(params, roi)` and
    `kind`) or a DenseFn itself (None stays None)."""
    if dense is None or not hasattr(dense, "image_vertices"):
        return dense
    kind = DENSE_KINDS.get(str(getattr(dense, "kind", "dense")), str(getattr(dense, "kind", "dense")))

    def fn(params, roi, landmarks):
        return np.ascontiguousarray(dense.image_vertices(params, roi).T), kind

    return fn


@dataclass
class PipelineOptions:
    """Everything that configures a pipeline (the CLI fills it from a target profile + flags)."""

    backend: str = "tflite"  # tflite | onnx (the float reference)
    precision: str = "fp32"  # fp32 | fp16 | int8 | int8_floatio (TFLite models from the cache)
    regressor: str = "mb05"  # mb05 | mb1
    threads: int = 4
    runtime: Optional[str] = None  # TFLite runtime to prefer (ai_edge_litert | tflite_runtime | tensorflow)
    detector_size: tuple = (640, 480)  # FaceBoxes input (width, height)
    detector_fallback: bool = False  # if that size is not converted, use another converted size
    score_threshold: float = 0.5  # detector: faces with score > this
    max_faces: Optional[int] = None  # at most this many faces per frame (best detections first)
    tracking: bool = True  # video: crop from the previous landmarks between detections
    detect_interval: int = 10  # video with tracking: re-detect every N frames (0: only when needed)
    refine: bool = True  # video: re-crop a newly detected face from its landmarks and regress again
    smoothing: SmoothingConfig = field(default_factory=SmoothingConfig)  # enabled=False: raw output
    dense: bool = False  # fill Face.dense with the dense reconstructor given to the pipeline
    dense_max_vertices: int = 0  # dense mesh vertex budget for that reconstructor (0: full mesh)
    root: Optional[Path] = None  # cache folder (default $EDGEFACE_HOME)

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise EdgefaceError(f"unknown backend '{self.backend}': use tflite or onnx")
        if self.regressor not in REGRESSORS:
            raise EdgefaceError(f"unknown regressor '{self.regressor}': use mb05 or mb1")
        if self.precision not in store.PRECISION_TO_VARIANT:
            raise EdgefaceError(f"unknown precision '{self.precision}': use fp32, fp16, int8 or int8_floatio")
        if int(self.threads) < 1:
            raise EdgefaceError(f"threads must be >= 1, got {self.threads}")
        if int(self.detect_interval) < 0:
            raise EdgefaceError(f"detect interval must be >= 0 frames, got {self.detect_interval}")
        if self.max_faces is not None and int(self.max_faces) < 1:
            raise EdgefaceError(f"max faces must be >= 1, got {self.max_faces}")
        if int(self.dense_max_vertices) < 0:
            raise EdgefaceError(f"dense vertex budget must be >= 0, got {self.dense_max_vertices}")
        w, h = (int(v) for v in self.detector_size)
        if w <= 0 or h <= 0 or w % 32 or h % 32:
            raise EdgefaceError(f"detector size {w}x{h} must be positive multiples of 32, e.g. 640x480 or 320x256")
        self.detector_size = (w, h)

    def tracker_config(self, still: bool = False) -> TrackerConfig:
        if still:
            return TrackerConfig(tracking=False, detect_interval=1, max_faces=self.max_faces)
        return TrackerConfig(tracking=self.tracking, detect_interval=int(self.detect_interval) if self.tracking else 1,
                             max_faces=self.max_faces)


@dataclass
class Counters:
    frames: int = 0
    detector_runs: int = 0
    regressor_runs: int = 0
    faces: int = 0  # faces reported, summed over frames
    frames_with_faces: int = 0
    time_ms: dict = field(default_factory=lambda: collections.defaultdict(float))  # sums per stage

    def mean_ms(self) -> dict:
        n = max(1, self.frames)
        return {k: v / n for k, v in self.time_ms.items()}


class Pipeline:
    """Detector + tracker + regressor + decoder (+ smoother). Call `process(frame)` per frame."""

    def __init__(self, detector, regressor, bases, options: Optional[PipelineOptions] = None,
                 dense=None, info: Optional[dict] = None):
        self.detector = detector
        self.regressor = regressor
        self.options = options or PipelineOptions()
        self.u = np.asarray(bases.u, dtype=np.float32).reshape(-1)
        self.w_shp = np.asarray(bases.w_shp, dtype=np.float32)
        self.w_exp = np.asarray(bases.w_exp, dtype=np.float32)
        if self.options.dense and dense is None:
            raise EdgefaceError("dense output needs a dense reconstructor: pass dense= to the pipeline")
        self.dense_fn = as_dense_fn(dense) if self.options.dense else None
        self.info = dict(info or {})
        self.tracker = FaceTracker(self.options.tracker_config(still=False))
        self._still_tracker = FaceTracker(self.options.tracker_config(still=True))
        self.smoother = FaceSmoother(self.options.smoothing)
        self.counters = Counters()

    # ------------------------------------------------------------------ state

    def reset(self) -> None:
        """Start a new sequence: forget tracks and smoothing state (counters are kept)."""
        self.tracker.reset()
        self._still_tracker.reset()
        self.smoother.reset()

    # ------------------------------------------------------------------ stages

    def _detect(self, image: np.ndarray, times: dict) -> tuple:
        t0 = time.perf_counter()
        det = self.detector(image)
        times["detect"] += (time.perf_counter() - t0) * 1000.0
        self.counters.detector_runs += 1
        return det.boxes, det.scores

    def _regress(self, image: np.ndarray, roi: np.ndarray, times: dict) -> np.ndarray:
        t0 = time.perf_counter()
        params = self.regressor(image, roi)
        times["regress"] += (time.perf_counter() - t0) * 1000.0
        self.counters.regressor_runs += 1
        return params

    def landmarks(self, params: np.ndarray, roi: np.ndarray) -> np.ndarray:
        """The 68 landmarks (68, 3) in frame pixels of params regressed from the crop `roi`."""
        pts = tdmm.sparse_landmarks(params, self.u, self.w_shp, self.w_exp)
        return tdmm.to_image(pts, roi).T.copy()

    def _face(self, image: np.ndarray, target: Target, times: dict, refine: bool) -> Face:
        roi = np.asarray(target.roi, dtype=np.float64)
        params = self._regress(image, roi, times)
        t0 = time.perf_counter()
        lm = self.landmarks(params, roi)
        if refine and target.source == "detect" and np.all(np.isfinite(lm)):
            times["decode"] += (time.perf_counter() - t0) * 1000.0
            roi = roi_mod.roi_from_landmarks(lm[:, :2])  # upstream demo_video's first-frame refinement
            params = self._regress(image, roi, times)
            t0 = time.perf_counter()
            lm = self.landmarks(params, roi)
        yaw, pitch, roll = tdmm.pose_from_params(params)
        face = Face(id=int(target.track_id), bbox=np.asarray(target.bbox, np.float32), score=float(target.score),
                    landmarks=lm, pose=Pose(yaw, pitch, roll), params=np.asarray(params, np.float32).reshape(-1),
                    roi=roi, camera=tdmm.camera_from_params(params), tracked=target.source == "track")
        times["decode"] += (time.perf_counter() - t0) * 1000.0
        return face

    # ------------------------------------------------------------------ one frame

    def process(self, frame, still: bool = False) -> FrameResult:
        """One frame (`sources.Frame`, or any object with index, image, timestamp_s, source).

        still=True: an independent image (fresh ids from 0, detection crops, no smoothing)."""
        t_start = time.perf_counter()
        image = frame.image
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise EdgefaceError(f"frame {frame.index} is not a BGR uint8 HxWx3 image (got "
                                f"{getattr(image, 'dtype', None)} {getattr(image, 'shape', None)})")
        h, w = image.shape[:2]
        tracker = self._still_tracker if still else self.tracker
        if still:
            tracker.reset()
        refine = self.options.refine and self.options.tracking and not still
        times = {"detect": 0.0, "regress": 0.0, "decode": 0.0}
        if self.dense_fn is not None:
            times["dense"] = 0.0

        need_detect = tracker.begin_frame(w, h)
        targets = tracker.match(*self._detect(image, times)) if need_detect else tracker.predict()
        faces: dict = {}
        while targets:
            for t in targets:
                face = self._face(image, t, times, refine)
                if tracker.update(t.track_id, face.landmarks):
                    faces[t.track_id] = face
                else:
                    faces.pop(t.track_id, None)
            if tracker.needs_detection:
                targets = tracker.match(*self._detect(image, times))
            else:
                targets = tracker.retry()
        detected = tracker.detected_this_frame
        tracker.end_frame()

        out = []
        for tid in sorted(faces):
            if not tracker.is_alive(tid):
                continue
            tr = tracker.track(tid)
            face = faces[tid]
            box = np.asarray(tr.bbox, dtype=np.float32).copy()
            box[0::2] = np.clip(box[0::2], 0, w)
            box[1::2] = np.clip(box[1::2], 0, h)
            face.bbox, face.score = box, float(tr.score)
            out.append(face)
        if self.dense_fn is not None:  # only for the faces kept
            t0 = time.perf_counter()
            for face in out:
                face.dense, face.dense_kind = self.dense_fn(face.params, face.roi, face.landmarks)
            times["dense"] += (time.perf_counter() - t0) * 1000.0
        result = FrameResult(frame=int(frame.index), source=str(frame.source), faces=out, time_ms=times,
                             detected=detected, timestamp_s=getattr(frame, "timestamp_s", None))
        if not still and self.smoother.enabled:
            result = self.smoother(result)
        times["total"] = (time.perf_counter() - t_start) * 1000.0
        result.time_ms = times
        c = self.counters
        c.frames += 1
        c.faces += len(out)
        c.frames_with_faces += bool(out)
        for k, v in times.items():
            c.time_ms[k] += v
        return result

    def describe(self) -> dict:
        """What runs: backend, precision, models, runtime, threads (for logs and the summary)."""
        o = self.options
        d = {"backend": o.backend, "precision": o.precision if o.backend == "tflite" else "fp32",
             "regressor": o.regressor, "threads": o.threads, "detector_size": list(self.detector_size),
             "tracking": o.tracking, "detect_interval": o.detect_interval if o.tracking else 1,
             "smoothing": self.smoother.enabled}
        d.update(self.info)
        return d

    @property
    def detector_size(self) -> tuple:
        cfg = getattr(self.detector, "config", None)
        return (cfg.width, cfg.height) if cfg is not None else tuple(self.options.detector_size)


# ----------------------------------------------------------------------------- building

def _detector_config(options: PipelineOptions) -> DetectorConfig:
    # crops come from unclipped boxes (upstream); the pipeline clips only the reported box
    return DetectorConfig(width=options.detector_size[0], height=options.detector_size[1],
                          score_threshold=float(options.score_threshold), clip_to_frame=False)


def converted_detector_sizes(precision: str, root: Optional[Path] = None) -> list:
    """Detector input sizes (width, height) converted to TFLite at `precision` in the cache."""
    variant = store.PRECISION_TO_VARIANT.get(precision)
    sizes = []
    d = paths.tflite_dir(root)
    if variant is None or not d.is_dir():
        return sizes
    for sub in sorted(d.glob("faceboxes_*x*")):
        try:
            w, h = (int(v) for v in sub.name[len("faceboxes_"):].split("x"))
        except ValueError:
            continue
        if store.model_path(sub.name, variant, root).is_file():
            sizes.append((w, h))
    return sizes


def _convert_hint(model: str, precision: str, size: Optional[tuple] = None) -> str:
    flag = {"int8": " --int8", "int8_floatio": " --int8", "fp16": " --fp16", "float16": " --fp16"}.get(precision, "")
    sz = f" --detector-size {size[0]}x{size[1]}" if size is not None else ""
    return f"`edgeface convert --model {model}{flag}{sz}`"


def _find_detector(options: PipelineOptions, root: Optional[Path]) -> tuple:
    """(path, (w, h), note): the converted detector, falling back on another size if allowed."""
    w, h = options.detector_size
    name = store.detector_name(w, h)
    try:
        return store.find_model(name, options.precision, root), (w, h), ""
    except MissingAssetError:
        others = converted_detector_sizes(options.precision, root) if options.detector_fallback else []
        if not others:
            variant = store.PRECISION_TO_VARIANT[options.precision]
            raise MissingAssetError(
                f"{name}_{variant}.tflite is not in the cache {paths.tflite_dir(root)}: run "
                f"{_convert_hint('faceboxes', options.precision, (w, h))}, or pick a converted size with --detector-size"
            ) from None
        # the closest size (by pixel count) to the one asked for
        ow, oh = min(others, key=lambda s: abs(s[0] * s[1] - w * h))
        note = f"{name} is not converted at {options.precision}; using faceboxes_{ow}x{oh}"
        return store.find_model(store.detector_name(ow, oh), options.precision, root), (ow, oh), note


def _find_regressor(options: PipelineOptions, root: Optional[Path]) -> Path:
    try:
        return store.find_model(options.regressor, options.precision, root)
    except MissingAssetError:
        variant = store.PRECISION_TO_VARIANT[options.precision]
        raise MissingAssetError(f"{options.regressor}_{variant}.tflite is not in the cache {paths.tflite_dir(root)}: run "
                                f"{_convert_hint(options.regressor, options.precision)}, or choose another --precision") from None


def _onnx_path(name: str, root: Optional[Path], hint: str) -> Path:
    p = paths.onnx_dir(root) / f"{name}.onnx"
    if not p.is_file() or not p.with_suffix(".json").is_file():
        raise MissingAssetError(f"{p.name} is not in {paths.onnx_dir(root)}: run `edgeface export {hint}` "
                                "(needs the convert extra)")
    return p


def load_backends(options: PipelineOptions) -> tuple:
    """(detector backend, regressor backend, info dict) for the options' backend and precision."""
    root = options.root
    info: dict = {}
    if options.backend == "onnx":
        from .onnx_backend import OnnxModel

        w, h = options.detector_size
        det = OnnxModel(_onnx_path(store.detector_name(w, h), root, f"--model faceboxes --detector-size {w}x{h}"),
                        num_threads=options.threads)
        reg = OnnxModel(_onnx_path(options.regressor, root, f"--model {options.regressor}"), num_threads=options.threads)
        try:
            import onnxruntime

            info["runtime"] = f"onnxruntime {onnxruntime.__version__}"
        except Exception:  # pragma: no cover
            pass
        info["detector_model"] = str(det.path)
        info["regressor_model"] = str(reg.path)
        return det, reg, info
    from .interpreter import TFLiteModel

    det_path, size, note = _find_detector(options, root)
    reg_path = _find_regressor(options, root)
    det = TFLiteModel(det_path, num_threads=options.threads, runtime=options.runtime)
    reg = TFLiteModel(reg_path, num_threads=options.threads, runtime=options.runtime)
    info["runtime"] = f"{det.runtime.name} {det.runtime.version}"
    info["xnnpack"] = reg.xnnpack
    info["detector_model"] = str(det_path)
    info["regressor_model"] = str(reg_path)
    if note:
        info["note"] = note
    return det, reg, info


def build_pipeline(options: Optional[PipelineOptions] = None, dense=None) -> Pipeline:
    """A pipeline with models from the cache: TFLite at `options.precision`, or the ONNX reference.
    `dense`: a dense reconstructor or DenseFn (used when `options.dense`)."""
    from . import assets
    from .models import FaceDetector, LandmarkRegressor

    options = options or PipelineOptions()
    stats = assets.load_param_stats(options.root)
    bases = assets.load_sparse_bases(options.root)
    det_backend, reg_backend, info = load_backends(options)
    detector = FaceDetector(det_backend, _detector_config(options))
    regressor = LandmarkRegressor(reg_backend, stats.mean, stats.std)
    return Pipeline(detector, regressor, bases, options, dense=dense, info=info)


# ----------------------------------------------------------------------------- the run loop

@dataclass
class LiveStats:
    """What the progress callback gets after each frame."""

    frame: int  # index of the frame just processed
    frames: int  # frames processed so far
    total: Optional[int]  # frames the source will give, when known
    fps: float  # over the last ~30 frames (input, processing and output included)
    time_ms: dict  # this frame's per-stage times
    faces: int  # faces in this frame
    detector_runs: int
    elapsed_s: float


@dataclass
class RunSummary:
    source: str
    frames: int
    faces: int  # summed over frames
    frames_with_faces: int
    detector_runs: int
    regressor_runs: int
    elapsed_s: float
    fps: float  # frames / elapsed wall time (input, processing and output included)
    mean_ms: dict  # per frame and stage
    stopped: str  # "end of input" | "interrupted" | "window closed" | "camera stopped delivering frames"
    pipeline: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["elapsed_s"] = round(self.elapsed_s, 3)
        d["fps"] = round(self.fps, 2)
        d["mean_ms"] = {k: round(v, 3) for k, v in self.mean_ms.items()}
        return d


def _needs_picture(sinks: Sequence, server) -> bool:
    from .sinks import JsonlSink

    return server is not None or any(getattr(s, "needs_picture", not isinstance(s, JsonlSink)) for s in sinks)


def run(source, sinks: Sequence, pipeline: Pipeline, progress: Optional[Callable[[LiveStats], None]] = None,
        server=None, hud: bool = True, style=None, render_fn: Optional[Callable] = None) -> RunSummary:
    """Process every frame of `source` (a `sources.FrameSource`) and write each result to `sinks`.

    Annotated pictures are drawn only when a sink other than JSONL (or `server`, an
    `mjpeg.MjpegServer`) needs them. Stops at the end of the input (a lost camera ends its
    source), when a window sink reports `stopped` (q / Esc), or on Ctrl-C; the sinks are then
    closed, keeping what was written. Any other error aborts the sinks and propagates.
    The source and the server are the caller's to close. `render_fn(image, result) -> image`
    draws extra layers (the dense mesh, `dense_output.DenseOverlay`) under the landmark overlay.
    """
    from .overlay import draw_result
    from .sinks import SinkGroup

    group = SinkGroup(list(sinks))
    picture = _needs_picture(group.sinks, server)
    still = bool(getattr(source, "is_still", False))
    total = getattr(source, "frame_count", None)
    pipeline.reset()
    c = pipeline.counters
    start = (c.frames, c.faces, c.frames_with_faces, c.detector_runs, c.regressor_runs, dict(c.time_ms))
    t0 = time.perf_counter()
    stamps: collections.deque = collections.deque(maxlen=31)
    stopped = "end of input"
    fps = 0.0
    try:
        for frame in source:
            result = pipeline.process(frame, still=still)
            now = time.perf_counter()
            stamps.append(now)
            if len(stamps) > 1:
                fps = (len(stamps) - 1) / max(stamps[-1] - stamps[0], 1e-9)
            elif now > t0:
                fps = 1.0 / (now - t0)
            annotated = None
            if picture:
                base = render_fn(frame.image, result) if render_fn is not None else frame.image
                annotated = draw_result(base, result, style=style, hud=hud, fps=fps, in_place=base is not frame.image)
            group.write(frame, result, annotated)
            if server is not None:
                server.publish(annotated, {"frame": frame.index, "fps": round(fps, 2), "faces": len(result.faces),
                                           "time_ms": {k: round(v, 2) for k, v in result.time_ms.items()}})
            if progress is not None:
                progress(LiveStats(frame=frame.index, frames=c.frames - start[0], total=total, fps=fps,
                                   time_ms=result.time_ms, faces=len(result.faces),
                                   detector_runs=c.detector_runs - start[3], elapsed_s=now - t0))
            if group.stopped:
                stopped = "window closed"
                break
    except KeyboardInterrupt:
        stopped = "interrupted"
    except BaseException:
        group.abort()
        raise
    elapsed = time.perf_counter() - t0
    group.close()
    frames = c.frames - start[0]
    if stopped == "end of input" and getattr(source, "kind", "") == "camera":
        limit = getattr(source, "max_frames", None)
        if limit is None or frames < limit:
            stopped = "camera stopped delivering frames"
    sums = {k: v - start[5].get(k, 0.0) for k, v in c.time_ms.items()}
    return RunSummary(
        source=str(getattr(source, "name", "")), frames=frames, faces=c.faces - start[1],
        frames_with_faces=c.frames_with_faces - start[2], detector_runs=c.detector_runs - start[3],
        regressor_runs=c.regressor_runs - start[4], elapsed_s=elapsed, fps=frames / elapsed if elapsed > 0 else 0.0,
        mean_ms={k: v / max(1, frames) for k, v in sums.items()}, stopped=stopped, pipeline=pipeline.describe(),
    )


__all__: Sequence[str] = (
    "PipelineOptions", "Counters", "Pipeline", "build_pipeline", "load_backends", "converted_detector_sizes",
    "LiveStats", "RunSummary", "run", "DenseFn", "as_dense_fn",
)
