"""A check that the timestamps given to `detect_for_video` / `detect_async` are milliseconds.

Seconds passed where milliseconds are expected are accepted (they increase), but every filter that
uses time then sees frames 1000x closer together than they are: the One Euro smoothing lags (6.8 px
mean landmark error on the sample video). `TimestampUnits` warns once (`TimestampUnitsWarning`)
when `STEPS` consecutive timestamps are each less than `MIN_STEP_MS` apart, which at any camera
or video frame rate below 1000 fps means the values are not milliseconds.
"""

from __future__ import annotations

import warnings
from typing import Optional

MIN_STEP_MS = 1.0  # steps shorter than 1 ms are 1000+ fps: seconds, most likely
STEPS = 3  # consecutive short steps before warning (one short step may be a duplicated frame)


class TimestampUnitsWarning(UserWarning):
    """Timestamps passed to a `FaceAligner` look like seconds; they must be milliseconds."""


class TimestampUnits:
    """Watches one aligner's increasing timestamps (ms) and warns once when they look like seconds."""

    def __init__(self) -> None:
        self._last: Optional[float] = None
        self._short = 0
        self.warned = False

    def observe(self, timestamp_ms: float) -> None:
        """Take the next timestamp (already checked to increase)."""
        last, self._last = self._last, timestamp_ms
        if last is None or self.warned:
            return
        self._short = self._short + 1 if timestamp_ms - last < MIN_STEP_MS else 0
        if self._short >= STEPS:
            self.warned = True
            warnings.warn(f"timestamps look like seconds ({last:g} -> {timestamp_ms:g}: less than {MIN_STEP_MS:g} ms "
                          "apart, several times in a row): pass milliseconds, e.g. time.monotonic() * 1000",
                          TimestampUnitsWarning, stacklevel=4)

    def reset(self) -> None:
        """A new sequence: forget the last timestamp (the warning stays given)."""
        self._last, self._short = None, 0
