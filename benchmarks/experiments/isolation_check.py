"""Does running every benchmark case in its own process change the timings? Measure it.

    python benchmarks/experiments/isolation_check.py [--rounds 3] [--threads 1,2] [--json out.json]

For the same cases and timing policy, alternates rounds of
  A) `isolate=True`  : every case in a fresh Python process (what `edgeface bench` does), and
  B) `isolate=False` : all cases one after the other in this process,
and prints, per case, the median of the per-round medians for A and B and their ratio B/A. Case order
in B puts onnxruntime (multi-threaded, spinning thread pool) before the TFLite variants, the
worst case for leaks between cases. Rounds alternate A, B, A, B... so that slow drifts of the
machine's load hit both modes alike. The numbers behind the decision are in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

from edgeface.tools.bench.latency.cases import BenchOptions
from edgeface.tools.bench.latency.runner import run_bench
from edgeface.tools.bench.stats import TimingPolicy
from edgeface.boards.machine import machine_info


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--models", default="mb05,faceboxes")
    ap.add_argument("--min-runs", type=int, default=100)
    ap.add_argument("--min-seconds", type=float, default=2.0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    policy = TimingPolicy(warmup=10, min_runs=args.min_runs, min_seconds=args.min_seconds, max_seconds=30)
    threads = [int(t) for t in args.threads.split(",")]
    meds: dict = {}
    for rnd in range(args.rounds):
        for isolate in (True, False):
            opts = BenchOptions(models=args.models.split(","), threads=threads, policy=policy, isolate=isolate, pipeline=False)
            rep = run_bench(opts)
            for r in rep.results:
                meds.setdefault((r.model, r.variant, r.threads), {True: [], False: []})[isolate].append(r.median_ms)
            print(f"round {rnd + 1}/{args.rounds} {'subprocess' if isolate else 'in-process'} done "
                  f"(load {rep.machine.get('load_avg_end')})", file=sys.stderr)
    rows = []
    print(f"{'model':18s} {'variant':20s} {'thr':>3s} {'subprocess ms':>14s} {'in-process ms':>14s} {'ratio':>6s}")
    for (model, variant, t), d in meds.items():
        a, b = statistics.median(d[True]), statistics.median(d[False])
        rows.append({"model": model, "variant": variant, "threads": t, "subprocess_ms": a, "in_process_ms": b,
                     "ratio": b / a, "subprocess_rounds": d[True], "in_process_rounds": d[False]})
        print(f"{model:18s} {variant:20s} {t:3d} {a:14.3f} {b:14.3f} {b / a:6.3f}")
    ratios = [r["ratio"] for r in rows]
    print(f"ratio in-process / subprocess: median {statistics.median(ratios):.3f}, min {min(ratios):.3f}, max {max(ratios):.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine_info(), "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
