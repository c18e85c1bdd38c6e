"""Timing of one benchmark case: the policy (`TimingPolicy`), the timed loop (`time_backend`) and
the statistics of its per-run latencies (`timing_stats`; `percentile` is `edgeface.stats.percentile`).

`warmup` untimed runs, then timed runs until at least `min_runs` runs AND `min_seconds` seconds
have been spent (stopping early only at `max_seconds`); Python's garbage collector is off during
the timed loop. Statistics: median, p90, p99 (linear interpolation between order statistics,
numpy's default), mean, min, max.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass
from typing import Callable, List, Sequence

import numpy as np

from edgeface.errors import EdgefaceError
from edgeface.stats import percentile  # the board side's (app.live_feed); used here and re-exported


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
