"""The end-to-end pipeline section of `edgeface bench latency`: fps and per-stage ms of
`Pipeline.process` on the sample video, with and without tracking (`pipeline_cases`,
`run_pipeline_case`)."""

from __future__ import annotations

import gc
import importlib.util
import time
from pathlib import Path
from typing import List, Optional

from edgeface.boards.machine import peak_rss_mb
from edgeface.errors import EdgefaceError
from edgeface.hub import store
from edgeface.hub.assets import sample_path
from edgeface.runtime.loading import build_pipeline
from edgeface.runtime.options import PipelineOptions
from edgeface.runtime.pipeline import Counters
from edgeface.sources.video import open_video
from edgeface.tools.bench.latency.cases import ORT_VARIANT, BenchOptions, PipelineCase, PipelineResult, normalize_variants, onnx_original
from edgeface.vocab import Precision, detector_name


def pipeline_cases(opts: BenchOptions, results_threads: List[int], root: Optional[Path]) -> tuple:
    skipped = []
    wanted = (normalize_variants(opts.pipeline_variants) if opts.pipeline_variants
              else [ORT_VARIANT, "tflite-float32", "tflite-int8"])
    threads = opts.pipeline_threads or (max(results_threads) if results_threads else 1)
    det = detector_name(*opts.detector_size)
    video = sample_path("obama", root)
    cases = []
    for v in wanted:
        if v == ORT_VARIANT:
            ok = onnx_original("mb05", root).is_file() and onnx_original(det, root).is_file()
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


def run_pipeline_case(case: PipelineCase, isolated: bool = False) -> PipelineResult:
    """fps and per-stage ms of the end-to-end pipeline on a video (see `pipeline_bench`)."""
    res = pipeline_bench(case)
    if isolated:
        res.peak_rss_mb = round(peak_rss_mb(), 1)
    return res


def pipeline_options(case: PipelineCase):
    """The `PipelineOptions` of a pipeline case (everything else at `edgeface run` defaults)."""
    common = dict(threads=int(case.threads), tracking=bool(case.tracking), detector_size=tuple(case.detector_size),
                  root=Path(case.root) if case.root else None)
    if case.variant == ORT_VARIANT:
        return PipelineOptions(backend="onnx", **common)
    tv = case.variant.split("-", 1)[1]
    return PipelineOptions(backend="tflite", precision=Precision.from_variant(tv), **common)


def _time_invokes(backend) -> list:
    """Wrap `backend.run` to add its wall time (s) to the returned one-element list."""
    acc = [0.0]
    run = backend.run
    clock = time.perf_counter

    def timed(x):
        t0 = clock()
        out = run(x)
        acc[0] += clock() - t0
        return out

    backend.run = timed
    return acc


def pipeline_bench(case: PipelineCase) -> PipelineResult:
    """Run `pipeline.Pipeline.process` over every frame of the video and time it.

    Frames are streamed from the video (memory stays that of the pipeline); only the
    `process` calls are timed, so decoding, drawing and output are not in the figures:
    fps = frames / summed wall time of `process`. The first `warmup_frames` frames are processed
    untimed, then the pipeline is reset (tracks, smoothing) and the video is timed from its first
    frame. `stages_ms`: mean per frame of the pipeline's own stage timers (detect, regress,
    decode, total); `other` = total minus the named stages (tracker, smoothing, bookkeeping);
    `overhead` = on frames without detection, the `process` time minus the regressor's `run`
    (input copy + invoke + output read) per tracked face, median over frames: what edgeface's own
    Python/numpy work costs per face (crop + resize, decoding, pose, tracker, smoothing, results).
    """
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
    invoke = _time_invokes(pipe.regressor.backend)
    overhead = []  # per tracked face: process time minus the regressor's invoke (tracked frames only)
    with open_video(case.video, max_frames=case.frames) as src:
        for f in src:
            invoke[0] = 0.0
            t0 = clock()
            r = pipe.process(f)
            dt = clock() - t0
            busy += dt
            if r.faces and not r.detected:
                overhead.append((dt - invoke[0]) * 1000.0 / len(r.faces))
    c = pipe.counters
    if c.frames == 0:
        raise EdgefaceError(f"no frames decoded from {case.video}")
    mean = c.mean_ms()
    stages = {k: round(v, 3) for k, v in mean.items()}
    named = sum(v for k, v in mean.items() if k != "total")
    if "total" in mean:
        stages["other"] = round(max(0.0, mean["total"] - named), 3)
    if overhead:
        stages["overhead"] = round(float(sorted(overhead)[len(overhead) // 2]), 3)  # median per tracked face
    return PipelineResult(variant=case.variant, tracking=case.tracking, fps=round(c.frames / busy, 2) if busy > 0 else 0.0,
                          frames=c.frames, threads=case.threads, stages_ms=stages,
                          faces_per_frame=round(c.faces / max(1, c.frames), 3), detector_runs=c.detector_runs,
                          detect_interval=int(pipe.options.detect_interval) if case.tracking else 1)
