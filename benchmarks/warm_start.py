#!/usr/bin/env python3
"""Warm start: what the first frames cost right after the models are loaded, without and with the
warm-up `FaceAligner.create` does (one Invoke per interpreter on a blank input, `Pipeline.warm`).

Cold: a pipeline straight from `runtime.loading.build_pipeline` (no warm-up). Warm: the same, then
`Pipeline.warm()` (what `FaceAligner.create` runs). Each trial loads fresh interpreters and runs the
first 10 frames of the sample video in VIDEO mode with tracking off (both networks on every frame, so
frames are comparable); the medians over the trials of frame 1, 2 and 10, and frame 1 / frame 10.
Alternates cold and warm trials so background load hits both alike; records the load average.

    benchmarks/warm_start.py [--trials 5] [--threads 1] [--out benchmarks/warm-start-x86_64.json]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

from edgeface.aligner import resolve_options
from edgeface.boards.machine import load_avg
from edgeface.frames import Frame
from edgeface.hub.atomic import write_json_atomic
from edgeface.options import FaceAlignerOptions
from edgeface.runtime.loading import build_pipeline
from edgeface.sources.spec import open_source


def trial(options, frames, warm: bool) -> list:
    pipeline = build_pipeline(options)
    try:
        if warm:
            pipeline.warm()
        out = []
        for i, image in enumerate(frames):
            t0 = time.perf_counter()
            pipeline.process(Frame(i, image, i * 40.0, "obama.mp4"))
            out.append((time.perf_counter() - t0) * 1000.0)
        return out
    finally:
        pipeline.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="inference threads per network (1: least sensitive to load)")
    ap.add_argument("--out", default=f"benchmarks/warm-start-{platform.machine()}.json")
    args = ap.parse_args()
    with open_source("samples:obama", max_frames=10) as src:
        frames = [f.image for f in src]
    rows = []
    load_before = load_avg()
    for precision in ("fp32", "int8"):
        opts, _ = resolve_options(FaceAlignerOptions.from_keywords(
            running_mode="video", target="x86_64" if platform.machine() == "x86_64" else "auto",
            precision=precision, tracking=False, threads=args.threads))
        times = {"cold": [], "warm": []}
        for _ in range(args.trials):
            for mode in ("cold", "warm"):
                times[mode].append(trial(opts, frames, mode == "warm"))
        for mode, runs in times.items():
            med = [statistics.median(r[i] for r in runs) for i in range(len(frames))]
            rows.append({"precision": precision, "mode": mode, "trials": args.trials,
                         "frame1_ms": round(med[0], 2), "frame2_ms": round(med[1], 2), "frame10_ms": round(med[9], 2),
                         "first_over_tenth": round(med[0] / med[9], 2)})
            print(f"{precision:5s} {mode:5s} frame 1 {med[0]:6.1f} ms  frame 2 {med[1]:6.1f}  frame 10 {med[9]:6.1f}  "
                  f"first/tenth {med[0] / med[9]:.2f}")
    report = {"machine": platform.machine(), "load_avg_before": load_before, "load_avg_after": load_avg(),
              "threads": args.threads, "trials": args.trials,
              "frames": "obama.mp4 frames 1-10, VIDEO mode, tracking off (detector + regressor every frame)",
              "rows": rows}
    write_json_atomic(args.out, report)
    print(f"wrote {args.out} (load average {load_before} -> {report['load_avg_after']})")


if __name__ == "__main__":
    main()
