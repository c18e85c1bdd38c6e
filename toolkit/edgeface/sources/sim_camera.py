"""A simulated camera: a video's frames delivered on a real clock, as a camera would deliver them.

    open_source("sim:samples:obama@30")     # or sim:clip.mp4@60, sim:clip.mp4 (the video's own fps)

The video is decoded once up front (so decoding never limits the rate), then frame i becomes
available at `start + i / fps` (wall clock): `_frames()` sleeps until that moment and yields it with
`timestamp_ms` = its availability time on `time.monotonic()`, in ms (a camera's capture timestamp). A
reader slower than the rate does not slow the camera: frames whose time has passed are skipped
(counted in `missed`), exactly as a real sensor keeps running; put `sources.capture.LatestFrameCapture`
in front of it to read on a thread with a latest-frame policy. Lets tests and `edgeface bench`
measure capture-to-result latency and dropped frames without a camera.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from edgeface.errors import EdgefaceError
from edgeface.frames import FrameSource
from edgeface.hub.assets import sample_path
from edgeface.sources.video import open_video

SPEC = re.compile(r"^sim:(?P<path>.+?)(?:@(?P<fps>\d+(?:\.\d+)?))?$")


def parse_sim_spec(spec: str) -> tuple:
    """(video path or samples:<key>, fps or None) of `sim:<video>[@fps]`."""
    m = SPEC.match(spec)
    if not m:
        raise EdgefaceError(f"bad simulated camera {spec!r}: use sim:<video>[@fps], e.g. sim:samples:obama@30")
    fps = float(m.group("fps")) if m.group("fps") else None
    if fps is not None and not 0 < fps <= 1000:
        raise EdgefaceError(f"simulated camera rate must be within (0, 1000] fps, got {fps}")
    return m.group("path"), fps


class SimCamera(FrameSource):
    kind = "sim_camera"
    monotonic_timestamps = True  # timestamp_ms is the delivery time on time.monotonic() * 1000 (app.live_feed's latency)

    def __init__(self, frames, fps: float, name: str = "sim", max_frames: Optional[int] = None, loop: bool = False,
                 clock=time.monotonic, sleep=time.sleep):
        super().__init__(max_frames)
        if not frames:
            raise EdgefaceError("a simulated camera needs at least one frame")
        if not fps or fps <= 0:
            raise EdgefaceError(f"simulated camera rate must be > 0 fps, got {fps}")
        self._images = [np.ascontiguousarray(f) for f in frames]
        self.fps = float(fps)
        self.name = name
        self.loop = loop
        self.frame_count = None if loop else self._cap(len(self._images))
        self.missed = 0  # frames whose time passed while the reader was busy (a real sensor's drops)
        self._clock, self._sleep = clock, sleep

    @property
    def first_image(self) -> np.ndarray:
        """The first frame's image (e.g. to warm a pipeline up before the camera starts)."""
        return self._images[0]

    def _frames(self) -> Iterator[tuple]:
        period = 1.0 / self.fps
        start = self._clock()
        n = len(self._images)
        i = 0
        while self.loop or i < n:
            due = start + i * period
            now = self._clock()
            if now < due:
                self._sleep(due - now)
            else:
                late = int((now - due) // period)  # frames that came and went while the reader was busy
                if not self.loop:
                    late = min(late, n - i)  # none past the end of the video
                if late:
                    self.missed += late
                    i += late
                    if not self.loop and i >= n:
                        return
                    due = start + i * period
            yield self._images[i % n], due * 1000.0, self.name
            i += 1


def open_sim_camera(spec: str, max_frames: Optional[int] = None, bitexact: bool = False) -> SimCamera:
    path, fps = parse_sim_spec(spec)
    if path.startswith("samples:"):
        path = str(sample_path(path.split(":", 1)[1]))
    if not Path(path).is_file():
        raise EdgefaceError(f"simulated camera: no video {path} (give sim:<video file>[@fps] or sim:samples:obama@30)")
    with open_video(path, max_frames=max_frames, exact=bitexact) as src:
        images = [f.image for f in src]
        fps = fps or src.fps or 30.0
    return SimCamera(images, fps, name=f"sim:{Path(path).name}@{fps:g}", max_frames=max_frames)


__all__ = ("SimCamera", "open_sim_camera", "parse_sim_spec")
