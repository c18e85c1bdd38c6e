"""`edgeface tune`'s records and its choices (pure: measurements in, choice and reasons out; `app.tune` measures).

Per stage the fastest precision, and the fewest threads within `THREADS_TOLERANCE` of its fastest; for the
pipeline the faster thread setting, then the smallest detect interval within `INTERVAL_TOLERANCE` of the
fastest; the fewest regressor workers within `WORKERS_TOLERANCE` of the fastest. Times are milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from edgeface.errors import EdgefaceError

THREADS_TOLERANCE = 0.05  # a stage takes more threads only when they save more than this fraction
INTERVAL_TOLERANCE = 0.10  # the smallest detect interval whose fps is within this fraction of the best
WORKERS_TOLERANCE = 0.05  # the fewest regressor workers whose fps is within this fraction of the best


@dataclass(frozen=True)
class StageTiming:
    stage: str  # "detector" | "regressor"
    precision: str  # int8 | fp32
    threads: int
    median_ms: float
    p90_ms: float


@dataclass(frozen=True)
class PipelineTiming:
    label: str  # "tuned threads" | "1 thread per stage"
    regressor_threads: int
    detector_threads: int
    interval: int
    fps: float
    median_ms: float
    p90_ms: float
    frames: int


@dataclass(frozen=True)
class WorkerTiming:
    """The whole pipeline (the chosen settings) on the multi-face clip at one `regressor_workers` count."""

    workers: int
    faces: int
    fps: float  # the faster of its passes
    median_ms: float  # per frame, over every pass
    p90_ms: float
    frames: int  # timed frames per pass

    def __post_init__(self):
        if int(self.workers) < 1 or float(self.fps) <= 0:
            raise EdgefaceError(f"tune: a worker timing needs workers >= 1 and fps > 0, got {self.workers} and {self.fps}")


@dataclass(frozen=True)
class StageChoice:
    precision: str
    threads: int
    reason: str


def percentile(values: Sequence[float], q: float) -> float:
    s = sorted(values)
    return float(s[min(len(s) - 1, int(round(q * (len(s) - 1))))])


def choose_stage(timings: Sequence[StageTiming], stage: str) -> StageChoice:
    """The precision and thread count of one stage from its timings."""
    mine = [t for t in timings if t.stage == stage]
    if not mine:
        raise EdgefaceError(f"tune: no {stage} was measured (is any {stage} model converted?)")
    best = min(mine, key=lambda t: t.median_ms)
    same = sorted((t for t in mine if t.precision == best.precision), key=lambda t: t.threads)
    pick = next(t for t in same if t.median_ms <= best.median_ms * (1 + THREADS_TOLERANCE))
    others = {p: min(t.median_ms for t in mine if t.precision == p) for p in {t.precision for t in mine}}
    alt = ", ".join(f"{p} {ms:.1f} ms" for p, ms in sorted(others.items()) if p != best.precision)
    why = f"{stage}: {pick.precision}, {pick.threads} thread(s): {pick.median_ms:.1f} ms per invoke"
    why += f" (fastest {best.median_ms:.1f} ms at {best.threads})" if pick.threads != best.threads else ""
    threads = ", ".join(f"{t.threads}: {t.median_ms:.1f}" for t in same)
    return StageChoice(pick.precision, pick.threads, f"{why}; threads {threads} ms" + (f"; other precision {alt}" if alt else ""))


def choose_pipeline(runs: Sequence[PipelineTiming]) -> tuple:
    """(the chosen run, reason): the faster thread setting, then the smallest interval within tolerance."""
    if not runs:
        raise EdgefaceError("tune: no pipeline run was measured")
    by_label: dict = {}
    for r in runs:
        by_label.setdefault(r.label, []).append(r)
    best_label = max(by_label, key=lambda k: max(r.fps for r in by_label[k]))
    mine = sorted(by_label[best_label], key=lambda r: r.interval)
    top = max(r.fps for r in mine)
    pick = next(r for r in mine if r.fps >= top * (1 - INTERVAL_TOLERANCE))
    alts = "; ".join(f"{k}: " + ", ".join(f"interval {r.interval} {r.fps:.1f} fps" for r in sorted(v, key=lambda r: r.interval))
                     for k, v in by_label.items())
    why = (f"pipeline: {best_label} (regressor {pick.regressor_threads}, detector {pick.detector_threads}), detect interval "
           f"{pick.interval}: {pick.fps:.1f} fps, p90 {pick.p90_ms:.1f} ms per frame (smallest interval within "
           f"{INTERVAL_TOLERANCE:.0%} of the fastest); measured {alts}")
    return pick, why


def choose_workers(runs: Sequence[WorkerTiming]) -> tuple:
    """(regressor_workers, reason): the fewest workers whose fps is within `WORKERS_TOLERANCE` of the fastest
    (a worker that buys less is an interpreter and a thread taken from the rest of the pipeline)."""
    if not runs:
        raise EdgefaceError("tune: no regressor worker count was measured")
    mine = sorted(runs, key=lambda r: r.workers)
    best = max(mine, key=lambda r: r.fps)
    pick = next(r for r in mine if r.fps >= best.fps * (1 - WORKERS_TOLERANCE))
    alts = ", ".join(f"{r.workers}: {r.fps:.1f} fps" for r in mine)
    why = (f"regressor workers: {pick.workers}: {pick.fps:.1f} fps, p90 {pick.p90_ms:.1f} ms per frame on {pick.faces} faces "
           f"(fewest within {WORKERS_TOLERANCE:.0%} of the fastest"
           + (f", {best.fps:.1f} fps at {best.workers})" if best.workers != pick.workers else ")") + f"; measured {alts}")
    return int(pick.workers), why


__all__ = ("THREADS_TOLERANCE", "INTERVAL_TOLERANCE", "WORKERS_TOLERANCE", "StageTiming", "PipelineTiming",
           "WorkerTiming", "StageChoice", "choose_stage", "choose_pipeline", "choose_workers", "percentile")
