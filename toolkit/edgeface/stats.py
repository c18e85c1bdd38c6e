"""Percentiles of measured values (latencies), numpy only: used on the board (`app.live_feed`) and by
the workstation benchmarks (`tools.bench.stats`)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from edgeface.errors import EdgefaceError


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
