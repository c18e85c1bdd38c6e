"""What every sink is: `write(frame, result, annotated)`, `close()`, `abort()`, and a context manager
that closes on a normal exit or Ctrl-C / a stop signal and aborts on any other exception; and the
picture a sink that shows frames draws (`picture`)."""

from __future__ import annotations

from typing import Optional, Protocol, runtime_checkable

import numpy as np

from edgeface.frames import Frame
from edgeface.results import FrameResult


def picture(frame: Frame, annotated: Optional[np.ndarray]) -> np.ndarray:
    """What a picture sink shows: the annotated image when there is one, else the frame's own image."""
    return annotated if annotated is not None else frame.image


@runtime_checkable
class Sink(Protocol):
    def write(self, frame: Frame, result: FrameResult, annotated: Optional[np.ndarray]) -> None: ...

    def close(self) -> None: ...


class BaseSink:
    """Context-manager plumbing shared by the sinks."""

    closed = False

    def write(self, frame: Frame, result: FrameResult, annotated: Optional[np.ndarray]) -> None:  # pragma: no cover
        raise NotImplementedError

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        """End after an error: drop partial output that is not complete (default: close)."""
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None or issubclass(exc_type, KeyboardInterrupt):
            self.close()
        else:
            self.abort()
