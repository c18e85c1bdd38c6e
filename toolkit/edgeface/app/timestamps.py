"""Frame timestamps for the aligner's VIDEO and LIVE_STREAM modes, which need them in ms and increasing.

`frame_timestamp_ms` is a frame's time; `increasing_ms` moves a repeated or earlier one (a broken
container, a camera clock that stepped back) on by 1 us past the last one.
"""

from __future__ import annotations

from typing import Optional

from edgeface.frames import Frame

DEFAULT_FPS = 30.0  # the frame rate assumed for a source that does not tell its own
STEP_MS = 1e-3  # what a timestamp that does not increase is moved on by (1 us)


def frame_timestamp_ms(frame: Frame, fps: Optional[float]) -> float:
    """A frame's time in ms: its own timestamp, else its index at the source's frame rate (30 fps if unknown)."""
    if frame.timestamp_ms is not None:
        return float(frame.timestamp_ms)
    return frame.index * 1000.0 / (fps or DEFAULT_FPS)


def increasing_ms(ts: float, last: Optional[float]) -> float:
    """`ts` when it is past `last` (or there is no `last`), else `last` moved on by 1 us."""
    return ts if last is None or ts > last else last + STEP_MS
