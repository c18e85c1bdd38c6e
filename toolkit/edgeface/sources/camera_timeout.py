"""Camera reads with a timeout, and reconnecting a lost camera.

`picamera2.capture_array()` and `cv2.VideoCapture.read()` block in native code, and neither has a
timeout of its own: a stalled sensor or a USB camera that hangs on unplug would hang the run.
`TimedReads` does the blocking read in one worker thread and waits for it at most `timeout_s`;
past that the camera counts as lost (`ReadTimeout`). A worker stuck in the driver is left behind
(a daemon thread; it ends when the driver returns or the process exits) and never reused.

`ReconnectingCamera` wraps a camera opener: when the camera is lost (timeout, failed reads, an
unplugged device) it closes it and opens it again, up to `attempts` times in a row (waiting 1, 2,
4 s... at most 5 s between tries), with timestamps that keep increasing across reconnections.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Optional

from edgeface.errors import EdgefaceError, OptionsError
from edgeface.frames import FrameSource

log = logging.getLogger(__name__)

DEFAULT_READ_TIMEOUT_S = 5.0
FIRST_FRAME_TIMEOUT_S = 15.0  # a camera's first frame comes after sensor start-up and exposure settling


class ReadTimeout(Exception):
    """The camera gave no frame within the timeout."""


class TimedReads:
    """`read()` = `read_fn()`, but at most `timeout_s` seconds (then ReadTimeout)."""

    def __init__(self, read_fn: Callable[[], Any], timeout_s: float, name: str = "camera"):
        if not timeout_s or timeout_s <= 0:
            raise OptionsError(f"camera read timeout must be > 0 s, got {timeout_s}")
        self.read_fn, self.timeout_s, self.name = read_fn, float(timeout_s), name
        self._want = threading.Event()
        self._done = threading.Event()
        self._result: tuple = (None, None)
        self._stuck = False
        self._closed = False
        self._thread = threading.Thread(target=self._work, name=f"read:{name}", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            self._want.wait()
            self._want.clear()
            if self._closed:
                return
            try:
                self._result = (self.read_fn(), None)
            except BaseException as e:  # handed to the reading thread
                self._result = (None, e)
            self._done.set()

    def read(self, timeout_s: Optional[float] = None) -> Any:
        if self._stuck:
            raise ReadTimeout(f"no frame for {self.timeout_s:g} s")
        wait = self.timeout_s if timeout_s is None else float(timeout_s)
        self._done.clear()
        self._want.set()
        if not self._done.wait(wait):
            self._stuck = True
            raise ReadTimeout(f"no frame for {wait:g} s (stalled or unplugged)")
        value, err = self._result
        self._result = (None, None)
        if err is not None:
            raise err
        return value

    @property
    def stuck(self) -> bool:
        """True once a read timed out: the worker may still be inside the driver."""
        return self._stuck

    def close(self) -> None:
        self._closed = True
        self._want.set()
        if not self._stuck:
            self._thread.join(timeout=1.0)


class ReconnectingCamera(FrameSource):
    """A camera that is opened again when lost, up to `attempts` times in a row."""

    kind = "camera"

    def __init__(self, opener: Callable[[], FrameSource], attempts: int, max_frames: Optional[int] = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic):
        if attempts < 0:
            raise OptionsError(f"--reconnect must be >= 0, got {attempts}")
        super().__init__(max_frames)
        self._opener, self.attempts, self._sleep, self._clock = opener, int(attempts), sleep, clock
        self._src: Optional[FrameSource] = opener()  # the first open fails as usual: one line
        self.name, self.fps, self.frame_count = self._src.name, self._src.fps, self.max_frames
        self.reconnects = 0

    def _frames(self):
        t0 = None
        while True:
            got = 0
            for f in self._src:
                now = self._clock()
                t0 = now if t0 is None else t0
                got += 1
                yield f.image, (now - t0) * 1000.0, f.source
            # the camera ended: lost (the source warned). Reopen it, if allowed.
            self._close_inner()
            if not self._reopen(after_frames=got):
                return

    def _reopen(self, after_frames: int) -> bool:
        tries = 0
        while tries < self.attempts:
            tries += 1
            wait = min(5.0, 2.0 ** (tries - 1))
            log.warning("%s lost: reconnecting in %g s (attempt %d of %d)", self.name, wait, tries, self.attempts)
            self._sleep(wait)
            try:
                self._src = self._opener()
            except EdgefaceError as e:
                log.warning("%s: %s", self.name, e)
                continue
            self.reconnects += 1
            return True
        if self.attempts:
            log.warning("%s: gave up after %d reconnection attempts", self.name, self.attempts)
        return False

    def _close_inner(self) -> None:
        src, self._src = self._src, None
        if src is not None:
            src.close()

    def _release(self) -> None:
        self._close_inner()
