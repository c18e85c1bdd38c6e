"""The on-board pipeline: frame -> detector / tracker -> regressor -> 3DMM decoding -> smoothing.

`Pipeline` takes its two networks as objects (dependency injection: a `models.FaceDetector` and a
`models.LandmarkRegressor` over any backend), so it runs the same with TFLite models from the
cache (`loading.build_pipeline(PipelineOptions(backend="tflite", precision=...))`), the ONNX reference
(`backend="onnx"`), or test doubles. `Pipeline.process(frame)` gives one `results.FrameResult`:
per face a stable id (from `tracker.FaceTracker`), the face box, the 68 landmarks in frame pixels
(`tdmm.sparse_landmarks` + `tdmm.to_image` with the crop box), head pose, camera and the 62 params,
plus per-stage times in milliseconds: detect (letterbox + FaceBoxes + post-processing), regress
(crop + regressor + de-normalization, refinement included), decode (68 landmarks, pose, camera),
[dense,] total (the whole `process` call, tracking and smoothing included).

Crops from detections use the detector's UNclipped boxes (as upstream); the reported face box is
clipped to the frame. Still images (`still=True`) are processed independently: detection on every
image, no tracking, no smoothing; with a `still.StillAligner` (`still=`, what `build_pipeline` gives)
the detector runs at upstream's scale policy and each face gets landmark re-crops and flip TTA
(runtime/still.py), without one the video detector and plain box crops are used (upstream demo.py).
Video and camera frames are tracked as upstream demo_video: a new face's crop comes from its
detection box and is refined once from the landmarks it gives (`refine`), then each frame is
cropped from the previous frame's landmarks; the detector runs every `detect_interval` frames
and whenever a track is lost. Temporal smoothing (One Euro, `smoothing.FaceSmoother`) applies to
the landmarks, box and pose of each face id; `params` and `camera` stay the raw regressor output.

Dense reconstruction is a hook: set `PipelineOptions.dense` and pass `dense=` either a
`dense.DenseReconstructor` (e.g. `dense.load_dense_model(root, decimate=options.dense_max_vertices
or None)`) or a callable `(params (62,), roi (4,), landmarks (68, 3)) -> (vertices (N, 3) frame
pixels, kind)`; each face then gets `Face.dense` / `Face.dense_kind`, timed as "dense".

The models are found and loaded by `runtime.loading` (`build_pipeline(options)`), configured by
`runtime.options.PipelineOptions`; the public facade over all this is `edgeface.FaceAligner`.
"""

from __future__ import annotations

import collections
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np

from edgeface.errors import EdgefaceError
from edgeface.runtime import roi as roi_mod
from edgeface.runtime.boxes import clipped_to_frame
from edgeface.runtime.decode import SparseDecoder, pose_degrees
from edgeface.runtime.motion import off_centre
from edgeface.runtime.options import PipelineOptions
from edgeface.results import Face, FrameResult, Pose
from edgeface.runtime.smoothing import FaceSmoother
from edgeface.runtime.tracker import FaceTracker

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


def _as_params(params) -> np.ndarray:
    """The params as a (N,) float32 vector: the regressor's own array as it is (no copy)."""
    if isinstance(params, np.ndarray) and params.dtype == np.float32 and params.ndim == 1:
        return params
    return np.asarray(params, np.float32).reshape(-1)


@dataclass
class Counters:
    frames: int = 0
    detector_runs: int = 0
    regressor_runs: int = 0
    faces: int = 0  # faces reported, summed over frames
    frames_with_faces: int = 0
    scan_ms: float = 0.0  # summed detector time of asynchronous scans (on the scan thread)
    time_ms: dict = field(default_factory=lambda: collections.defaultdict(float))  # sums per stage

    def mean_ms(self) -> dict:
        n = max(1, self.frames)
        return {k: v / n for k, v in self.time_ms.items()}


class Pipeline:
    """Detector + tracker + regressor + decoder (+ smoother). Call `process(frame)` per frame."""

    def __init__(self, detector, regressor, bases, options: Optional[PipelineOptions] = None,
                 dense=None, info: Optional[dict] = None, still=None, scanner=None, pool=None):
        self.detector = detector
        self.regressor = regressor
        self.options = options or PipelineOptions()
        self.u = np.asarray(bases.u, dtype=np.float32).reshape(-1)
        self.w_shp = np.asarray(bases.w_shp, dtype=np.float32)
        self.w_exp = np.asarray(bases.w_exp, dtype=np.float32)
        self.decoder = SparseDecoder(self.u, self.w_shp, self.w_exp)  # the hot path's landmark decoding
        if self.options.dense and dense is None:
            raise EdgefaceError("dense output needs a dense reconstructor: pass dense= to the pipeline")
        self.dense_fn = as_dense_fn(dense) if self.options.dense else None
        self.info = dict(info or {})
        self.scanner = scanner  # runtime.scanner.AsyncScanner (own detector) or None: scans in-line
        self.tracker = FaceTracker(self.options.tracker_config(still=False))
        motion = self.tracker.config.motion
        self._recrop = float(motion.recrop) if motion is not None and motion.enabled else 0.0
        self._still_tracker = FaceTracker(self.options.tracker_config(still=True))
        self.smoother = FaceSmoother(self.options.smoothing)
        self.counters = Counters()
        self.still = still  # a still.StillAligner for still=True frames (None: the video detector, box crops)
        self.pool = pool  # runtime.regressor_pool.RegressorPool: the faces of a frame regressed at once (None: one by one)

    def backends(self) -> list:
        """Every model backend (interpreter) this pipeline runs: detector, regressor, the async scanner's
        detector, the regressor pool's regressors (the still-image detector loads on the first photo)."""
        out = [self.detector.backend, self.regressor.backend]
        if self.scanner is not None:
            out.append(self.scanner.detector.backend)
        if self.pool is not None:
            out.extend(r.backend for r in self.pool.regressors)
        return out

    def warm(self) -> None:
        """One run per interpreter on a blank input (`backends()`), so the first real frame costs what the
        tenth does (XNNPACK packs its weights and the arena is planned on the first Invoke)."""
        for backend in self.backends():
            warm = getattr(backend, "warm", None)  # a backend without one (a test double) stays cold
            if warm is not None:
                warm()

    # ------------------------------------------------------------------ state

    def reset(self) -> None:
        """Start a new sequence: forget tracks and smoothing state (counters are kept)."""
        self.tracker.reset()
        self._still_tracker.reset()
        if self.scanner is not None:
            self.scanner.reset()
        self.smoother.reset()

    # ------------------------------------------------------------------ stages

    def _detect(self, image: np.ndarray, times: dict) -> tuple:
        t0 = time.perf_counter()
        det = self.detector(image)
        times["detect"] += (time.perf_counter() - t0) * 1000.0
        self.counters.detector_runs += 1
        return det.boxes, det.scores

    def _detect_still(self, image: np.ndarray, times: dict) -> tuple:
        self.still.detector  # loaded on the first photo, not timed as detection
        t0 = time.perf_counter()
        det = self.still.detect(image)
        times["detect"] += (time.perf_counter() - t0) * 1000.0
        self.counters.detector_runs += 1
        return det.boxes, det.scores

    def _regress_crop(self, crop: np.ndarray, times: dict) -> np.ndarray:
        t0 = time.perf_counter()
        params = self.regressor.params_from_crop(crop)
        times["regress"] += (time.perf_counter() - t0) * 1000.0
        self.counters.regressor_runs += 1
        return params

    def _regress(self, image: np.ndarray, roi: np.ndarray, times: dict) -> np.ndarray:
        t0 = time.perf_counter()
        params = self.regressor(image, roi)
        times["regress"] += (time.perf_counter() - t0) * 1000.0
        self.counters.regressor_runs += 1
        return params

    def _scan_targets(self, image: np.ndarray, index: int, need_detect: bool, times: dict):
        """Asynchronous scans (`runtime.scanner`): merge a finished scan, or start a due one and track
        this frame without waiting. None: the frame needs the in-line detector (or no scan applies)."""
        tracker, scanner = self.tracker, self.scanner
        scan = scanner.poll()
        since = scanner.pending_since
        interval = tracker.scan_interval  # detect_interval, shorter while faces move fast (motion)
        if scan is None and since is not None and interval > 0 and index - since >= interval:
            t0 = time.perf_counter()
            scan = scanner.wait()  # keep at least one scan per interval (faster than real time, slow boards)
            times["detect"] += (time.perf_counter() - t0) * 1000.0
        if scan is not None:
            self.counters.detector_runs += 1
            self.counters.scan_ms += scan.ms  # worker-thread time, not part of this frame's "total"
            targets = tracker.match(*scan.detections, stale=True, frames_ago=max(0, index - scan.frame_index))
            if tracker.rescan_due:  # motion: the next scan is due already (scans every frame): start it now
                self._submit_scan(image, index, times)
            return targets
        if not need_detect or tracker.detection_required:
            return None
        self._submit_scan(image, index, times)
        return tracker.predict()

    def _submit_scan(self, image: np.ndarray, index: int, times: dict) -> None:
        t0 = time.perf_counter()
        self.scanner.submit(image, index)  # skipped while a scan is still running; the worker letterboxes the frame
        times["detect"] += (time.perf_counter() - t0) * 1000.0

    def landmarks(self, params: np.ndarray, roi: np.ndarray) -> np.ndarray:
        """The 68 landmarks (68, 3) in frame pixels of params regressed from the crop `roi`."""
        return self.decoder.landmarks(_as_params(params), roi)

    def _regress_all(self, image: np.ndarray, rois: list, times: dict) -> list:
        """The params of every crop: one by one, or on the regressor pool (crop + Invoke on each worker's own
        interpreter; the same bits per crop). "regress" gets the wall time."""
        if self.pool is None or len(rois) < 2:
            return [self._regress(image, r, times) for r in rois]
        t0 = time.perf_counter()
        params = self.pool.map(lambda r, reg: reg(image, r), rois, self.regressor)
        times["regress"] += (time.perf_counter() - t0) * 1000.0
        self.counters.regressor_runs += len(rois)
        return params

    def _decode(self, params: list, rois: list) -> tuple:
        """(F, 68, 3) landmarks of every face and each face's (x, y, z) minimum and maximum over its landmarks
        (`SparseDecoder.decode`: all faces at once, the same bits as face by face)."""
        return self.decoder.decode([_as_params(p) for p in params], rois)

    def _faces(self, image: np.ndarray, targets: list, times: dict, refine: bool) -> tuple:
        """A `Face` per target: every crop regressed (at once on the pool), decoded (all at once); then a second
        crop for the faces that need one (a new face's refinement, upstream demo_video; with motion, a tracked
        face found off its crop's centre), regressed and decoded the same way. Returns the faces and the
        (x1, y1, x2, y2) extremes of each face's landmarks (what the tracker's checks start from)."""
        rois = [np.asarray(t.roi, dtype=np.float64) for t in targets]
        params = self._regress_all(image, rois, times)
        t0 = time.perf_counter()
        decoded, lo, hi = self._decode(params, rois)  # and the landmarks' extremes (NaN or inf anywhere reaches them)
        lms = list(decoded)
        again = []
        for i, t in enumerate(targets):
            if not ((refine and t.source == "detect") or (self._recrop and t.source == "track")):
                continue
            (x1, y1, z1), (x2, y2, z2) = lo[i], hi[i]
            if not all(map(math.isfinite, (x1, y1, z1, x2, y2, z2))):
                continue
            new = roi_mod.landmark_box_roi(x1, y1, x2, y2)  # Python floats: an array only for a crop taken
            # upstream demo_video's first-frame refinement; with motion, a face found off its crop's centre
            if t.source == "detect" or off_centre(rois[i], new) > self._recrop:
                again.append(i)
                rois[i] = np.array(new, dtype=np.float64)
        times["decode"] += (time.perf_counter() - t0) * 1000.0
        if again:
            for i, p in zip(again, self._regress_all(image, [rois[i] for i in again], times)):
                params[i] = p
            t0 = time.perf_counter()
            redone, redo_lo, redo_hi = self._decode([params[i] for i in again], [rois[i] for i in again])
            for i, lm, a, b in zip(again, redone, redo_lo, redo_hi):
                lms[i], lo[i], hi[i] = lm, a, b
            times["decode"] += (time.perf_counter() - t0) * 1000.0
        t0 = time.perf_counter()
        faces = []
        for t, p, lm, roi in zip(targets, params, lms, rois):
            p = _as_params(p)
            yaw, pitch, roll = pose_degrees(p)
            # bbox: the tracker's box is set on the faces kept (`process`); camera: the first 12 params (a copy)
            faces.append(Face(id=int(t.track_id), bbox=t.bbox, score=float(t.score), landmarks=lm,
                              pose=Pose(yaw, pitch, roll), params=p, roi=roi, camera=p[:12].reshape(3, 4).copy(),
                              tracked=t.source == "track"))
        times["decode"] += (time.perf_counter() - t0) * 1000.0
        return faces, [(a[0], a[1], b[0], b[1]) for a, b in zip(lo, hi)]

    # ------------------------------------------------------------------ one frame

    def process(self, frame, still: bool = False) -> FrameResult:
        """One frame (`sources.Frame`, or any object with index, image, timestamp_ms, source).

        still=True: an independent image (fresh ids from 0, detection crops, no smoothing). When it returns
        (or raises), nothing of this pipeline reads the frame any more (the scan worker has letterboxed it)."""
        try:
            return self._process(frame, still)
        finally:
            if self.scanner is not None:
                self.scanner.release()

    def _process(self, frame, still: bool) -> FrameResult:
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

        still_path = still and self.still is not None  # runtime/still.py: photo-specific detector scale, re-crops, flip
        detect = self._detect_still if still_path else self._detect
        need_detect = tracker.begin_frame(w, h)
        targets = None if still or self.scanner is None else self._scan_targets(image, int(frame.index), need_detect, times)
        if targets is None:
            targets = tracker.match(*detect(image, times)) if need_detect else tracker.predict()
        faces: dict = {}
        while targets:
            if still_path:
                batch, extremes = [self.still.face(image, t, self._regress, self._regress_crop, times) for t in targets], None
            else:
                batch, extremes = self._faces(image, targets, times, refine)  # and each face's landmark x, y extremes
            for k, (t, face) in enumerate(zip(targets, batch)):
                if tracker.update(t.track_id, face.landmarks, None if extremes is None else extremes[k]):
                    faces[t.track_id] = face
                else:
                    faces.pop(t.track_id, None)
            if tracker.needs_detection:
                targets = tracker.match(*detect(image, times))
            else:
                targets = tracker.retry()
        detected = tracker.detected_this_frame
        tracker.end_frame()

        out = [faces[tid] for tid in sorted(faces) if tracker.is_alive(tid)]
        kept = [tracker.track(face.id) for face in out]
        for face, tr, box in zip(out, kept, clipped_to_frame([tr.bbox for tr in kept], w, h)):
            face.bbox = box  # its track's box, clipped to the frame
            face.score = float(tr.score)
        if self.dense_fn is not None:  # only for the faces kept
            t0 = time.perf_counter()
            for face in out:
                face.dense, face.dense_kind = self.dense_fn(face.params, face.roi, face.landmarks)
            times["dense"] += (time.perf_counter() - t0) * 1000.0
        timestamp = getattr(frame, "timestamp_ms", None)
        if not still and self.smoother.enabled:  # in place: these faces are this call's own
            self.smoother.apply(out, self.smoother.time_of(int(frame.index), timestamp))
        if self.scanner is not None:  # the scan worker letterboxes a frame submitted here: wait until it has
            t0 = time.perf_counter()
            self.scanner.release()
            times["detect"] += (time.perf_counter() - t0) * 1000.0
        result = FrameResult(frame=int(frame.index), source=str(frame.source), faces=out, time_ms=times,
                             detected=detected, timestamp_ms=timestamp)
        times["total"] = (time.perf_counter() - t_start) * 1000.0
        c = self.counters
        c.frames += 1
        c.faces += len(out)
        c.frames_with_faces += bool(out)
        for k, v in times.items():
            c.time_ms[k] += v
        return result

    def close(self) -> None:
        """Stop the scan worker thread and the regressor pool's threads (if any)."""
        if self.scanner is not None:
            self.scanner.close()
        if self.pool is not None:
            self.pool.close()

    def describe(self) -> dict:
        """What runs: backend, precision, models, runtime, threads (for logs and the summary)."""
        o = self.options
        d = {"backend": o.backend, "precision": o.precision.value if o.backend == "tflite" else "fp32",
             "detector_precision": o.detector_precision_used.value if o.backend == "tflite" else "fp32",
             "regressor": o.regressor, "threads": o.threads, "detector_size": list(self.detector_size),
             "tracking": o.tracking, "detect_interval": o.detect_interval if o.tracking else 1,
             "smoothing": self.smoother.enabled, "scan": "async" if self.scanner is not None else "in-line",
             "regressor_threads": o.stage_threads("regressor"), "detector_threads": o.stage_threads("detector"),
             "scan_threads": o.stage_threads("scan") if self.scanner is not None else None,
             "regressor_workers": self.pool.size if self.pool is not None else 1, "motion": o.motion if o.tracking else "none"}
        d.update(self.info)
        if self.still is not None:
            d.update(self.still.info)
        return d

    @property
    def detector_size(self) -> tuple:
        cfg = getattr(self.detector, "config", None)
        return (cfg.width, cfg.height) if cfg is not None else tuple(self.options.detector_size)


__all__: Sequence[str] = ("Counters", "Pipeline", "DenseFn", "as_dense_fn")
