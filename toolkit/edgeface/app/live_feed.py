"""The live camera path of `edgeface run`: capture thread -> LIVE_STREAM `FaceAligner` -> sinks.

    feed = LiveFeed()
    aligner = FaceAligner.create(running_mode="live_stream", result_callback=feed, ...)
    for frame, result in feed.stream(LatestFrameCapture(camera), aligner):   # in order
        ...                                                                  # write to the sinks

Three threads: the capture thread (`sources.capture.LatestFrameCapture`) reads the camera as fast as
it delivers and keeps only the newest frame; the calling thread takes that frame and hands it to
`FaceAligner.detect_async`, which returns at once; the aligner's worker thread runs the pipeline
and calls the feed (the `result_callback`), which queues the result and wakes the calling thread.
`stream` yields each result with its frame on the calling thread (so sinks that need the main
thread, a display window, still work), in frame order: one worker, one frame at a time.

No frame is ever processed stale: the slot keeps only the newest frame, and a frame handed over
while the worker is still busy is dropped rather than queued. Every frame the camera delivered
is either a result or counted in one of three drops (`LiveCounts`): replaced in the capture slot
before it was taken (`dropped_capture`), refused by the busy aligner (`dropped_busy`), or passed
by while the camera's reader was busy (`missed`, the simulated camera's own count; a real
camera's driver drops are not visible). Capture-to-result latency is the result callback's time
minus the frame's capture time (`time.monotonic()`: a simulated camera's delivery time, else the
moment the capture thread read the frame).
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
from dataclasses import dataclass, field
from typing import Iterator, Optional

from edgeface.app.timestamps import frame_timestamp_ms, increasing_ms
from edgeface.sources.capture import END, LatestFrameCapture
from edgeface.stats import percentile


def _percentile(values, q: float) -> Optional[float]:
    """The q-th percentile of `values` (`edgeface.stats.percentile`), None when empty."""
    return percentile(values, q) if len(values) else None


@dataclass
class LiveCounts:
    """Frames and drops of one live run, and the capture-to-result latencies (ms) of its results."""

    captured: int = 0  # frames the capture thread read from the camera
    missed: int = 0  # frames the camera delivered while its reader was busy (simulated camera)
    submitted: int = 0  # frames handed to the aligner and taken
    results: int = 0  # results delivered (in order)
    dropped_capture: int = 0  # replaced in the capture slot before they were taken
    dropped_busy: int = 0  # refused by detect_async while the worker was busy
    latency_ms: list = field(default_factory=list)
    wait_ms: list = field(default_factory=list)  # latency minus the pipeline's own time: capture -> worker start

    @property
    def dropped(self) -> int:
        return self.dropped_capture + self.dropped_busy + self.missed

    @property
    def delivered(self) -> int:
        return self.captured + self.missed

    def to_dict(self) -> dict:
        def r(v):
            return None if v is None else round(v, 2)

        return {"delivered": self.delivered, "captured": self.captured, "results": self.results,
                "dropped": self.dropped, "dropped_capture": self.dropped_capture, "dropped_busy": self.dropped_busy,
                "missed_by_reader": self.missed, "latency_p50_ms": r(_percentile(self.latency_ms, 50)),
                "latency_p99_ms": r(_percentile(self.latency_ms, 99)),
                "latency_max_ms": r(max(self.latency_ms)) if self.latency_ms else None}


class LiveFeed:
    """The `result_callback` of a LIVE_STREAM aligner and the ordered (frame, result) stream of a run."""

    def __init__(self):
        self._lock = threading.Lock()
        self._results: collections.deque = collections.deque()  # (timestamp_ms, result, delivered at)
        self._capture: Optional[LatestFrameCapture] = None
        self._busy_start = 0
        self._aligner = None
        self.stats = LiveCounts()

    def __call__(self, result, image, timestamp_ms) -> None:
        """Called by the aligner's worker thread with each result."""
        at = time.monotonic()
        with self._lock:
            self._results.append((timestamp_ms, result, at))
        cap = self._capture
        if cap is not None:
            cap.wake()

    def _has_results(self) -> bool:
        return bool(self._results)

    def stream(self, capture: LatestFrameCapture, aligner, fps: Optional[float] = None) -> Iterator[tuple]:
        """Take the newest frame, hand it to `aligner.detect_async`, and yield (frame, result) as
        results come in, until the camera ends (then the frame in progress is waited for). The
        result's `frame` is the camera frame's index (gaps are dropped frames)."""
        with self._lock:
            self._results.clear()
        self.stats = st = LiveCounts()
        self._capture, self._aligner = capture, aligner
        self._busy_start = aligner.dropped_frames
        monotonic = bool(getattr(capture.source, "monotonic_timestamps", False))
        pending: dict = {}  # timestamp_ms -> (frame, capture time) of the frame being processed
        last_ts = None
        try:
            while True:
                yield from self._ready(pending)
                frame = capture.take(ready=self._has_results)
                if frame is None:
                    continue
                if frame is END:
                    break
                last_ts = increasing_ms(frame_timestamp_ms(frame, fps), last_ts)
                captured = frame.timestamp_ms / 1000.0 if monotonic and frame.timestamp_ms is not None else capture.last_capture_s
                pending[last_ts] = (frame, captured)  # before the hand-over: the callback may come at once
                if aligner.detect_async(frame.image, last_ts, source=frame.source):
                    st.submitted += 1
                else:
                    del pending[last_ts]
                self._count()
            aligner.wait_until_idle()  # the frame in progress, then its result
            yield from self._ready(pending)
        finally:
            self._count()
            self._capture = None

    def _count(self) -> None:
        st, cap = self.stats, self._capture
        if cap is not None:
            st.captured, st.dropped_capture = cap.captured, cap.dropped
            st.missed = int(getattr(cap.source, "missed", 0))
        if self._aligner is not None:
            st.dropped_busy = self._aligner.dropped_frames - self._busy_start

    def _ready(self, pending: dict) -> Iterator[tuple]:
        st = self.stats
        while True:
            with self._lock:
                if not self._results:
                    return
                ts, result, at = self._results.popleft()
            item = pending.pop(ts, None)
            if item is None:  # a result of a frame handed over before this stream (a warm-up)
                continue
            frame, captured = item
            if captured is not None:
                lat = (at - captured) * 1000.0
                st.latency_ms.append(lat)
                st.wait_ms.append(lat - float(result.time_ms.get("total", 0.0)))
            st.results += 1
            yield frame, dataclasses.replace(result, frame=int(frame.index))


__all__ = ("LiveFeed", "LiveCounts")
