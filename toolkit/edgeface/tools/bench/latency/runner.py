"""`edgeface bench latency`: latency of every converted model variant, and of the whole pipeline.

`run_bench` plans the cases (`cases.py`), prepares the inputs (`sample_inputs.py`, saved as
`inputs.BenchInputs`), runs every case isolated in its own worker process by default (`workers.py`),
then the pipeline (`pipeline_cases.py`) and dense-mesh (`dense_cases.py`) sections, and returns a `BenchReport` with the machine it ran on
(`edgeface.boards.machine`). `settings_json` records how the numbers were taken; `load_report`
reads a saved report back.

Isolation
    Measured (benchmarks/README.md): TFLite timings are the same in-process and isolated (within
    +-3%); onnxruntime's detector call is not, because its numpy preprocessing makes 3.7 MB
    temporaries whose cost depends on the state of the process's heap. `isolate=False` runs the
    cases sequentially in the calling process (peak RSS is then not reported).

Nothing here prints: the CLI (`edgeface.cli.bench`) and `tools/bench/report.py` render the `BenchReport`.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import List, Optional

from edgeface.tools.bench.latency.cases import (FORMAT, ORT_VARIANT, BenchOptions, BenchReport, BenchResult, DenseCase, DenseResult,
                                  PipelineCase, PipelineResult, Progress, plan_cases)
from edgeface.tools.bench.latency.dense_cases import SINGLE_THREAD_ENV, plan_dense, profile_budgets, run_dense
from edgeface.tools.bench.latency.inputs import BenchInputs
from edgeface.tools.bench.latency.sample_inputs import make_inputs
from edgeface.tools.bench.latency.pipeline_cases import pipeline_cases, run_pipeline_case
from edgeface.tools.bench.report import read_report
from edgeface.tools.bench.stats import TimingPolicy
from edgeface.tools.bench.latency.workers import run_case, run_in_subprocess
from edgeface.boards.machine import load_avg, machine_info, thermal_c
from edgeface.errors import EdgefaceError
from edgeface.vocab import detector_name


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
        pcases, psk = pipeline_cases(opts, sorted({c.threads for c in cases}), root)
        skipped += psk
    if not cases and not pcases:
        reasons = "; ".join(f"{s['model']} {s['variant']}: {s['reason']}" for s in skipped[:3])
        raise EdgefaceError(f"nothing to benchmark ({reasons}); run `edgeface convert --int8` first")
    dense_case: Optional[DenseCase] = None
    if opts.dense:
        dense_case, dsk = plan_dense(opts)
        skipped += dsk
    detectors = sorted({c.model for c in cases if c.kind == "detector"}) or [detector_name(*opts.detector_size)]
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
    machine["load_avg_end"] = load_avg()
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
    """A saved `BenchReport.to_dict()` (checked by its format tag)."""
    return read_report(path, FORMAT, "benchmark")
