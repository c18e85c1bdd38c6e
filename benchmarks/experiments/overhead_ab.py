"""Per-frame overhead of two checkouts side by side: `edgeface bench`'s own pipeline measurement
(`tools.bench.latency.pipeline_cases.pipeline_bench`), interleaved A/B rounds, one process per run, pinned to one core.

    python benchmarks/experiments/overhead_ab.py --a /path/to/main/toolkit --b toolkit --rounds 5 --cpu 0 \
        --json benchmarks/experiments/overhead-x86_64.json --markdown benchmarks/experiments/overhead-x86_64.md

Each round runs A then B (`--runs` pipeline_bench calls per process, INT8 and fp32 tracking on
obama.mp4 at the `PipelineOptions` defaults), so slow drifts of the machine's load hit both alike;
the tables give the median over all runs of each side and B / A. `overhead` is the bench's stage:
per tracked face, `process` time minus the regressor backend's `run`, median over tracked frames.
The 1-minute load average is recorded before every run (say it with the figures). Needs
EDGEFACE_HOME (converted mb05 + FaceBoxes 640x480) and PyAV.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from edgeface.hub.atomic import write_text_atomic

CHILD = r"""
import json, sys
from edgeface.tools.bench.latency.cases import PipelineCase
from edgeface.tools.bench.latency.pipeline_cases import pipeline_bench
from edgeface.hub.assets import sample_path
import edgeface
variant, runs = sys.argv[1], int(sys.argv[2])
case = PipelineCase(variant, True, 1, str(sample_path("obama")), None, None, (640, 480))
out = []
for _ in range(runs):
    r = pipeline_bench(case)
    out.append({"fps": r.fps, **r.stages_ms})
print(json.dumps({"package": edgeface.__file__, "runs": out}))
"""

KEYS = ("overhead", "fps", "total", "regress", "decode", "detect", "other")


def run_side(toolkit: str, variant: str, runs: int, cpu: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(Path(toolkit).resolve()))
    cmd = ["taskset", "-c", str(cpu), sys.executable, "-c", CHILD, variant, str(runs)]
    load = os.getloadavg()[0]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd="/tmp", check=False)
    if p.returncode != 0:
        sys.exit(f"{toolkit}: the bench failed:\n{p.stderr.strip().splitlines()[-1] if p.stderr.strip() else p.returncode}")
    res = json.loads(p.stdout.strip().splitlines()[-1])
    res["load"] = load
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--a", required=True, help="toolkit folder of checkout A (e.g. main's)")
    ap.add_argument("--b", required=True, help="toolkit folder of checkout B")
    ap.add_argument("--variants", default="tflite-int8,tflite-float32")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=3, help="pipeline_bench calls per process")
    ap.add_argument("--cpu", type=int, default=0)
    ap.add_argument("--json")
    ap.add_argument("--markdown")
    args = ap.parse_args()
    sides = {"A": args.a, "B": args.b}
    data = {v: {"A": [], "B": [], "load": []} for v in args.variants.split(",")}
    for i in range(args.rounds):
        for v in data:
            for side, tk in sides.items():
                r = run_side(tk, v, args.runs, args.cpu)
                data[v][side] += r["runs"]
                data[v]["load"].append(r["load"])
                print(f"round {i + 1}/{args.rounds} {v} {side}: overhead {[x.get('overhead') for x in r['runs']]} "
                      f"(load {r['load']:.2f})", flush=True)
    table = {}
    for v, d in data.items():
        med = {s: {k: statistics.median(x[k] for x in d[s] if k in x) for k in KEYS if any(k in x for x in d[s])} for s in ("A", "B")}
        table[v] = {"A": med["A"], "B": med["B"], "runs_per_side": len(d["A"]),
                    "load_min": min(d["load"]), "load_max": max(d["load"]),
                    "ratio_B_over_A": {k: round(med["B"][k] / med["A"][k], 3) for k in med["A"] if med["A"][k]}}
    lines = ["| variant | stage | A (main) | B (branch) | B / A |", "| --- | --- | ---: | ---: | ---: |"]
    for v, t in table.items():
        for k in KEYS:
            if k in t["A"]:
                lines.append(f"| {v} | {k}{' (ms / face)' if k == 'overhead' else ' (ms / frame)' if k != 'fps' else ''} | "
                             f"{t['A'][k]:.3f} | {t['B'][k]:.3f} | {t['ratio_B_over_A'][k]:.2f} |")
    loads = [x for t in table.values() for x in (t["load_min"], t["load_max"])]
    md = "\n".join(lines) + (f"\n\nMedians of {next(iter(table.values()))['runs_per_side']} runs per side, "
                             f"{args.rounds} interleaved rounds, pinned to CPU {args.cpu}; 1-minute load "
                             f"{min(loads):.2f}-{max(loads):.2f} during the runs.\n")
    print(md)
    if args.json:
        write_text_atomic(args.json, json.dumps({"a": args.a, "b": args.b, "cpu": args.cpu, "rounds": args.rounds,
                                      "results": table}, indent=1) + "\n")
    if args.markdown:
        write_text_atomic(args.markdown, "# Per-frame overhead, A/B\n\n" + md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
