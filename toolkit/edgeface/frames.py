"""What every input gives: `Frame` (one BGR image with its index, timestamp and source label) and
`FrameSource` (the base class of images, video files and cameras: iterable, a context manager, and
describing itself), the file extensions recognised as images and videos, and `as_bgr`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Iterator, Optional

import numpy as np
import numpy.typing as npt

from edgeface.deprecation import warn_renamed
from edgeface.errors import EdgefaceError

IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".dib", ".tif", ".tiff", ".webp",
                        ".ppm", ".pgm", ".pbm", ".pnm", ".jp2", ".sr", ".ras"})
VIDEO_EXTS = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv",
                        ".flv", ".3gp", ".ts", ".mts", ".m2ts", ".gif", ".ogv", ".h264", ".264"})


@dataclass(frozen=True)
class Frame:
    """One input frame: its `index` (from 0), `image` (BGR uint8 HxWx3, C-contiguous), `timestamp_ms`
    (milliseconds: a video frame's presentation time, a camera's capture time; None for photos) and the
    `source` label. Deprecated: `timestamp_s`."""

    index: int
    image: npt.NDArray[np.uint8]
    timestamp_ms: Optional[float]
    source: str

    @property
    def timestamp_s(self) -> Optional[float]:
        """Deprecated: the timestamp in seconds; use `timestamp_ms`."""
        warn_renamed("Frame.timestamp_s", "Frame.timestamp_ms (milliseconds)")
        return None if self.timestamp_ms is None else self.timestamp_ms / 1000.0


class FrameSource:
    """Base class: iterate to get `Frame`s; use as a context manager (or call `close()`).

    Subclasses implement `_frames()` yielding (image, timestamp_ms, source_label). The base class
    numbers the frames from 0 and stops after `max_frames`.
    """

    kind = "source"
    name: str = ""
    fps: Optional[float] = None  # frames per second when known (video files, cameras)
    frame_count: Optional[int] = None  # number of frames this source will yield, when known
    is_still = False  # True for single images / folders of images (no temporal smoothing)

    def __init__(self, max_frames: Optional[int] = None):
        if max_frames is not None and max_frames < 1:
            raise EdgefaceError(f"max_frames must be >= 1, got {max_frames}")
        self.max_frames = max_frames
        self._closed = False

    def _frames(self) -> Iterator[tuple[npt.NDArray[np.uint8], Optional[float], str]]:  # pragma: no cover
        raise NotImplementedError

    def _cap(self, count: Optional[int]) -> Optional[int]:
        if count is None:
            return self.max_frames
        return count if self.max_frames is None else min(count, self.max_frames)

    def __iter__(self) -> Iterator[Frame]:
        if self._closed:
            raise EdgefaceError(f"source {self.name} is closed; open it again")
        index = 0
        for image, ts, label in self._frames():
            if self.max_frames is not None and index >= self.max_frames:
                break
            yield Frame(index=index, image=image, timestamp_ms=ts, source=label)
            index += 1

    def _release(self) -> None:
        """Free what the source holds (a decoder, a capture device); called once by `close()`."""

    def close(self) -> None:
        if not self._closed:
            with contextlib.suppress(Exception):  # a device that is already gone must not fail the run
                self._release()
        self._closed = True

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self) -> dict[str, object]:
        return {"kind": self.kind, "name": self.name, "fps": self.fps, "frame_count": self.frame_count,
                "is_still": self.is_still}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, fps={self.fps}, frame_count={self.frame_count})"


def as_bgr(img: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    """A decoded image as C-contiguous BGR uint8 HxWx3 (grey expanded, alpha dropped); 8-bit only."""
    if img.ndim == 2:
        import cv2

        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
    if img.dtype != np.uint8:
        raise EdgefaceError(f"unsupported pixel type {img.dtype}: give 8-bit images")
    return np.ascontiguousarray(img)
