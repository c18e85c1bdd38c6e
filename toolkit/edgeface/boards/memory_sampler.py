"""This process's memory through a run: a light thread samples /proc/self (`MemorySampler`).

Every 20 ms it reads /proc/self/status (VmRSS, RssAnon, RssFile, RssShmem: tens of µs; the anonymous peak
at model loading is brief), every 0.2 s /proc/self/smaps_rollup too (Pss, Pss_Anon, Pss_File: it walks every
mapping), and keeps the peaks. Once the run is warmed up (`warmup()` is true: e.g. the first frames
are written, see `lines_at_least`), it clears the accessed bits of every page (`machine.clear_referenced`);
`finish()` takes a last sample, reads /proc/self/smaps and counts the file-backed pages referenced since:
working memory = peak (RssAnon + RssShmem) + those (`boards.process_memory`). `edgeface report` runs one in
each measured `edgeface run` (app/board_report.py).
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Optional, Sequence

from edgeface.boards.machine import clear_referenced, peak_rss_mb, read_self_proc
from edgeface.boards.process_memory import (MemorySummary, file_referenced, mb, parse_smaps, parse_smaps_rollup,
                                            parse_status, working_memory_kb)

SAMPLE_S = 0.2  # smaps_rollup
STATUS_S = 0.02  # status
WARMUP_POLL_S = 0.01  # until warm-up: a fast run writes a frame every few ms, clear_refs must not come late


def lines_at_least(paths: Sequence, n: int) -> Callable[[], bool]:
    """A warm-up test: true once one of `paths` (e.g. a JSONL being written, then its final name) has n lines."""
    def test() -> bool:
        for p in paths:
            try:
                with open(p, "rb") as f:
                    if sum(1 for _ in f) >= n:
                        return True
            except OSError:
                continue
        return False
    return test


class MemorySampler:
    """Samples this process's memory on a daemon thread until `finish()`; the peaks are kB."""

    def __init__(self, warmup: Optional[Callable[[], bool]] = None, warmup_frames: Optional[int] = None,
                 interval_s: float = SAMPLE_S):
        if interval_s <= 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s}")
        self.peaks: dict = {}
        self.samples = 0
        self.cleared = False
        self._warmup, self._warmup_frames, self._interval = warmup, warmup_frames, interval_s
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="edgeface-memory-sampler", daemon=True)
        self._summary: Optional[MemorySummary] = None

    def _peak(self, key: str, kb: Optional[int]) -> None:
        if kb is not None and kb > self.peaks.get(key, -1):
            self.peaks[key] = kb

    def sample(self, rollup: bool = True) -> None:
        st = parse_status(read_self_proc("status") or "")
        ro = parse_smaps_rollup(read_self_proc("smaps_rollup") or "") if rollup else {}
        with self._lock:
            if not st:
                return
            self.samples += 1
            for k in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                self._peak(k, st.get(k))
            if "RssAnon" in st:
                self._peak("AnonShmem", st["RssAnon"] + st.get("RssShmem", 0))
            for k in ("Pss", "Pss_Anon", "Pss_File"):
                self._peak(k, ro.get(k))

    def _loop(self) -> None:
        due = time.monotonic() + self._interval
        while not self._stop.wait(WARMUP_POLL_S if self._warmup is not None and not self.cleared else STATUS_S):
            if self._warmup is not None and not self.cleared and self._warmup():
                self.cleared = clear_referenced()
                if not self.cleared:
                    self._warmup = None  # not allowed here: no more polling
            now = time.monotonic()
            self.sample(rollup=now >= due)
            if now >= due:
                due = now + self._interval

    def start(self) -> "MemorySampler":
        self.sample()
        self._thread.start()
        return self

    def finish(self) -> MemorySummary:
        """Stop, sample once more, and summarize (MB); the same summary on a second call."""
        if self._summary is not None:
            return self._summary
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.sample()
        ref = file_referenced(parse_smaps(read_self_proc("smaps") or "")) if self.cleared else None
        p = self.peaks
        anon = p.get("AnonShmem")
        work = working_memory_kb(anon, ref.referenced_kb) if ref is not None and anon is not None else None
        self._summary = MemorySummary(
            peak_rss_mb=round(peak_rss_mb(), 1), sampled_rss_peak_mb=mb(p.get("VmRSS")), anon_peak_mb=mb(anon),
            rss_anon_peak_mb=mb(p.get("RssAnon")), rss_file_peak_mb=mb(p.get("RssFile")),
            rss_shmem_peak_mb=mb(p.get("RssShmem")), pss_peak_mb=mb(p.get("Pss")),
            pss_anon_peak_mb=mb(p.get("Pss_Anon")), pss_file_peak_mb=mb(p.get("Pss_File")),
            file_referenced_mb=mb(ref.referenced_kb) if ref else None,
            file_referenced_min_mb=mb(ref.referenced_min_kb) if ref else None, file_resident_mb=mb(ref.rss_kb) if ref else None,
            file_anon_mb=mb(ref.anon_kb) if ref else None, working_mb=mb(work), samples=self.samples,
            warmup_frames=self._warmup_frames if self.cleared else None)
        return self._summary


__all__: Sequence[str] = ("MemorySampler", "lines_at_least", "SAMPLE_S")
