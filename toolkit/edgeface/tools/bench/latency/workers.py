"""Running one benchmark case, in this process (`run_case`) or in a fresh worker process
(`run_in_subprocess`), and the worker's entry point (`python -m edgeface.tools.bench.latency --worker JOB OUT`).

A timed run is `backend.run(x)`: raw uint8 BGR NHWC pixels in, float32 outputs out, i.e. what the
runtime pays per call (input normalization + NCHW transpose for onnxruntime, which does it in numpy
as upstream does; quantize/dequantize of the int8_floatio/float models are in the graph).

By default every case runs in its own fresh Python process: the peak RSS (VmHWM) then belongs to
that case alone, and no thread pool, allocator or cache state of an earlier case can leak into the
next. A job is a JSON file (`{"type": "case"|"pipeline"|"dense"|"dense-numba", ...}`); the worker
writes its result (or `{"error": ...}`) to another.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

from edgeface.boards.machine import current_rss_mb, dist_version, peak_rss_mb
from edgeface.errors import EdgefaceError
from edgeface.runtime.onnx_backend import OnnxModel
from edgeface.runtime.tflite_backend import TFLiteModel
from edgeface.tools.bench.latency.cases import TFLITE_RUNTIMES, BenchCase, BenchResult, DenseCase, PipelineCase
from edgeface.tools.bench.latency.inputs import BenchInputs
from edgeface.tools.bench.stats import TimingPolicy, time_backend, timing_stats


def load_backend(case: BenchCase):
    if case.runtime == "onnxruntime":
        return OnnxModel(case.path, num_threads=case.threads)
    return TFLiteModel(case.path, num_threads=case.threads, runtime=case.runtime)


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
    base_rss = current_rss_mb()
    backend = load_backend(case)
    x = x[None]
    times, seconds = time_backend(lambda: backend.run(x), policy)
    st = timing_stats(times)
    peak = peak_rss_mb() if isolated else None
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
    return [sys.executable, "-m", "edgeface.tools.bench.latency", "--worker"]


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


def _dense_case(d: dict) -> DenseCase:
    d = dict(d)
    for k in ("models", "budgets", "frame_size"):
        d[k] = tuple(d[k])
    return DenseCase(**d)


def worker_main(job_path: str, out_path: str) -> int:
    job = json.loads(Path(job_path).read_text())
    try:
        if job["type"] == "case":
            inputs = BenchInputs.load(Path(job["inputs"]))
            res = run_case(BenchCase(**job["case"]), inputs, TimingPolicy(**job["policy"]), isolated=True).to_dict()
        elif job["type"] == "pipeline":
            # lazy: the pipeline and dense sections import cv2 (~50 MB), which a model case's worker must not
            # count in its reported peak RSS
            from edgeface.tools.bench.latency.pipeline_cases import run_pipeline_case

            res = run_pipeline_case(PipelineCase(**job["case"]), isolated=True).to_dict()
        elif job["type"] == "dense":
            from edgeface.tools.bench.latency.dense_cases import run_dense  # lazy: cv2 (see above)

            inputs = BenchInputs.load(Path(job["inputs"])) if job.get("inputs") else None
            rows, setup = run_dense(_dense_case(job["case"]), TimingPolicy(**job["policy"]), inputs)
            res = {"results": [r.to_dict() for r in rows], "setup": setup}
        elif job["type"] == "dense-numba":
            from edgeface.tools.bench.latency.dense_cases import numba_cache_load  # lazy: cv2 (see above)

            inputs = BenchInputs.load(Path(job["inputs"])) if job.get("inputs") else None
            res = {"numba": numba_cache_load(_dense_case(job["case"]), inputs)}
        else:
            raise EdgefaceError(f"unknown job type {job['type']}")
    except EdgefaceError as e:
        res = {"error": str(e)}
    Path(out_path).write_text(json.dumps(res))
    return 0
