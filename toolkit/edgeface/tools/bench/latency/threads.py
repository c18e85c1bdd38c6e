"""Threads per stage by measurement: from `edgeface bench latency`'s model latencies, the thread count that
serves each pipeline stage best on this board, beside what the target profile uses.

"Best" is the lowest p90 latency (not the median): the regressor runs once per face per frame next
to Python work on the main thread, and a second XNNPACK thread that has to be woken for a 0.5 ms
model lowers the median a little while widening the tail (measured on the project's 2-core x86:
mb05 int8 median 0.61 -> 0.47 ms but p99 0.76 -> 1.20 ms from 1 to 2 threads, and the pipeline got
slower). The detector's scans run on their own worker thread (`runtime.scanner`), with `scan_threads`.
"""

from __future__ import annotations

from typing import Dict, List, Optional

STAGE_MODELS = (("regressor", "mb05"), ("detector", "faceboxes"))


def best_threads(report: dict, variant: str = "tflite-int8") -> Dict[str, Optional[dict]]:
    """{stage: {"model", "variant", "threads", "p90_ms", "median_ms"} or None} for the first TFLite runtime."""
    out: Dict[str, Optional[dict]] = {}
    res = [r for r in report.get("results", []) if r.get("variant") == variant]
    runtimes = list(dict.fromkeys(r["runtime"] for r in res))
    for stage, prefix in STAGE_MODELS:
        rows = [r for r in res if r["model"].startswith(prefix) and runtimes and r["runtime"] == runtimes[0]]
        if not rows:
            out[stage] = None
            continue
        b = min(rows, key=lambda r: (r["p90_ms"], r["threads"]))
        out[stage] = {"model": b["model"], "variant": variant, "threads": int(b["threads"]),
                      "p90_ms": b["p90_ms"], "median_ms": b["median_ms"]}
    return out


def threads_lines(report: dict, profile) -> List[str]:
    """One line per stage: the measured best and the profile's setting."""
    lines = []
    for stage, b in best_threads(report).items():
        if b is None:
            continue
        have = getattr(profile, f"{stage}_threads", None) or profile.threads
        lines.append(f"{stage}: best {b['threads']} thread{'s' if b['threads'] > 1 else ''} here "
                     f"({b['model']} {b['variant']}, p90 {b['p90_ms']:.2f} ms, median {b['median_ms']:.2f} ms); "
                     f"profile {profile.name}: {have}"
                     + ("" if int(have) == b["threads"] else
                        " (profiles are set from whole-pipeline runs, where a lower model median can still make"
                        " frames slower: docs/benchmarks/performance.md)"))
    return lines
