"""A capture thread with a latest-frame policy, for live sources (cameras, `sim:` cameras).

    with LatestFrameCapture(open_source("camera:0")) as cap:
        for frame in cap:            # always the newest frame; older unread ones are dropped
            ...                      # cap.dropped: frames replaced before they were read

The thread reads the source as fast as it delivers and keeps only the newest frame in a one-frame
slot; the consumer takes it (waiting if none is new). So the pipeline never processes a stale
frame and never falls behind the camera: a frame that arrives while the previous one is still
unread replaces it and is counted in `dropped`. Frame indices are renumbered in reading order;
each frame keeps its source timestamp (`timestamp_s`, the capture time on `time.monotonic()` for
`sim:` cameras); `last_capture_s` is when the thread read the frame handed out last.
A failure in the source (camera lost) ends the iteration and is re-raised to the consumer.
"""

from __future__ import annotations

import threading
import time
from typing import Iterator, Optional

from edgeface.io.frames import Frame, FrameSource


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

    def __iter__(self) -> Iterator[Frame]:
        if self._thread is None:
            self._thread = threading.Thread(target=self._reader, name="edgeface-capture", daemon=True)
            self._thread.start()
        index = 0
        while self.max_frames is None or index < self.max_frames:
            with self._cond:
                self._cond.wait_for(lambda: self._slot is not None or self._done)
                if self._slot is None:
                    if self._error is not None:
                        err, self._error = self._error, None
                        raise err
                    return
                (f, cap), self._slot = self._slot, None
            self.last_capture_s = cap
            yield Frame(index=index, image=f.image, timestamp_s=f.timestamp_s, source=f.source)
            index += 1

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


__all__ = ("LatestFrameCapture",)
