"""`ResultCallback`: the type of a LIVE_STREAM aligner's `result_callback`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from edgeface.results import FrameResult


class ResultCallback(Protocol):
    """`callback(result, image, timestamp_ms) -> None`: called from the aligner's worker thread with
    each LIVE_STREAM result, the BGR uint8 HxWx3 image it came from and the timestamp in milliseconds
    passed to `detect_async`. Any function or callable object with three positional parameters fits.
    Keep it short (it delays the next frame); an exception it raises is re-raised by the next
    `detect_async` / `wait_until_idle`."""

    def __call__(self, result: FrameResult, image: npt.NDArray[np.uint8], timestamp_ms: float, /) -> None:
        ...
