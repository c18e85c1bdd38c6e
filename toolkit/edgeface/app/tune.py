"""`edgeface tune`: measure the board it runs on and write its own profile (`<cache>/profiles/local.toml`).

The shipped Raspberry Pi profiles were chosen from the hardware, not measured on it; this measures them
where it matters, with this board's models on the sample video (and a multi-face clip), in tens of seconds:

1. **stages** (`measure_stages`): each network (FaceBoxes at the profile's size, the mb05 regressor) at each
   precision that is converted (INT8, fp32) and each thread count (1 .. the usable cores, at most 4):
   the median of `repeats` invokes on a real input (a letterboxed video frame, a 120x120 crop of it).
   Per stage the fastest precision is taken, and the fewest threads within `THREADS_TOLERANCE` of its
   fastest (a thread more that buys under 5 % is a core taken from the rest of the pipeline).
2. **pipeline** (`measure_pipeline`): the whole tracking pipeline (detector, tracker, regressor, decoding,
   smoothing; the profile's scan mode) over `frames` frames of the video, for the chosen stage threads and
   for one thread per stage (more threads made every pipeline row slower on a 2-core x86 machine), at
   the profile's detect interval, half and double it. fps = frames / summed `process` time (frame 0, the
   warm-up, left out; decoding is not timed: the camera delivers decoded frames).
   The faster thread setting is kept; the interval is the smallest whose fps is within
   `INTERVAL_TOLERANCE` of the fastest (a shorter interval finds new faces sooner).
3. **regressor workers** (`measure_workers`): the chosen pipeline (precisions, stage threads, interval) in
   VIDEO mode on a multi-face clip, `frames` frames of 4 faces of the sample photos drifting on the scaling
   benchmark's 640x480 grid (`app.tune_clip`, built with `sources.face_grid`), at `regressor_workers` =
   1 .. the usable cores (at most 4; `runtime.regressor_pool`: a frame's faces regressed on that many
   interpreters at once, each with the regressor's thread count). `WORKER_PASSES` rounds over the counts in
   turn, a fresh pipeline each; a count's fps is its faster pass. The fewest workers within
   `WORKERS_TOLERANCE` of the fastest are kept (`[runtime] regressor_workers`; a worker more that buys under
   5 % is a thread taken from the scan and the rest). With one usable core the step is skipped (1 worker).

Precision choice: the INT8 models were verified against float at conversion (manifest `verification`:
landmarks within the model card's limits), so the faster one is taken; `--precision` limits the choice.
`choose_*` (`app.tune_choice`) are pure (measurements in, choice and reasons out) and tested with made-up numbers; the
profile is written with `boards.profiles.write_local_profile` and `--target auto` prefers it on this
board (`boards.profiles.resolve_target`). Times are milliseconds.
"""

from __future__ import annotations

import dataclasses
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

import cv2
import numpy as np

from edgeface import __version__
from edgeface.app.tune_clip import CLIP_FACES, multi_face_clip
from edgeface.boards.machine import read_machine, usable_cores
from edgeface.boards.profiles import TargetProfile, detect_target, machine_key, write_local_profile
from edgeface.errors import EdgefaceError, OptionsError
from edgeface.frames import Frame
from edgeface.hub import locate, paths
from edgeface.hub.atomic import write_json_atomic
from edgeface.runtime.detection import letterbox
from edgeface.runtime.loading import build_pipeline
from edgeface.runtime.options import PipelineOptions
from edgeface.runtime.tflite_backend import TFLiteModel
from edgeface.sources.spec import open_source
from edgeface.app.tune_choice import (PipelineTiming, StageChoice, StageTiming, WorkerTiming, choose_pipeline,
                                      choose_stage, choose_workers, percentile)
from edgeface.vocab import Precision, detector_name

WORKER_PASSES = 2  # runs of the multi-face clip per worker count (alternating counts); the faster one counts
TUNE_PRECISIONS = ("int8", "fp32")


@dataclass(frozen=True)
class TuneOptions:
    """What `edgeface tune` measures. threads / intervals empty: the defaults (1 .. usable cores, at most 4;
    the base profile's interval, half and double it)."""

    source: str = "samples:obama"
    frames: int = 60
    repeats: int = 8
    threads: tuple = ()
    intervals: tuple = ()
    workers: tuple = ()
    precisions: tuple = TUNE_PRECISIONS
    root: Optional[Path] = None
    write: bool = True

    def __post_init__(self):
        if int(self.frames) < 2 or int(self.repeats) < 1:
            raise OptionsError(f"tune needs --frames >= 2 and --repeats >= 1, got {self.frames} and {self.repeats}")
        if any(int(v) < 1 for v in (*self.threads, *self.intervals, *self.workers)):
            raise OptionsError("tune: --threads, --intervals and --workers must be positive numbers")
        bad = [p for p in self.precisions if p not in TUNE_PRECISIONS]
        if bad or not self.precisions:
            raise OptionsError(f"tune: --precision takes {' and/or '.join(TUNE_PRECISIONS)}, not {', '.join(bad) or 'nothing'}")


@dataclass(frozen=True)
class TuneResult:
    base: str  # the shipped profile the local one starts from
    profile: TargetProfile
    stages: tuple  # StageTiming
    pipelines: tuple  # PipelineTiming
    reasons: tuple  # one line per choice
    path: Optional[Path] = None  # where the profile was written (None: --dry-run)
    seconds: float = 0.0
    workers: tuple = ()  # WorkerTiming (none: skipped, one usable core)

    def to_dict(self) -> dict:
        return {"base": self.base, "profile": self.profile.to_dict(), "reasons": list(self.reasons),
                "stages": [dataclasses.asdict(s) for s in self.stages],
                "pipelines": [dataclasses.asdict(p) for p in self.pipelines],
                "workers": [dataclasses.asdict(w) for w in self.workers],
                "path": str(self.path) if self.path else None, "seconds": round(self.seconds, 1)}


# ----------------------------------------------------------------------------- measuring

def _frames(source: str, n: int) -> list:
    with open_source(source, max_frames=n) as src:
        return [f for f in src]


def stage_inputs(frame: np.ndarray, detector_size: tuple) -> dict:
    """Real inputs of the two networks from a video frame: its letterboxed canvas, a 120x120 center crop."""
    canvas, _ = letterbox(frame, int(detector_size[0]), int(detector_size[1]))
    h, w = frame.shape[:2]
    s = min(h, w) // 2
    crop = cv2.resize(frame[h // 2 - s // 2: h // 2 + s // 2, w // 2 - s // 2: w // 2 + s // 2], (120, 120))
    return {"detector": canvas, "regressor": crop}


def measure_stages(frame: np.ndarray, base: TargetProfile, threads: Sequence[int], precisions: Sequence[str],
                   repeats: int, root: Optional[Path], progress: Callable[[str], None]) -> list:
    inputs = stage_inputs(frame, base.detector_size)
    names = {"detector": detector_name(*base.detector_size), "regressor": "mb05"}
    out = []
    for stage, name in names.items():
        for prec in precisions:
            variant = Precision.parse(prec).variant
            found = locate.find_model(name, variant, root)
            if found is None:
                progress(f"  {stage} {prec}: {name}_{variant}.tflite is not converted here: skipped")
                continue
            for t in threads:
                model = TFLiteModel(found.path, num_threads=int(t))
                model.run(inputs[stage])  # first invoke: XNNPACK packs the weights
                times = []
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    model.run(inputs[stage])
                    times.append((time.perf_counter() - t0) * 1000.0)
                del model
                st = StageTiming(stage, prec, int(t), round(statistics.median(times), 3), round(percentile(times, 0.9), 3))
                out.append(st)
                progress(f"  {stage} {prec} {t} thread(s): {st.median_ms:.1f} ms (p90 {st.p90_ms:.1f})")
    return out


def pipeline_options(base: TargetProfile, reg: StageChoice, det: StageChoice, reg_threads: int, det_threads: int,
                     interval: int, root: Optional[Path], workers: int = 1) -> PipelineOptions:
    """The VIDEO-mode pipeline `edgeface run` would build from the profile with these settings."""
    return PipelineOptions(
        backend="tflite", precision=Precision.parse(reg.precision), detector_precision=Precision.parse(det.precision),
        threads=max(reg_threads, det_threads), regressor_threads=reg_threads, detector_threads=det_threads,
        detector_size=tuple(base.detector_size), detect_interval=int(interval), scan=base.scan,
        scan_threads=min(int(base.scan_threads), usable_cores()), max_misses=base.max_misses,
        smoothing=base.smoothing, root=root, roi_deadband=0.02, motion="velocity", regressor_workers=int(workers))


def time_frames(opts: PipelineOptions, frames: Iterable) -> list:
    """Milliseconds of `process` per frame on a fresh pipeline, frame 0 (the warm-up: the first detection,
    XNNPACK's weight packing) left out."""
    pipe = build_pipeline(opts)
    times = []
    try:
        for f in frames:
            t0 = time.perf_counter()
            pipe.process(f)
            times.append((time.perf_counter() - t0) * 1000.0)
    finally:
        pipe.close()
    return times[1:]


def measure_pipeline(source: str, frames: int, base: TargetProfile, reg: StageChoice, det: StageChoice,
                     label: str, reg_threads: int, det_threads: int, interval: int, root: Optional[Path]) -> PipelineTiming:
    with open_source(source, max_frames=frames) as src:
        times = time_frames(pipeline_options(base, reg, det, reg_threads, det_threads, interval, root), src)
    if not times:
        raise EdgefaceError(f"tune: fewer than 2 frames from {source}")
    busy = sum(times)
    return PipelineTiming(label, reg_threads, det_threads, int(interval), round(len(times) * 1000.0 / busy, 2),
                          round(statistics.median(times), 3), round(percentile(times, 0.9), 3), len(times))


def clip_frames(clip: np.ndarray, fps: float = 30.0) -> list:
    """The clip's images as video frames (timestamps at `fps`)."""
    return [Frame(index=i, image=np.ascontiguousarray(img), timestamp_ms=i * 1000.0 / fps, source="tune:multi-face clip")
            for i, img in enumerate(clip)]


def measure_workers(clip: np.ndarray, base: TargetProfile, reg: StageChoice, det: StageChoice, pick: PipelineTiming,
                    workers: Sequence[int], root: Optional[Path], passes: int = WORKER_PASSES,
                    progress: Callable[[str], None] = lambda line: None) -> list:
    """The chosen pipeline on the multi-face clip at each worker count: `passes` rounds over the counts in
    turn (fresh pipeline each), fps = timed frames / summed `process` time, the faster pass kept."""
    frames = clip_frames(clip)
    per: dict = {int(w): [] for w in workers}
    for _ in range(max(1, int(passes))):
        for w in per:
            opts = pipeline_options(base, reg, det, pick.regressor_threads, pick.detector_threads, pick.interval, root, w)
            per[w].append(time_frames(opts, frames))
    out = []
    for w, runs in per.items():
        if not all(runs):
            raise EdgefaceError("tune: the multi-face clip needs at least 2 frames")
        every = [t for r in runs for t in r]
        fps = max(len(r) * 1000.0 / sum(r) for r in runs)
        wt = WorkerTiming(w, CLIP_FACES, round(fps, 2), round(statistics.median(every), 3), round(percentile(every, 0.9), 3),
                          len(runs[0]))
        out.append(wt)
        progress(f"  regressor workers {w}: {wt.fps:.1f} fps, median {wt.median_ms:.1f} ms, p90 {wt.p90_ms:.1f} ms")
    return out


def default_threads(cores: int) -> tuple:
    return tuple(range(1, min(4, max(1, cores)) + 1))


def default_workers(cores: int) -> tuple:
    return tuple(range(1, min(4, max(1, cores)) + 1))


def worker_candidates(given: Sequence[int], cores: int) -> tuple:
    """The worker counts to measure: those given (else 1 .. the usable cores, at most 4), none above the cores."""
    return tuple(sorted({int(w) for w in (given or default_workers(cores)) if int(w) <= cores}))


def default_intervals(base_interval: int) -> tuple:
    b = max(2, int(base_interval))
    return tuple(sorted({max(1, b // 2), b, b * 2}))


def tune(options: TuneOptions = TuneOptions(), progress: Callable[[str], None] = lambda line: None) -> TuneResult:
    """Measure this board, choose, and (unless options.write is False) write the local profile."""
    t_start = time.perf_counter()
    model, cpuinfo, mach = read_machine()
    shipped = detect_target(model, cpuinfo, mach)
    base = shipped.profile
    cores = usable_cores()
    threads = tuple(options.threads) or default_threads(cores)
    intervals = tuple(options.intervals) or default_intervals(base.detect_interval)
    progress(f"base profile {base.name} ({shipped.reason}); {cores} usable core(s); "
             f"threads {', '.join(map(str, threads))}; intervals {', '.join(map(str, intervals))}")
    frames = _frames(options.source, 1)
    if not frames:
        raise EdgefaceError(f"tune: no frame in {options.source}")
    progress(f"stages: {options.repeats} invokes each on {options.source} frame 0")
    stages = measure_stages(frames[0].image, base, threads, options.precisions, options.repeats, options.root, progress)
    reg, det = choose_stage(stages, "regressor"), choose_stage(stages, "detector")
    settings = [("tuned threads", reg.threads, det.threads)]
    if (reg.threads, det.threads) != (1, 1):
        settings.append(("1 thread per stage", 1, 1))
    progress(f"pipeline: {options.frames} frames of {options.source}, {len(settings) * len(intervals)} runs")
    runs = []
    for label, rt, dt in settings:
        for i in intervals:
            r = measure_pipeline(options.source, options.frames, base, reg, det, label, rt, dt, i, options.root)
            runs.append(r)
            progress(f"  {label} (regressor {rt}, detector {dt}), interval {i}: {r.fps:.1f} fps, "
                     f"median {r.median_ms:.1f} ms, p90 {r.p90_ms:.1f} ms")
    pick, why = choose_pipeline(runs)
    candidates = worker_candidates(options.workers, cores)
    worker_runs: list = []
    if cores < 2 or not candidates:
        n_workers = 1
        skip = ("1 usable core: one face at a time" if cores < 2 else
                f"none of --workers {','.join(map(str, options.workers))} fits the {cores} usable cores")
        why_workers = f"regressor workers: 1 (not measured: {skip})"
        progress(f"workers: skipped ({skip})")
    else:
        progress(f"workers: {options.frames} frames of {CLIP_FACES} faces (the sample photos on the scaling benchmark's "
                 f"grid), {WORKER_PASSES} passes x {len(candidates)} worker counts, the chosen pipeline settings")
        clip = multi_face_clip(options.frames, reg.precision, det.precision, base.name, options.root)
        worker_runs = measure_workers(clip, base, reg, det, pick, candidates, options.root, progress=progress)
        n_workers, why_workers = choose_workers(worker_runs)
    prof = dataclasses.replace(
        base, name="local", title=f"{base.title}, tuned on this board", precision=reg.precision,
        detector_precision=det.precision, regressor_threads=pick.regressor_threads,
        detector_threads=pick.detector_threads, threads=max(pick.regressor_threads, pick.detector_threads),
        detect_interval=pick.interval, regressor_workers=int(n_workers), tuned=())
    key = machine_key(model, cpuinfo, mach)
    info = {**{k: v for k, v in key.items()}, "based_on": base.name, "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "edgeface": __version__, "python": platform.python_version(), "source": options.source,
            "frames": options.frames, "fps": pick.fps, "p90_ms": pick.p90_ms}
    reasons = (reg.reason, det.reason, why, why_workers)
    path = None
    if options.write:
        path = write_local_profile(prof, info, comments=(
            f"Written by `edgeface tune` on {info['date']} (edgeface {__version__}); `--target auto` uses it on this",
            f"board ({key['board'] or key['cpu_model']}, {key['cores']} cores). Measurements: local.json beside it.",
            *(f"  {r}" for r in reasons)), root=options.root)
    elapsed = time.perf_counter() - t_start
    result = TuneResult(base.name, dataclasses.replace(prof, tuned=tuple(sorted(info.items()))), tuple(stages),
                        tuple(runs), reasons, path, elapsed, tuple(worker_runs))
    if path is not None:
        write_json_atomic(paths.profiles_dir(options.root) / "local.json", result.to_dict())
    return result


__all__: Sequence[str] = ("TuneOptions", "TuneResult", "StageTiming", "PipelineTiming", "WorkerTiming", "StageChoice", "tune",
                          "choose_stage", "choose_pipeline", "choose_workers", "measure_stages", "measure_pipeline",
                          "measure_workers", "pipeline_options", "time_frames", "worker_candidates", "stage_inputs")
