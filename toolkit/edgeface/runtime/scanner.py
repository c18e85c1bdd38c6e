"""Periodic scans for new faces off the critical path: a worker thread with its own detector.

While every face is tracked, the detector is only needed to find faces that enter the picture (and
to confirm the tracks). `AsyncScanner` runs those periodic scans on a worker thread with its own
interpreter (and its own thread budget), so a tracked frame never waits for one:

    scan = scanner.poll()          # at the start of a frame: a finished scan, or None
    if scan: tracker.match(*scan.detections, stale=True)    # merged at the next frame (IoU, ids kept)
    elif scan due: scanner.submit(frame)                    # returns at once; skipped while busy

`submit` hands the frame itself to the worker, which letterboxes it (a small copy) and then runs the
detector network and its post-processing; the caller calls `release()` before it lets go of the frame (the
pipeline does at the end of each frame: usually the worker has long finished reading it). With two or more
cores the letterbox (a resize of the whole frame, ~0.4 ms for 1280x720 here) leaves the tracking's thread. The result
carries the index of the frame it was taken on. A scan still running when the next one is due
(`detect_interval` frames after it was started: video processed faster than real time, or a slow
board) is waited for, so there is always at least one scan per `detect_interval` frames. With one core the scan still costs CPU time, but
spread over the frames that follow instead of stalling one of them.

Frames on which the detector is *required* (no face tracked yet, a new track without landmarks, a
track lost this frame) do not use the scanner: the pipeline runs its own detector in-line, so that
frame waits for the detection (see `runtime.pipeline`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np

from edgeface.errors import EdgefaceError


@dataclass(frozen=True)
class ScanResult:
    frame_index: int  # the frame the scan looked at
    boxes: np.ndarray  # (K, 4) frame pixels, unclipped, best first
    scores: np.ndarray  # (K,)
    ms: float  # detector time on the worker thread

    @property
    def detections(self) -> tuple:
        return self.boxes, self.scores


class AsyncScanner:
    """One worker thread, one scan in flight at most, the latest finished result kept."""

    def __init__(self, detector):
        self.detector = detector  # a networks.FaceDetector with its own backend (not shared with the pipeline)
        self._cond = threading.Condition()
        self._job = None  # (frame_index, frame, generation)
        self._reading = False  # the worker may still read the frame of the last `submit` (see `release`)
        self._busy = False
        self._result: Optional[ScanResult] = None
        self._error: Optional[BaseException] = None
        self._stop = False
        self._generation = 0  # bumped by reset(): results of older scans are discarded
        self.scans = 0  # scans finished (merged or not)
        self._pending_index: Optional[int] = None
        self._thread = threading.Thread(target=self._loop, name="edgeface-scan", daemon=True)
        self._thread.start()

    @property
    def busy(self) -> bool:
        return self._busy or self._job is not None

    @property
    def pending_since(self) -> Optional[int]:
        """Frame index of the scan running or finished but not yet merged (None: no scan pending)."""
        return self._pending_index

    def submit(self, image: np.ndarray, frame_index: int) -> bool:
        """Start a scan of `image` unless one is running or waiting to be merged (then False)."""
        with self._cond:
            self._raise_pending()
            if self._stop:
                raise EdgefaceError("the scanner is closed")
            if self._busy or self._job is not None or self._result is not None:
                return False
            self._job = (int(frame_index), image, self._generation)
            self._reading = True
            self._pending_index = int(frame_index)
            self._cond.notify_all()
            return True

    def release(self, timeout: float = 30.0) -> None:
        """Return once the worker no longer reads the frame of the last `submit` (it has letterboxed it): the
        caller may then reuse or change that frame's buffer."""
        if not self._reading:  # only `submit`, on the caller's thread, sets it: nothing to wait for (no lock taken)
            return
        with self._cond:
            if self._reading:
                self._cond.wait_for(lambda: not self._reading, timeout=timeout)

    def poll(self) -> Optional[ScanResult]:
        """The finished scan not yet merged (taken: the next poll returns None), else None. Never waits."""
        if self._result is None and self._error is None:  # nothing finished yet (a scan finishing now: the next poll)
            return None
        with self._cond:
            self._raise_pending()
            r, self._result = self._result, None
            if r is not None:
                self._pending_index = None
            return r

    def wait(self, timeout: float = 30.0) -> Optional[ScanResult]:
        """Wait for the scan in flight (tests, end of a stream) and take its result."""
        with self._cond:
            self._cond.wait_for(lambda: not self._busy and self._job is None, timeout=timeout)
        return self.poll()

    def reset(self) -> None:
        """A new sequence: the scan in flight and any unmerged result are discarded."""
        with self._cond:
            self._generation += 1
            if self._job is not None:  # not started: the worker will never read its frame
                self._job, self._reading = None, False
            self._result = None
            self._pending_index = None

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout=30.0)

    def _raise_pending(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            raise err

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._job is None and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                index, frame, gen = self._job
                self._job = None
                self._busy = True
            try:
                t0 = time.perf_counter()
                try:
                    canvas, lb = self.detector.letterbox(frame)
                    if np.shares_memory(canvas, frame):  # a frame already at the detector's size: the canvas is it
                        canvas = canvas.copy()
                finally:
                    with self._cond:
                        frame, self._reading = None, False
                        self._cond.notify_all()
                boxes, scores = self.detector.detect_letterboxed(canvas, lb)
                res = ScanResult(index, boxes, scores, (time.perf_counter() - t0) * 1000.0)
                with self._cond:
                    self.scans += 1
                    if gen == self._generation:
                        self._result = res
            except Exception as e:  # re-raised to the pipeline at its next poll/submit
                with self._cond:
                    self._error = e
                    self._pending_index = None
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()


__all__ = ("AsyncScanner", "ScanResult")
