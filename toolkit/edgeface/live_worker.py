"""LIVE_STREAM's worker: one thread with a one-frame slot (the latest frame wins, the rest are dropped).

`FaceAligner.detect_async` hands a frame to `LiveWorker.submit`; the worker runs `process(image,
timestamp_ms, source)` and calls the result callback. A frame handed over while the worker is busy
is refused and counted (`dropped`), so nothing queues up. An error of the worker (the pipeline's or
the callback's) is kept and re-raised once to the caller by `raise_error`.
"""

from __future__ import annotations

import threading
from typing import Callable, Optional

import numpy as np
import numpy.typing as npt

from edgeface.callbacks import ResultCallback
from edgeface.errors import EdgefaceError
from edgeface.results import FrameResult

Image = npt.NDArray[np.uint8]
Process = Callable[[Image, float, str], FrameResult]


class LiveWorker:
    """The worker thread of one LIVE_STREAM aligner."""

    def __init__(self, process: Process, callback: ResultCallback) -> None:
        self._process = process
        self._callback = callback
        self._cond = threading.Condition()
        self._pending: Optional[tuple[Image, float, str]] = None  # waiting for the worker
        self._busy = False
        self._stop = False
        self._error: Optional[BaseException] = None
        self.dropped = 0
        self._thread = threading.Thread(target=self._loop, name="edgeface-live", daemon=True)
        self._thread.start()

    def raise_error(self) -> None:
        """Re-raise (once) the error the worker stopped on, if any."""
        with self._cond:
            err, self._error = self._error, None
        if err is not None:
            raise err

    def submit(self, image: Image, timestamp_ms: float, source: str) -> bool:
        """Hand a frame over: True if taken, False if dropped because the worker is busy."""
        self.raise_error()
        with self._cond:
            if self._stop:
                raise EdgefaceError("this FaceAligner is closed; create a new one")
            if self._busy or self._pending is not None:
                self.dropped += 1
                return False
            self._pending = (image, timestamp_ms, source)
            self._cond.notify()
            return True

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._stop:
                    self._cond.wait()
                if self._pending is None:
                    return
                image, ts, source = self._pending
                self._pending = None
                self._busy = True
            try:
                result = self._process(image, ts, source)
                self._callback(result, image, ts)
            except BaseException as e:  # re-raised to the caller at its next detect_async
                with self._cond:
                    self._error = e if isinstance(e, Exception) else EdgefaceError(f"live worker stopped: {e!r}")
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def wait_idle(self, timeout_ms: float) -> bool:
        """Wait until no frame is pending or in progress; whether that happened within `timeout_ms`."""
        with self._cond:
            return bool(self._cond.wait_for(lambda: not self._busy and self._pending is None,
                                            timeout=max(0.0, timeout_ms) / 1000.0))

    def stop(self) -> None:
        """Finish the frame in progress, end the thread, and re-raise a pending error."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout=30.0)
        self.raise_error()
