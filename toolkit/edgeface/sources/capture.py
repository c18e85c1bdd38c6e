"""A capture thread with a latest-frame policy, for live sources (cameras, `sim:` cameras).

    with LatestFrameCapture(open_source("camera:0")) as cap:
        for frame in cap:            # always the newest frame; older unread ones are dropped
            ...                      # cap.dropped: frames replaced before they were read

The thread reads the source as fast as it delivers and keeps only the newest frame in a one-frame
slot; the consumer takes it (waiting if none is new). So the pipeline never processes a stale
frame and never falls behind the camera: a frame that arrives while the previous one is still
unread replaces it and is counted in `dropped`. Frames keep the source's indices (reading order),
so a gap in the indices handed out is a dropped frame;
each frame keeps its source timestamp (`timestamp_ms`, the capture time on `time.monotonic()` in ms for
`sim:` cameras); `last_capture_s` is when the thread read the frame handed out last.
`take(ready)` is the same as one step of the iteration but also returns (None) when `ready()`
turns true on a `wake()`: `app.live_feed` waits for "a new frame or a new result" with it.
A failure in the source (camera lost) ends the iteration and is re-raised to the consumer.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Iterator, Optional

from edgeface.frames import Frame, FrameSource

#: what `LatestFrameCapture.take` returns at the end of the source
END = object()


class LatestFrameCapture(FrameSource):
    kind = "capture"

    def __init__(self, source: FrameSource, max_frames: Optional[int] = None):
        super().__init__(max_frames)
        self.source = source
        self.name, self.fps, self.frame_count, self.is_still = source.name, source.fps, None, source.is_still
        self.dropped = 0  # frames replaced in the slot before the consumer read them
        self.captured = 0  # frames read from the source
        self._cond = threading.Condition()
        self._slot: Optional[tuple] = None  # (frame, capture time)
        self._done = False
        self._stop = False
        self._error: Optional[BaseException] = None
        self._thread: Optional[threading.Thread] = None
        self.last_capture_s: Optional[float] = None  # capture time of the frame handed out last
        self._handed = 0  # frames handed to the consumer

    def _reader(self) -> None:
        try:
            for f in self.source:
                now = time.monotonic()
                with self._cond:
                    if self._stop:
                        break
                    if self._slot is not None:
                        self.dropped += 1
                    self._slot = (f, now)
                    self.captured += 1
                    self._cond.notify_all()
        except BaseException as e:  # handed to the consumer
            with self._cond:
                self._error = e
        finally:
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def _frames(self) -> Iterator[tuple]:
        raise NotImplementedError  # __iter__ is overridden: frames carry their own indices

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._reader, name="edgeface-capture", daemon=True)
            self._thread.start()

    def take(self, ready: Callable[[], bool] = lambda: False):
        """The newest unread frame (waiting for one); None as soon as `ready()` is true (checked
        whenever `wake()` is called) with no new frame; `END` at the end of the source (a failure
        of the source is re-raised here)."""
        self._start()
        if self.max_frames is not None and self._handed >= self.max_frames:
            return END
        with self._cond:
            self._cond.wait_for(lambda: self._slot is not None or self._done or ready())
            if self._slot is None:
                if not self._done:
                    return None
                if self._error is not None:
                    err, self._error = self._error, None
                    raise err
                return END
            (f, cap), self._slot = self._slot, None
        self.last_capture_s = cap
        self._handed += 1
        return f

    def wake(self) -> None:
        """Make a waiting `take` re-check its `ready()` (e.g. a result came in)."""
        with self._cond:
            self._cond.notify_all()

    def __iter__(self) -> Iterator[Frame]:
        while True:
            frame = self.take()
            if frame is END:
                return
            yield frame

    def _release(self) -> None:
        with self._cond:
            self._stop = True
        self.source.close()
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    def describe(self) -> dict:
        d = super().describe()
        d.update(dropped=self.dropped, captured=self.captured, inner=self.source.describe())
        return d


__all__ = ("END", "LatestFrameCapture")
