"""A video source at camera pace (shared by the MQTT outage test and benchmarks/mqtt_outage.py)."""

from __future__ import annotations

import time


class PacedVideo:
    """The real obama.mp4 frames at camera pace (30 fps), so the run outlasts a broker outage."""

    def __init__(self, source, fps=30.0, on_frame=None):
        self.source, self.period, self.on_frame = source, 1.0 / fps, on_frame
        for k in ("is_still", "frame_count", "fps", "name", "kind"):
            setattr(self, k, getattr(source, k, None))

    def __iter__(self):
        t0 = time.monotonic()
        for i, frame in enumerate(self.source):
            time.sleep(max(0.0, t0 + i * self.period - time.monotonic()))
            if self.on_frame is not None:
                self.on_frame(i)
            yield frame
