"""`edgeface bench`: latency of every converted model variant, and of the whole pipeline.

What is measured
    One *case* = one model (mb05 / mb1 regressor, faceboxes_WxH detector) x one variant
    (`onnxruntime-fp32` on the ONNX original, which is what upstream 3DDFA_V2 runs with --onnx;
    `tflite-float32`, `tflite-float16`, `tflite-int8`, `tflite-int8_floatio`) x one TFLite runtime
    (ai-edge-litert, tflite-runtime: every one importable) x one thread count.
    A timed run is `backend.run(x)`: raw uint8 BGR NHWC pixels in, float32 outputs out, i.e. what
    the runtime pays per call (input normalization + NCHW transpose for onnxruntime, which does
    it in numpy as upstream does; quantize/dequantize of the int8_floatio/float models are in the
    graph). Inputs are real: a 120x120 face crop and a letterboxed frame of the sample video,
    made by the runtime's own preprocessing (`models.LandmarkRegressor.crop`,
    `models.FaceDetector.letterbox`).

Timing policy (`TimingPolicy`)
    `warmup` untimed runs, then timed runs until at least `min_runs` runs AND `min_seconds`
    seconds have been spent (stopping early only at `max_seconds`); Python's garbage collector
    is off during the timed loop. Statistics (`timing_stats`): median, p90, p99 (linear
    interpolation between order statistics, numpy's default), mean, min, max.

Isolation
    By default every case runs in its own fresh Python process (`python -m edgeface.bench
    --worker`): the peak RSS (VmHWM) then belongs to that case alone, and no thread pool,
    allocator or cache state of an earlier case can leak into the next. Measured (benchmarks/
    README.md): TFLite timings are the same in-process and isolated (within +-3%); onnxruntime's
    detector call is not, because its numpy preprocessing makes 3.7 MB temporaries whose cost
    depends on the state of the process's heap. `isolate=False` runs the cases sequentially in
    the calling process (peak RSS is then not reported).

Dense mesh (`run_dense`)
    Per dense model (dense_approx; the exact BFM model too when its asset is cached) and mesh size
    (full, and decimated to each target profile's `dense.max_vertices`): `reconstruct` =
    `model.image_vertices(params, roi)` with the params of the sample face, and `render-<mode>` =
    `render.render` of that face (mesh, depth, pncc with each available rasterizer backend; points)
    on a copy of a 640x480 frame, the face 250 px on its larger side. Isolated, it runs in one
    worker with BLAS on one thread and an empty numba cache: numba's compile cost (first call after
    install) and, from a second worker, its cache-load cost (first call of later runs) are measured
    separately and kept out of the timings.

Nothing here prints: the CLI (cli_bench.py) and bench_report.py render the `BenchReport`.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence

import numpy as np

from . import paths, store
from .errors import EdgefaceError

FORMAT = "edgeface-bench/1"

#: variant labels in the report, in display order
ORT_VARIANT = "onnxruntime-fp32"
TFLITE_VARIANTS = ("float32", "float16", "int8", "int8_floatio")
ALL_VARIANTS = (ORT_VARIANT,) + tuple(f"tflite-{v}" for v in TFLITE_VARIANTS)
VARIANT_ALIASES = {
    "ort": ORT_VARIANT, "onnx": ORT_VARIANT, "onnxruntime": ORT_VARIANT, ORT_VARIANT: ORT_VARIANT,
    "fp32": "tflite-float32", "float32": "tflite-float32", "fp16": "tflite-float16", "float16": "tflite-float16",
    "int8": "tflite-int8", "int8_floatio": "tflite-int8_floatio", "int8io": "tflite-int8_floatio",
}
VARIANT_ALIASES.update({v: v for v in ALL_VARIANTS})

#: TFLite runtimes bench knows (module name -> distribution name)
TFLITE_RUNTIMES = {"ai_edge_litert": "ai-edge-litert", "tflite_runtime": "tflite-runtime"}

REGRESSORS = ("mb05", "mb1")
Progress = Callable[[str, int, int], None]


# ----------------------------------------------------------------------------- statistics

def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between order statistics.

    Rank `r = q/100 * (n - 1)` in the sorted values (0-based); the result interpolates between
    `v[floor(r)]` and `v[ceil(r)]` (numpy's default "linear" method, Hyndman-Fan type 7).
    """
    v = np.sort(np.asarray(values, dtype=np.float64).reshape(-1))
    if v.size == 0:
        raise EdgefaceError("no timings to summarize: run the model at least once")
    if not 0.0 <= q <= 100.0:
        raise EdgefaceError(f"percentile must be within 0..100, got {q}")
    r = q / 100.0 * (v.size - 1)
    lo = int(np.floor(r))
    hi = min(lo + 1, v.size - 1)
    return float(v[lo] + (v[hi] - v[lo]) * (r - lo))


def timing_stats(times_ms: Sequence[float]) -> dict:
    """Summary of per-run latencies (ms): runs, median, p90, p99, mean, min, max."""
    t = np.asarray(times_ms, dtype=np.float64).reshape(-1)
    if t.size == 0:
        raise EdgefaceError("no timings to summarize: run the model at least once")
    if not np.all(np.isfinite(t)) or np.any(t < 0):
        raise EdgefaceError("timings must be finite and non-negative")
    return {
        "runs": int(t.size),
        "median_ms": percentile(t, 50),
        "p90_ms": percentile(t, 90),
        "p99_ms": percentile(t, 99),
        "mean_ms": float(t.mean()),
        "min_ms": float(t.min()),
        "max_ms": float(t.max()),
    }


# ----------------------------------------------------------------------------- configuration

@dataclass
class TimingPolicy:
    warmup: int = 10
    min_runs: int = 100
    min_seconds: float = 3.0
    max_seconds: float = 60.0

    @classmethod
    def quick(cls) -> "TimingPolicy":
        """CI-size runs: numbers are indicative only."""
        return cls(warmup=2, min_runs=10, min_seconds=0.2, max_seconds=5.0)

    @classmethod
    def dense(cls) -> "TimingPolicy":
        """The dense-mesh cases (`run_dense`): 32+ numpy/numba calls of 0.1-20 ms each, so 1 s per
        case (at least 100 runs) instead of 3 s keeps the section under a minute."""
        return cls(warmup=5, min_runs=100, min_seconds=1.0, max_seconds=30.0)


@dataclass(frozen=True)
class BenchCase:
    model: str  # mb05 | mb1 | faceboxes_WxH
    kind: str  # regressor | detector
    variant: str  # one of ALL_VARIANTS
    path: str  # .tflite or .onnx
    runtime: str  # onnxruntime | ai_edge_litert | tflite_runtime
    threads: int


@dataclass
class BenchResult:
    model: str
    variant: str
    runtime: str  # "ai-edge-litert 2.1.0", "onnxruntime 1.23.0"
    threads: int
    median_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float
    runs: int
    seconds: float
    size_bytes: int
    peak_rss_mb: Optional[float]  # whole worker process (None when not isolated)
    model_rss_mb: Optional[float]  # peak RSS minus the RSS before the model was loaded
    xnnpack: Optional[bool]
    isolated: bool

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class PipelineResult:
    variant: str  # precision of detector + regressor: tflite-int8, tflite-float32, ...
    tracking: bool
    fps: float
    frames: int
    threads: int
    stages_ms: Dict[str, float]  # mean ms per frame of each stage
    faces_per_frame: float
    detector_runs: int
    detect_interval: Optional[int] = None  # tracking: frames between detector runs
    peak_rss_mb: Optional[float] = None

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class BenchOptions:
    models: Optional[List[str]] = None  # None: mb05 (+ mb1 if converted) + faceboxes
    variants: Optional[List[str]] = None  # None: all present
    threads: Optional[List[int]] = None  # None: 1, 2, 4 capped at cpu_count
    runtimes: Optional[List[str]] = None  # None: every importable TFLite runtime
    detector_size: tuple = (640, 480)
    policy: TimingPolicy = field(default_factory=TimingPolicy)
    isolate: bool = True
    pipeline: bool = True
    pipeline_variants: Optional[List[str]] = None  # None: onnxruntime-fp32, tflite-float32, tflite-int8 (those present)
    pipeline_threads: Optional[int] = None  # None: the largest thread count benchmarked
    pipeline_frames: Optional[int] = None  # None: the whole sample video
    dense: bool = True  # time dense reconstruction + rendering (`run_dense`)
    dense_policy: Optional[TimingPolicy] = None  # None: TimingPolicy.dense()
    dense_budgets: Optional[List[int]] = None  # vertex budgets, 0 = full mesh; None: 0 + the target profiles' budgets
    dense_models: Optional[List[str]] = None  # "dense_approx", "bfm"; None: dense_approx + bfm when cached
    root: Optional[Path] = None


@dataclass
class BenchReport:
    machine: dict
    settings: dict
    results: List[BenchResult]
    pipeline: List[PipelineResult]
    skipped: List[dict]
    dense: List["DenseResult"] = field(default_factory=list)
    dense_setup: Optional[dict] = None  # one-off costs and the facts of the dense section (None: not run)

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "machine": self.machine,
            "settings": self.settings,
            "results": [r.to_json() for r in self.results],
            "pipeline": [p.to_json() for p in self.pipeline],
            "dense": [d.to_json() for d in self.dense],
            "dense_setup": self.dense_setup,
            "skipped": self.skipped,
        }


# ----------------------------------------------------------------------------- machine

def _read(path: str) -> Optional[str]:
    try:
        return Path(path).read_text(errors="replace").strip("\x00\n ")
    except OSError:
        return None


def _cpu_model() -> str:
    text = _read("/proc/cpuinfo") or ""
    fields: Dict[str, str] = {}
    for line in text.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            fields.setdefault(k.strip().lower(), v.strip())
    for k in ("model name", "hardware", "processor", "cpu part"):
        v = fields.get(k)
        if v and not v.isdigit():
            return v
    return platform.processor() or platform.machine()


def _os_name() -> str:
    for line in (_read("/etc/os-release") or "").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return platform.platform()


def dist_version(dist: str) -> Optional[str]:
    try:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version(dist)
        except PackageNotFoundError:
            return None
    except ImportError:  # pragma: no cover
        return None


def thermal_c() -> Optional[float]:
    t = _read("/sys/class/thermal/thermal_zone0/temp")
    try:
        return round(int(t) / 1000.0, 1) if t else None
    except ValueError:
        return None


def machine_info() -> dict:
    """What the numbers were measured on."""
    try:
        load = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        load = None
    return {
        "cpu": _cpu_model(),
        "arch": platform.machine(),
        "cores": os.cpu_count(),
        "board": _read("/proc/device-tree/model"),
        "os": _os_name(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "runtimes": {d: dist_version(d) for d in ("ai-edge-litert", "tflite-runtime", "onnxruntime", "tensorflow")},
        "governor": _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        "max_freq_mhz": (int(f) // 1000 if (f := _read("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")) and f.isdigit() else None),
        "thermal_c_start": thermal_c(),
        "load_avg_start": load,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


# ----------------------------------------------------------------------------- cases

def _resolve_names(names: Iterable[str], aliases: dict, hint: str, what: str) -> List[str]:
    """Comma-separated or repeated option values -> canonical names (first seen first, no repeats)."""
    out: List[str] = []
    for n in names:
        for part in str(n).split(","):
            part = part.strip().lower()
            if not part:
                continue
            k = aliases.get(part)
            if k is None:
                raise EdgefaceError(f"unknown {what} '{part}': {hint}")
            if k not in out:
                out.append(k)
    return out


def normalize_variants(names: Optional[Iterable[str]]) -> List[str]:
    if not names:
        return list(ALL_VARIANTS)
    out = _resolve_names(names, VARIANT_ALIASES,
                         f"use {', '.join(ALL_VARIANTS)} (or ort, fp32, fp16, int8, int8_floatio)", "variant")
    return sorted(out, key=ALL_VARIANTS.index)  # canonical order: tables read the same whatever the flags


def default_threads(cpu_count: Optional[int] = None) -> List[int]:
    n = cpu_count or os.cpu_count() or 1
    return [t for t in (1, 2, 4) if t <= n] or [1]


def available_runtimes() -> List[str]:
    """The TFLite runtimes importable here (checked without importing them)."""
    import importlib.util

    return [m for m in TFLITE_RUNTIMES if importlib.util.find_spec(m) is not None]


def _model_names(models: Optional[Iterable[str]], detector: str, root: Optional[Path]) -> List[str]:
    if not models:
        names = ["mb05"]
        if store.model_dir("mb1", root).is_dir() or (paths.onnx_dir(root) / "mb1.onnx").is_file():
            names.append("mb1")
        return names + [detector]
    out = []
    for m in models:
        for part in str(m).split(","):
            part = part.strip().lower()
            if not part:
                continue
            if part == "faceboxes" or part.startswith("faceboxes_"):
                part = detector if part == "faceboxes" else part
            elif part not in REGRESSORS:
                raise EdgefaceError(f"unknown model '{part}': use mb05, mb1 or faceboxes")
            if part not in out:
                out.append(part)
    return out


def _onnx_original(name: str, root: Optional[Path]) -> Path:
    """The ONNX upstream-equivalent graph: the manifest's reference ONNX, else the cache's."""
    for v in TFLITE_VARIANTS:
        mp = store.model_path(name, v, root).with_suffix(".json")
        if mp.is_file():
            try:
                ref = Path(json.loads(mp.read_text())["reference_onnx"]["path"])
            except (KeyError, ValueError):
                continue
            if ref.is_file():
                return ref
    return paths.onnx_dir(root) / f"{name}.onnx"


def plan_cases(opts: BenchOptions) -> tuple:
    """(cases, skipped): every case to run, and what was asked for but is not there (with why)."""
    root = opts.root
    detector = store.detector_name(*opts.detector_size)
    variants = normalize_variants(opts.variants)
    threads = sorted(set(opts.threads or default_threads()))
    if any(t < 1 for t in threads):
        raise EdgefaceError(f"thread counts must be >= 1, got {threads}")
    installed = available_runtimes()
    runtimes = list(opts.runtimes) if opts.runtimes else installed
    cases: List[BenchCase] = []
    skipped: List[dict] = []
    for r in list(runtimes):
        if r not in TFLITE_RUNTIMES:
            raise EdgefaceError(f"unknown TFLite runtime '{r}': use {' or '.join(TFLITE_RUNTIMES)}")
        if r not in installed:
            runtimes.remove(r)
            skipped.append({"model": "*", "variant": f"tflite ({r})", "reason": f"{TFLITE_RUNTIMES[r]} is not installed"})
    import importlib.util

    have_ort = importlib.util.find_spec("onnxruntime") is not None
    for name in _model_names(opts.models, detector, root):
        kind = "regressor" if name in REGRESSORS else "detector"
        for variant in variants:
            if variant == ORT_VARIANT:
                p = _onnx_original(name, root)
                if not p.is_file():
                    skipped.append({"model": name, "variant": variant, "reason": f"{p.name} not in the cache (run `edgeface export`)"})
                    continue
                if not have_ort:
                    skipped.append({"model": name, "variant": variant, "reason": "onnxruntime not installed"})
                    continue
                cases += [BenchCase(name, kind, variant, str(p), "onnxruntime", t) for t in threads]
                continue
            p = store.model_path(name, variant.split("-", 1)[1], root)
            if not p.is_file() or not p.with_suffix(".json").is_file():
                skipped.append({"model": name, "variant": variant, "reason": f"{p.name} not converted"})
                continue
            if not runtimes:
                skipped.append({"model": name, "variant": variant, "reason": "no TFLite runtime installed (pip install ai-edge-litert)"})
                continue
            cases += [BenchCase(name, kind, variant, str(p), rt, t) for rt in runtimes for t in threads]
    return cases, skipped


# ----------------------------------------------------------------------------- inputs

@dataclass
class BenchInputs:
    crop: np.ndarray  # (120, 120, 3) uint8 BGR face crop
    frames: Dict[str, np.ndarray]  # detector name -> (H, W, 3) uint8 letterboxed frame
    source: str

    def save(self, path: Path) -> None:
        np.savez(path, crop=self.crop, **{f"frame__{k}": v for k, v in self.frames.items()}, source=np.array(self.source))

    @classmethod
    def load(cls, path: Path) -> "BenchInputs":
        with np.load(path, allow_pickle=False) as z:
            frames = {k[len("frame__"):]: z[k] for k in z.files if k.startswith("frame__")}
            return cls(crop=z["crop"], frames=frames, source=str(z["source"]))


def _first_frame(video: Path) -> np.ndarray:
    from .sources import open_video

    with open_video(video, max_frames=1) as src:
        for f in src:
            return f.image
    raise EdgefaceError(f"no frame could be read from {video}")


def _face_detector(name: str, root: Optional[Path]):
    """The most exact detector at hand: TFLite float32, else the ONNX original, else any TFLite."""
    from .interpreter import TFLiteModel
    from .models import FaceDetector

    p = store.model_path(name, "float32", root)
    if p.is_file():
        return FaceDetector(TFLiteModel(p))
    onnx = _onnx_original(name, root)
    if onnx.is_file():
        try:
            from .onnx_backend import OnnxModel

            return FaceDetector(OnnxModel(onnx))
        except EdgefaceError:
            pass
    for v in TFLITE_VARIANTS:
        p = store.model_path(name, v, root)
        if p.is_file():
            return FaceDetector(TFLiteModel(p))
    raise EdgefaceError(f"no {name} detector in the cache to find the face for the regressor input; run `edgeface convert --model faceboxes`")


def make_inputs(detectors: Sequence[str], root: Optional[Path] = None, video: Optional[Path] = None) -> BenchInputs:
    """Real inputs from the first frame of the sample video: its letterbox for each detector size,
    and the 120x120 crop of the highest-scoring face (the pipeline's own preprocessing)."""
    from . import detect_post
    from .assets import sample_path
    from .models import LandmarkRegressor
    from .roi import roi_from_bbox

    video = Path(video) if video else sample_path("obama", root)
    frame = _first_frame(video)
    frames = {}
    for name in detectors:
        w, h = (int(v) for v in name.split("_", 1)[1].split("x"))
        frames[name] = detect_post.letterbox(frame, w, h)[0].copy()
    det_name = detectors[0] if detectors else store.detector_name()
    dets = _face_detector(det_name, root)(frame)
    if len(dets.boxes) == 0:
        raise EdgefaceError(f"no face found in the first frame of {video}; give a video with a face")
    crop = LandmarkRegressor.crop(frame, roi_from_bbox(dets.boxes[0]))
    return BenchInputs(crop=np.ascontiguousarray(crop), frames=frames, source=f"{video.name} frame 0")


# ----------------------------------------------------------------------------- running one case

def _status_mb(field_name: str) -> Optional[float]:
    for line in (_read("/proc/self/status") or "").splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024.0  # kB
    return None


def _rss_mb() -> float:
    """Peak resident set size of this process so far, MB.

    Linux: VmHWM of /proc/self/status (per address space, so it starts afresh in a new process;
    ru_maxrss would not: Linux keeps the parent's high-water mark across fork + exec).
    Elsewhere ru_maxrss (bytes on macOS, KiB otherwise).
    """
    hwm = _status_mb("VmHWM")
    if hwm is not None:
        return hwm
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / (1024.0 * 1024.0) if sys.platform == "darwin" else r / 1024.0


def _current_rss_mb() -> Optional[float]:
    s = _read("/proc/self/statm")
    if not s:
        return None
    return int(s.split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1024.0 * 1024.0)


def load_backend(case: BenchCase):
    if case.runtime == "onnxruntime":
        from .onnx_backend import OnnxModel

        return OnnxModel(case.path, num_threads=case.threads)
    from .interpreter import TFLiteModel

    return TFLiteModel(case.path, num_threads=case.threads, runtime=case.runtime)


def time_backend(run: Callable[[], object], policy: TimingPolicy) -> tuple:
    """(per-run ms list, total seconds) under the policy's warm-up and stopping rule."""
    for _ in range(max(0, policy.warmup)):
        run()
    times: List[float] = []
    gc.collect()
    gc_was = gc.isenabled()
    gc.disable()
    clock = time.perf_counter
    t_start = clock()
    try:
        while True:
            t0 = clock()
            run()
            t1 = clock()
            times.append((t1 - t0) * 1000.0)
            elapsed = t1 - t_start
            if (len(times) >= policy.min_runs and elapsed >= policy.min_seconds) or elapsed >= policy.max_seconds:
                break
    finally:
        if gc_was:
            gc.enable()
    return times, clock() - t_start


def runtime_label(runtime: str) -> str:
    if runtime == "onnxruntime":
        return f"onnxruntime {dist_version('onnxruntime') or '?'}"
    dist = TFLITE_RUNTIMES.get(runtime, runtime)
    return f"{dist} {dist_version(dist) or '?'}"


def model_size(path: Path) -> int:
    """Bytes on disk of a model: the file, plus the float head a mixed-precision TFLite model's
    manifest names (`float_head.file`, run in numpy after the TFLite graph)."""
    path = Path(path)
    size = path.stat().st_size
    mp = path.with_suffix(".json")
    if path.suffix == ".tflite" and mp.is_file():
        try:
            head = (json.loads(mp.read_text()).get("float_head") or {}).get("file")
        except (ValueError, AttributeError):
            head = None
        if head and (path.parent / head).is_file():
            size += (path.parent / head).stat().st_size
    return size


def run_case(case: BenchCase, inputs: BenchInputs, policy: TimingPolicy, isolated: bool = False) -> BenchResult:
    """Load one model and time it (in this process)."""
    x = inputs.crop if case.kind == "regressor" else inputs.frames.get(case.model)
    if x is None:
        raise EdgefaceError(f"no input frame prepared for {case.model}")
    base_rss = _current_rss_mb()
    backend = load_backend(case)
    x = x[None]
    times, seconds = time_backend(lambda: backend.run(x), policy)
    st = timing_stats(times)
    peak = _rss_mb() if isolated else None
    return BenchResult(
        model=case.model, variant=case.variant, runtime=runtime_label(case.runtime), threads=case.threads,
        median_ms=st["median_ms"], p90_ms=st["p90_ms"], p99_ms=st["p99_ms"], mean_ms=st["mean_ms"],
        min_ms=st["min_ms"], max_ms=st["max_ms"], runs=st["runs"], seconds=round(seconds, 3),
        size_bytes=model_size(Path(case.path)), peak_rss_mb=None if peak is None else round(peak, 1),
        model_rss_mb=None if (peak is None or base_rss is None) else round(peak - base_rss, 1),
        xnnpack=getattr(backend, "xnnpack", None), isolated=isolated,
    )


# ----------------------------------------------------------------------------- worker processes

def _worker_cmd() -> List[str]:
    return [sys.executable, "-m", "edgeface.bench", "--worker"]


def run_in_subprocess(job: dict, timeout: float = 900.0, env: Optional[Dict[str, str]] = None) -> dict:
    """Run one job (`{"type": "case"|"pipeline"|"dense"|"dense-numba", ...}`) in a fresh Python
    (with `env` added to its environment); returns its JSON result."""
    with tempfile.TemporaryDirectory(prefix="edgeface-bench-") as tmp:
        job_path = Path(tmp) / "job.json"
        out_path = Path(tmp) / "result.json"
        job_path.write_text(json.dumps(job))
        env = dict(os.environ, **(env or {}))
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        try:
            proc = subprocess.run(_worker_cmd() + [str(job_path), str(out_path)], capture_output=True, text=True,
                                  timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            raise EdgefaceError(f"benchmark worker timed out after {timeout:.0f} s ({job.get('label', job['type'])})") from None
        if out_path.is_file():
            res = json.loads(out_path.read_text())
            if "error" in res:
                raise EdgefaceError(res["error"])
            return res
        tail = (proc.stderr or "").strip().splitlines()[-1:] or ["no output"]
        raise EdgefaceError(f"benchmark worker failed (exit {proc.returncode}): {tail[0][:300]}")


def _dense_case(d: dict) -> "DenseCase":
    d = dict(d)
    for k in ("models", "budgets", "frame_size"):
        d[k] = tuple(d[k])
    return DenseCase(**d)


def _worker_main(job_path: str, out_path: str) -> int:
    job = json.loads(Path(job_path).read_text())
    try:
        if job["type"] == "case":
            inputs = BenchInputs.load(Path(job["inputs"]))
            res = run_case(BenchCase(**job["case"]), inputs, TimingPolicy(**job["policy"]), isolated=True).to_json()
        elif job["type"] == "pipeline":
            res = run_pipeline_case(PipelineCase(**job["case"]), isolated=True).to_json()
        elif job["type"] == "dense":
            inputs = BenchInputs.load(Path(job["inputs"])) if job.get("inputs") else None
            rows, setup = run_dense(_dense_case(job["case"]), TimingPolicy(**job["policy"]), inputs)
            res = {"results": [r.to_json() for r in rows], "setup": setup}
        elif job["type"] == "dense-numba":
            inputs = BenchInputs.load(Path(job["inputs"])) if job.get("inputs") else None
            res = {"numba": numba_cache_load(_dense_case(job["case"]), inputs)}
        else:
            raise EdgefaceError(f"unknown job type {job['type']}")
    except EdgefaceError as e:
        res = {"error": str(e)}
    Path(out_path).write_text(json.dumps(res))
    return 0


# ----------------------------------------------------------------------------- pipeline

@dataclass(frozen=True)
class PipelineCase:
    variant: str  # tflite-float32 | tflite-int8 | ...
    tracking: bool
    threads: int
    video: str
    frames: Optional[int]
    root: Optional[str]
    detector_size: tuple = (640, 480)
    warmup_frames: int = 5


def run_pipeline_case(case: PipelineCase, isolated: bool = False) -> PipelineResult:
    """fps and per-stage ms of the end-to-end pipeline on a video (see `pipeline_bench`)."""
    res = pipeline_bench(case)
    if isolated:
        res.peak_rss_mb = round(_rss_mb(), 1)
    return res


def pipeline_options(case: PipelineCase):
    """The `pipeline.PipelineOptions` of a pipeline case (everything else at `edgeface run` defaults)."""
    from .pipeline import PipelineOptions

    common = dict(threads=int(case.threads), tracking=bool(case.tracking), detector_size=tuple(case.detector_size),
                  root=Path(case.root) if case.root else None)
    if case.variant == ORT_VARIANT:
        return PipelineOptions(backend="onnx", **common)
    tv = case.variant.split("-", 1)[1]
    precision = {"float32": "fp32", "float16": "fp16"}.get(tv, tv)
    return PipelineOptions(backend="tflite", precision=precision, **common)


def pipeline_bench(case: PipelineCase) -> PipelineResult:
    """Run `pipeline.Pipeline.process` over every frame of the video and time it.

    Frames are streamed from the video (memory stays that of the pipeline); only the
    `process` calls are timed, so decoding, drawing and output are not in the figures:
    fps = frames / summed wall time of `process`. The first `warmup_frames` frames are processed
    untimed, then the pipeline is reset (tracks, smoothing) and the video is timed from its first
    frame. `stages_ms`: mean per frame of the pipeline's own stage timers (detect, regress,
    decode, total); `other` = total minus the named stages (tracker, smoothing, bookkeeping).
    """
    from .pipeline import Counters, build_pipeline
    from .sources import open_video

    pipe = build_pipeline(pipeline_options(case))
    if case.warmup_frames > 0:
        with open_video(case.video, max_frames=case.warmup_frames) as src:
            for f in src:
                pipe.process(f)
    pipe.reset()
    pipe.counters = Counters()
    gc.collect()
    busy = 0.0
    clock = time.perf_counter
    with open_video(case.video, max_frames=case.frames) as src:
        for f in src:
            t0 = clock()
            pipe.process(f)
            busy += clock() - t0
    c = pipe.counters
    if c.frames == 0:
        raise EdgefaceError(f"no frames decoded from {case.video}")
    mean = c.mean_ms()
    stages = {k: round(v, 3) for k, v in mean.items()}
    named = sum(v for k, v in mean.items() if k != "total")
    if "total" in mean:
        stages["other"] = round(max(0.0, mean["total"] - named), 3)
    return PipelineResult(variant=case.variant, tracking=case.tracking, fps=round(c.frames / busy, 2) if busy > 0 else 0.0,
                          frames=c.frames, threads=case.threads, stages_ms=stages,
                          faces_per_frame=round(c.faces / max(1, c.frames), 3), detector_runs=c.detector_runs,
                          detect_interval=int(pipe.options.detect_interval) if case.tracking else 1)


# ----------------------------------------------------------------------------- dense mesh

DENSE_MODELS = ("dense_approx", "bfm")
DENSE_MODEL_ALIASES = {"dense_approx": "dense_approx", "approx": "dense_approx", "bfm": "bfm", "dense": "bfm"}
DENSE_STAGES = ("reconstruct", "render-mesh", "render-depth", "render-pncc", "render-points")
RENDER_BACKEND_ORDER = ("numpy", "numba")
#: environment of the isolated dense worker: numpy's BLAS on one thread (the reconstruction is a
#: BLAS product that OpenBLAS would otherwise spread over every core)
SINGLE_THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass
class DenseResult:
    model: str  # dense_approx | bfm
    vertices: int
    triangles: int
    budget: int  # vertex budget asked for (0: the full mesh); `vertices` is what decimation kept
    stage: str  # one of DENSE_STAGES
    backend: str  # numpy | numba (render-points and reconstruct: numpy)
    median_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float
    runs: int

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class DenseCase:
    root: Optional[str]
    models: tuple  # dense model kinds, in order (DENSE_MODELS)
    budgets: tuple  # vertex budgets (0: the full mesh)
    frame_size: tuple = (640, 480)
    face_px: int = 250  # larger side of the face mesh's bounding box in the frame
    point_step: int = 4  # "points" draws every 4th vertex, as `edgeface run --render points`


def profile_budgets() -> Dict[int, List[str]]:
    """Dense vertex budget -> the target profiles (targets/*.toml) using it; 0 (full mesh) first,
    then from the largest budget down."""
    from .profiles import load_targets

    out: Dict[int, List[str]] = {}
    for name, prof in load_targets().items():
        out.setdefault(int(prof.dense_max_vertices), []).append(name)
    return dict(sorted(out.items(), key=lambda kv: (kv[0] != 0, -kv[0])))


def default_dense_budgets() -> List[int]:
    """The full mesh plus every distinct budget of the target profiles."""
    return [0] + [b for b in profile_budgets() if b > 0]


def normalize_dense_models(names: Optional[Iterable[str]]) -> Optional[List[str]]:
    if not names:
        return None
    return _resolve_names(names, DENSE_MODEL_ALIASES, "use dense_approx (or approx) or bfm", "dense model")


def plan_dense(opts: BenchOptions) -> tuple:
    """(DenseCase or None, skipped): the dense models at hand and the vertex budgets to time."""
    from . import assets

    root = opts.root
    budgets = list(dict.fromkeys(int(b) for b in (opts.dense_budgets if opts.dense_budgets else default_dense_budgets())))
    bad = [b for b in budgets if b < 0 or 0 < b < 100]
    if bad:
        raise EdgefaceError(f"dense vertex budgets must be 0 (full mesh) or at least 100, got {bad}")
    asked = normalize_dense_models(opts.dense_models)
    wanted = asked or list(DENSE_MODELS)
    skipped: List[dict] = []
    have_mesh = all(assets.asset_path(a, root).is_file() for a in ("mesh", "sparse_bases"))
    models = []
    for kind in wanted:
        if not have_mesh:
            skipped.append({"model": "dense", "variant": kind, "reason": "mesh or sparse_bases asset not in the cache (run `edgeface fetch`)"})
        elif kind == "bfm" and not assets.asset_path("bfm", root).is_file():
            skipped.append({"model": "dense", "variant": kind,
                            "reason": "BFM asset not in the cache (optional, academic-use licence: `edgeface fetch bfm`)"})
        else:
            models.append(kind)
    if not models:
        return None, skipped
    return DenseCase(root=str(root) if root else None, models=tuple(models), budgets=tuple(budgets)), skipped


def _load_dense(kind: str, root: Optional[Path]):
    from .dense import load_dense_model

    model = load_dense_model(root, prefer="bfm" if kind == "bfm" else "approx")
    if model.kind != kind:
        raise EdgefaceError(f"dense model {kind} is not in the cache (got {model.kind}); run `edgeface fetch bfm`")
    return model


def dense_params(crop: Optional[np.ndarray], root: Optional[Path] = None) -> tuple:
    """(62 params, where they come from) for the dense cases: the mb05 regressor on the bench's
    face crop (TFLite float32, else the ONNX original, else any other TFLite variant); the param
    mean when no regressor (or no crop) is at hand."""
    from . import assets
    from .models import LandmarkRegressor

    stats = assets.load_param_stats(root)
    if crop is not None:
        order = ["float32", "onnx"] + [v for v in TFLITE_VARIANTS if v != "float32"]
        for v in order:
            try:
                if v == "onnx":
                    p = _onnx_original("mb05", root)
                    if not p.is_file():
                        continue
                    from .onnx_backend import OnnxModel

                    backend, label = OnnxModel(p, num_threads=1), "mb05 onnxruntime-fp32"
                else:
                    p = store.model_path("mb05", v, root)
                    if not (p.is_file() and p.with_suffix(".json").is_file()):
                        continue
                    from .interpreter import TFLiteModel

                    backend, label = TFLiteModel(p, num_threads=1), f"mb05 tflite-{v}"
                params = LandmarkRegressor(backend, stats.mean, stats.std).params_from_crop(crop)
            except EdgefaceError:
                continue
            return np.asarray(params, np.float32).reshape(-1), label
    return np.asarray(stats.mean, np.float32).reshape(-1).copy(), "param mean"


def face_roi(model, params, frame_size: tuple, face_px: float) -> np.ndarray:
    """The square ROI that draws the face mesh of `params` with `face_px` pixels on the larger side
    of its bounding box, centred in a frame of `frame_size` (width, height)."""
    w, h = (int(v) for v in frame_size)
    if not 16 <= face_px <= min(w, h):
        raise EdgefaceError(f"dense face size must be within 16..{min(w, h)} px for a {w}x{h} frame, got {face_px}")
    v = model.image_vertices(params, np.array([0.0, 0.0, 120.0, 120.0]))
    ext = float(max(np.ptp(v[0]), np.ptp(v[1])))
    if not ext > 0:
        raise EdgefaceError("the dense mesh of the sample params is degenerate: check the params")
    side = 120.0 * float(face_px) / ext  # to_image scales the 120 crop linearly onto the ROI
    v = model.image_vertices(params, np.array([0.0, 0.0, side, side]))
    dx = w / 2.0 - (float(v[0].min()) + float(v[0].max())) / 2.0
    dy = h / 2.0 - (float(v[1].min()) + float(v[1].max())) / 2.0
    return np.array([dx, dy, dx + side, dy + side], dtype=np.float64)


def _dense_frame(inputs: Optional[BenchInputs], frame_size: tuple) -> np.ndarray:
    """A real frame of the given size for the render calls: the detector letterbox of the sample
    video when it has that size, else a resized one, else mid-grey."""
    import cv2

    w, h = (int(v) for v in frame_size)
    frames = list(inputs.frames.values()) if inputs is not None else []
    for f in frames:
        if f.shape[:2] == (h, w):
            return np.ascontiguousarray(f.copy())
    if frames:
        return np.ascontiguousarray(cv2.resize(frames[0], (w, h), interpolation=cv2.INTER_AREA))
    return np.full((h, w, 3), 128, np.uint8)


def _numba_counts() -> Optional[tuple]:
    """(compiled signatures, cache hits, cache misses) summed over the renderer's numba kernels."""
    from . import render

    get = getattr(render, "_numba_kernels", None)
    kernels = get() if get is not None else None
    if not kernels:
        return None
    try:
        return (sum(len(k.signatures) for k in kernels), sum(sum(k.stats.cache_hits.values()) for k in kernels),
                sum(sum(k.stats.cache_misses.values()) for k in kernels))
    except AttributeError:  # pragma: no cover - another numba
        return None


def render_backends() -> tuple:
    """(rasterizer backends available, in RENDER_BACKEND_ORDER; ms spent importing numba to find
    out, None when it was imported already or is missing)."""
    from .render import available_backends

    fresh = "numba" not in sys.modules
    t0 = time.perf_counter()
    have = available_backends()
    ms = (time.perf_counter() - t0) * 1000.0
    return [b for b in RENDER_BACKEND_ORDER if b in have], (round(ms, 1) if fresh and "numba" in have else None)


def numba_first_call(frame: np.ndarray, vertices: np.ndarray, tri: np.ndarray) -> Optional[dict]:
    """The numba backend's one-off cost in this process (None without numba): `import_ms` (when
    numba was not imported yet), then the first `render(..., "mesh", backend="numba")` minus a steady
    call: both kernels compiled (`how` "compiled"), loaded from numba's on-disk cache ("cache"), or
    nothing left to do ("already compiled")."""
    from .render import render

    backends, import_ms = render_backends()
    if "numba" not in backends:
        return None
    before = _numba_counts()
    t0 = time.perf_counter()
    render(frame, vertices, tri, "mesh", backend="numba")
    first = (time.perf_counter() - t0) * 1000.0
    steady = []
    for _ in range(3):
        t0 = time.perf_counter()
        render(frame, vertices, tri, "mesh", backend="numba")
        steady.append((time.perf_counter() - t0) * 1000.0)
    after = _numba_counts()
    how = None
    if before is not None and after is not None:
        if after[0] == before[0]:
            how = "already compiled"
        elif after[2] > before[2]:
            how = "compiled"
        elif after[1] > before[1]:
            how = "cache"
    return {"version": dist_version("numba"), "import_ms": import_ms,
            "first_call_ms": round(max(0.0, first - float(np.median(steady))), 1), "how": how}


def _blas_threads() -> Optional[int]:
    for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        v = os.environ.get(k, "")
        if v.isdigit():
            return int(v)
    return None


def _dense_prelude(case: DenseCase, inputs: Optional[BenchInputs]) -> tuple:
    """(frame, params, params source, {kind: full model}, load ms per kind, roi)."""
    root = Path(case.root) if case.root else None
    frame = _dense_frame(inputs, case.frame_size)
    params, source = dense_params(inputs.crop if inputs is not None else None, root)
    models, load_ms = {}, {}
    for kind in case.models:
        t0 = time.perf_counter()
        models[kind] = _load_dense(kind, root)
        load_ms[kind] = (time.perf_counter() - t0) * 1000.0
    roi = face_roi(models[case.models[0]], params, case.frame_size, case.face_px)  # one face placement for all
    return frame, params, source, models, load_ms, roi


def run_dense(case: DenseCase, policy: TimingPolicy, inputs: Optional[BenchInputs] = None) -> tuple:
    """Time dense reconstruction and rendering; returns (list of DenseResult, setup dict).

    For each dense model and vertex budget (0: full mesh, else `model.decimate(budget)`):
    `reconstruct` = `model.image_vertices(params, roi)` (62 params of a real face -> (3, N) frame
    pixels); `render-<mode>` = `render.render(frame, vertices, tri, mode, backend=...)` for mesh,
    depth and pncc with every available rasterizer backend, and "points" (no rasterizer), on a
    copy of a 640x480 frame with one face `face_px` tall (what `edgeface run --render` pays per
    face). The numba backend's compile cost is paid before any timing and reported in
    `setup["numba"]`. Nothing global is changed: BLAS threads are whatever the process has
    (the isolated worker runs with SINGLE_THREAD_ENV).
    """
    from .dense_output import model_topology
    from .render import render

    root = Path(case.root) if case.root else None
    backends, import_ms = render_backends()
    frame, params, source, models, load_ms, roi = _dense_prelude(case, inputs)
    numba_info = None
    results: List[DenseResult] = []
    meshes: List[dict] = []
    face_px = None
    for kind in case.models:
        full = models[kind]
        for budget in case.budgets:
            t0 = time.perf_counter()
            m = full if budget == 0 or budget >= full.n_vertices else full.decimate(int(budget))
            prep = (time.perf_counter() - t0) * 1000.0
            tri, ncc = model_topology(m, root)
            v = m.image_vertices(params, roi)
            if face_px is None:
                face_px = [round(float(np.ptp(v[0])), 1), round(float(np.ptp(v[1])), 1)]
            if "numba" in backends and numba_info is None:
                try:
                    numba_info = numba_first_call(frame, v, tri)
                except Exception as e:  # a broken numba/llvmlite install: time numpy only, say why
                    backends.remove("numba")
                    numba_info = {"version": dist_version("numba"), "error": f"{type(e).__name__}: {e}"[:300]}
            meshes.append({"model": kind, "budget": int(budget), "vertices": int(m.n_vertices), "triangles": int(len(tri)),
                           "load_ms" if m is full else "decimate_ms": round(load_ms[kind] if m is full else prep, 1)})

            def add(stage: str, backend: str, fn: Callable[[], object]) -> None:
                times, _ = time_backend(fn, policy)
                st = timing_stats(times)
                results.append(DenseResult(
                    model=kind, vertices=int(m.n_vertices), triangles=int(len(tri)), budget=int(budget), stage=stage,
                    backend=backend, median_ms=st["median_ms"], p90_ms=st["p90_ms"], p99_ms=st["p99_ms"],
                    mean_ms=st["mean_ms"], min_ms=st["min_ms"], max_ms=st["max_ms"], runs=st["runs"]))

            add("reconstruct", "numpy", lambda m=m: m.image_vertices(params, roi))
            for mode in ("mesh", "depth", "pncc"):
                for b in backends:
                    add(f"render-{mode}", b, lambda v=v, tri=tri, ncc=ncc, mode=mode, b=b:
                        render(frame, v, tri, mode, ncc_code=ncc, backend=b))
            add("render-points", "numpy", lambda v=v, tri=tri: render(frame, v, tri, "points", point_step=case.point_step))
    numba = None
    if numba_info is not None and "error" in numba_info:
        numba = {"version": numba_info["version"], "import_ms": import_ms, "compile_ms": None, "cache_load_ms": None,
                 "first_call": None, "error": numba_info["error"]}
    elif numba_info is not None:
        how = numba_info.pop("how")
        numba = {"version": numba_info["version"], "import_ms": import_ms,
                 "compile_ms": numba_info["first_call_ms"] if how == "compiled" else None,
                 "cache_load_ms": numba_info["first_call_ms"] if how == "cache" else None,
                 "first_call": how}
    setup = {
        "params": source + (f" on {inputs.source}" if (inputs is not None and source != "param mean") else ""),
        "frame": list(case.frame_size), "face_px": face_px, "roi": [round(float(x), 1) for x in roi],
        "point_step": case.point_step, "blas_threads": _blas_threads(), "render_backends": backends,
        "numba": numba, "meshes": meshes,
    }
    return results, setup


def numba_cache_load(case: DenseCase, inputs: Optional[BenchInputs] = None) -> Optional[dict]:
    """`numba_first_call` on the case's first model (for a fresh process whose numba cache is warm)."""
    from .dense_output import model_topology

    frame, params, _, models, _, roi = _dense_prelude(case, inputs)
    m = models[case.models[0]]
    tri, _ = model_topology(m, Path(case.root) if case.root else None)
    return numba_first_call(frame, m.image_vertices(params, roi), tri)


# ----------------------------------------------------------------------------- the whole benchmark

def _pipeline_cases(opts: BenchOptions, results_threads: List[int], root: Optional[Path]) -> tuple:
    from .assets import sample_path

    skipped = []
    wanted = (normalize_variants(opts.pipeline_variants) if opts.pipeline_variants
              else [ORT_VARIANT, "tflite-float32", "tflite-int8"])
    threads = opts.pipeline_threads or (max(results_threads) if results_threads else 1)
    det = store.detector_name(*opts.detector_size)
    video = sample_path("obama", root)
    cases = []
    for v in wanted:
        if v == ORT_VARIANT:
            import importlib.util

            ok = _onnx_original("mb05", root).is_file() and _onnx_original(det, root).is_file()
            if ok and importlib.util.find_spec("onnxruntime") is None:
                skipped.append({"model": "pipeline", "variant": v, "reason": "onnxruntime not installed"})
                continue
        else:
            tv = v.split("-", 1)[1]
            ok = store.model_path("mb05", tv, root).is_file() and store.model_path(det, tv, root).is_file()
        if not ok:
            skipped.append({"model": "pipeline", "variant": v, "reason": "mb05 or the detector is not converted at this precision"})
            continue
        for tracking in (True, False):
            cases.append(PipelineCase(v, tracking, threads, str(video), opts.pipeline_frames, str(root) if root else None,
                                      tuple(opts.detector_size)))
    return cases, skipped


def settings_json(opts: BenchOptions, inputs_source: str, dense_case: Optional[DenseCase] = None) -> dict:
    s = {
        "policy": asdict(opts.policy),
        "isolate": opts.isolate,
        "input": inputs_source,
        "detector_size": list(opts.detector_size),
        "timed_call": "backend.run(raw uint8 BGR NHWC) -> float32 outputs (onnxruntime: + numpy normalize/transpose)",
        "percentiles": "linear interpolation between order statistics (numpy default)",
    }
    if dense_case is not None:
        s["dense"] = {
            "policy": asdict(opts.dense_policy or TimingPolicy.dense()),
            "models": list(dense_case.models),
            "budgets": list(dense_case.budgets),
            "profiles": {str(b): names for b, names in profile_budgets().items()},
            "frame_size": list(dense_case.frame_size),
            "face_px": dense_case.face_px,
            "timed_calls": "reconstruct: model.image_vertices(params, roi) -> (3, N) frame pixels; "
                           "render-<mode>: render.render(frame, vertices, tri, mode, backend) on a copy of the frame, one face",
        }
    return s


def run_bench(opts: BenchOptions, progress: Optional[Progress] = None) -> BenchReport:
    """Plan, prepare inputs, run every case (isolated by default) and the pipeline; return the report."""
    root = opts.root
    machine = machine_info()
    cases, skipped = plan_cases(opts)
    pcases: List[PipelineCase] = []
    if opts.pipeline:
        pcases, psk = _pipeline_cases(opts, sorted({c.threads for c in cases}), root)
        skipped += psk
    if not cases and not pcases:
        reasons = "; ".join(f"{s['model']} {s['variant']}: {s['reason']}" for s in skipped[:3])
        raise EdgefaceError(f"nothing to benchmark ({reasons}); run `edgeface convert --int8` first")
    dense_case: Optional[DenseCase] = None
    if opts.dense:
        dense_case, dsk = plan_dense(opts)
        skipped += dsk
    detectors = sorted({c.model for c in cases if c.kind == "detector"}) or [store.detector_name(*opts.detector_size)]
    total = len(cases) + len(pcases) + (1 if dense_case is not None else 0)
    results: List[BenchResult] = []
    presults: List[PipelineResult] = []
    dresults: List[DenseResult] = []
    dsetup: Optional[dict] = None
    with tempfile.TemporaryDirectory(prefix="edgeface-bench-") as tmp:
        inputs = make_inputs(detectors, root)
        inputs_path = Path(tmp) / "inputs.npz"
        inputs.save(inputs_path)
        for i, case in enumerate(cases):
            label = f"{case.model} {case.variant} {case.runtime} x{case.threads}"
            if progress:
                progress(label, i, total)
            try:
                if opts.isolate:
                    d = run_in_subprocess({"type": "case", "label": label, "case": asdict(case), "policy": asdict(opts.policy),
                                           "inputs": str(inputs_path)})
                    results.append(BenchResult(**d))
                else:
                    results.append(run_case(case, inputs, opts.policy, isolated=False))
            except EdgefaceError as e:  # one model failing to load must not lose the others' numbers
                skipped.append({"model": case.model, "variant": f"{case.variant} ({case.runtime}, {case.threads} threads)",
                                "reason": f"failed: {e}"})
        for j, pc in enumerate(pcases):
            label = f"pipeline {pc.variant} tracking={'on' if pc.tracking else 'off'} x{pc.threads}"
            if progress:
                progress(label, len(cases) + j, total)
            try:
                if opts.isolate:
                    d = run_in_subprocess({"type": "pipeline", "label": label, "case": asdict(pc)})
                    presults.append(PipelineResult(**d))
                else:
                    presults.append(run_pipeline_case(pc))
            except EdgefaceError as e:
                skipped.append({"model": "pipeline", "variant": f"{pc.variant} tracking={pc.tracking}", "reason": f"failed: {e}"})
        if dense_case is not None:
            if progress:
                progress("dense mesh: reconstruction and rendering", len(cases) + len(pcases), total)
            try:
                dresults, dsetup = _dense_section(dense_case, opts, inputs, inputs_path, Path(tmp))
            except EdgefaceError as e:
                skipped.append({"model": "dense", "variant": ", ".join(dense_case.models), "reason": f"failed: {e}"})
    if progress:
        progress("done", total, total)
    machine["thermal_c_end"] = thermal_c()
    try:
        machine["load_avg_end"] = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        machine["load_avg_end"] = None
    xnn = [r.xnnpack for r in results if r.variant != ORT_VARIANT and r.xnnpack is not None]
    machine["xnnpack"] = (all(xnn) if xnn else None)
    return BenchReport(machine=machine, settings=settings_json(opts, inputs.source, dense_case), results=results,
                       pipeline=presults, skipped=skipped, dense=dresults, dense_setup=dsetup)


def _dense_section(case: DenseCase, opts: BenchOptions, inputs: BenchInputs, inputs_path: Path, tmp: Path) -> tuple:
    """Run the dense cases: isolated, in a fresh worker with BLAS on one thread and an empty numba
    cache (so its first numba call really compiles), then a second worker on the now-warm cache for
    the cache-load cost; in-process otherwise (whatever BLAS threads and numba state it has)."""
    policy = opts.dense_policy or TimingPolicy.dense()
    if not opts.isolate:
        return run_dense(case, policy, inputs)
    env = dict(SINGLE_THREAD_ENV, NUMBA_CACHE_DIR=str(tmp / "numba-cache"))
    job = {"case": asdict(case), "policy": asdict(policy), "inputs": str(inputs_path)}
    d = run_in_subprocess(dict(job, type="dense", label="dense"), env=env)
    setup = d["setup"]
    nb = setup.get("numba")
    if nb and nb.get("first_call") == "compiled":
        warm = run_in_subprocess(dict(job, type="dense-numba", label="dense numba cache"), env=env).get("numba") or {}
        if warm.get("how") == "cache":
            nb["cache_load_ms"] = warm.get("first_call_ms")
    return [DenseResult(**r) for r in d["results"]], setup


def load_report(path: Path) -> dict:
    try:
        d = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise EdgefaceError(f"cannot read benchmark JSON {path} ({e})") from None
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise EdgefaceError(f"{path} is not an edgeface benchmark report (format {d.get('format')!r}, expected {FORMAT})")
    return d


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        sys.exit(_worker_main(sys.argv[2], sys.argv[3]))
    print("usage: python -m edgeface.bench --worker JOB.json OUT.json (internal; use `edgeface bench`)", file=sys.stderr)
    sys.exit(2)
