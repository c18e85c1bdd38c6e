"""Image sinks: one image file (`ImageSink`, the last frame) or a folder of images (`DirSink`, one
per frame), each file written atomically (temp + rename); `encode_image` gives their bytes.

A write that fails (a full disk) is one `EdgefaceError` line naming the file; the files complete
before it are kept.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Optional, Union

import numpy as np

from edgeface.errors import EdgefaceError, write_error
from edgeface.frames import Frame
from edgeface.hub.atomic import write_bytes_atomic
from edgeface.results import FrameResult
from edgeface.sink import BaseSink, picture

log = logging.getLogger(__name__)

IMAGE_OUT_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def encode_image(image: np.ndarray, ext: str = ".jpg", quality: int = 92) -> bytes:
    """The bytes of `image` (BGR) as a `ext` file; `quality` is the JPEG quality (.jpg / .jpeg only)."""
    import cv2

    ext = ext.lower()
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if ext in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(ext, image, params)
    if not ok:
        raise EdgefaceError(f"cannot encode a {image.shape} image as {ext}: use .jpg or .png")
    return buf.tobytes()


class ImageSink(BaseSink):
    """One image file: the last frame written (for a single image input, the only one), written on close."""

    def __init__(self, path: Union[str, os.PathLike], quality: int = 92):
        self.path = Path(path)
        self.ext = self.path.suffix.lower()
        if self.ext not in IMAGE_OUT_EXTS:
            raise EdgefaceError(f"cannot write image {self.path}: use one of {', '.join(IMAGE_OUT_EXTS)}")
        self.quality = quality
        self._last: Optional[np.ndarray] = None
        self.frames = 0

    def write(self, frame: Frame, result: FrameResult, annotated: Optional[np.ndarray] = None) -> None:
        self._last = picture(frame, annotated)
        self.frames += 1

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._last is None:
            log.warning("no frames were written: %s not created", self.path)
            return
        if self.frames > 1:
            log.info("%s holds the last of %d frames", self.path, self.frames)
        try:
            write_bytes_atomic(self.path, encode_image(self._last, self.ext, self.quality))
        except OSError as e:
            raise write_error(self.path, e) from None
        self._last = None

    def abort(self) -> None:
        self.closed = True
        self._last = None


class DirSink(BaseSink):
    """A folder of images, one per frame: frame_000000.jpg (numbered by the frame index)."""

    def __init__(self, directory: Union[str, os.PathLike], ext: str = ".jpg", prefix: str = "frame_",
                 quality: int = 92):
        self.dir = Path(directory)
        self.ext = ext if ext.startswith(".") else "." + ext
        if self.ext.lower() not in IMAGE_OUT_EXTS:
            raise EdgefaceError(f"cannot write {self.ext} images: use one of {', '.join(IMAGE_OUT_EXTS)}")
        if self.dir.exists() and not self.dir.is_dir():
            raise EdgefaceError(f"{self.dir} is a file, not a folder: pick another --out path")
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise EdgefaceError(f"cannot create folder {self.dir}: {e.strerror or e}") from None
        self.prefix = prefix
        self.quality = quality
        self.frames = 0

    def path_for(self, index: int) -> Path:
        return self.dir / f"{self.prefix}{int(index):06d}{self.ext}"

    def write(self, frame: Frame, result: FrameResult, annotated: Optional[np.ndarray] = None) -> None:
        dest = self.path_for(frame.index)
        try:
            write_bytes_atomic(dest, encode_image(picture(frame, annotated), self.ext, self.quality))
        except OSError as e:
            raise write_error(dest, e, f"; the {self.frames} frames before it are in {self.dir}") from None
        self.frames += 1
