"""Image sinks: one image file (`ImageSink`, the last frame) or a folder of images (`DirSink`, one
per frame), each file written atomically (temp + rename); `encode_image` gives their bytes.

Both check their path with `hub.output_guard` when created (never a symlink, FIFO, device, or a
read-only folder). `DirSink` names each file after its input: `<input stem>.<ext>` for the images of a
folder (`frame_000012.jpg` for video and camera frames); two inputs with one stem (`a.jpg`, `a.png`)
are told apart predictably (`output_name`) and the rename is reported (`on_note`).

A write that fails (a full disk) is one `EdgefaceError` line naming the file; the files complete
before it are kept.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable, Optional, Union

import numpy as np

from edgeface.errors import EdgefaceError, write_error
from edgeface.frames import IMAGE_EXTS, Frame
from edgeface.hub.atomic import write_bytes_atomic
from edgeface.hub.output_guard import DIR, check_output
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
        check_output(self.path, "--save")
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


def input_stem(source: str) -> Optional[str]:
    """The stem of the image file a frame came from ('' / None for a video or camera frame)."""
    p = Path(source) if source else None
    if p is None or p.suffix.lower() not in IMAGE_EXTS or not p.stem or p.stem.startswith("."):
        return None
    return p.stem


def output_name(stem: str, source_ext: str, ext: str, taken: set) -> str:
    """`<stem><ext>`; if a file of this run already took it: `<stem>_<source ext><ext>`, then
    `<stem>_<source ext>_2<ext>`, `_3`... (the same inputs always give the same names)."""
    name = f"{stem}{ext}"
    if name.lower() not in taken:
        return name
    base = f"{stem}_{source_ext.lstrip('.').lower() or 'img'}"
    name, n = f"{base}{ext}", 2
    while name.lower() in taken:
        name, n = f"{base}_{n}{ext}", n + 1
    return name


class DirSink(BaseSink):
    """A folder of images, one per frame: `<input stem>.jpg` for a folder of images, else
    `frame_000000.jpg` (numbered by the frame index)."""

    def __init__(self, directory: Union[str, os.PathLike], ext: str = ".jpg", prefix: str = "frame_",
                 quality: int = 92):
        self.dir = Path(directory)
        self.ext = ext if ext.startswith(".") else "." + ext
        if self.ext.lower() not in IMAGE_OUT_EXTS:
            raise EdgefaceError(f"cannot write {self.ext} images: use one of {', '.join(IMAGE_OUT_EXTS)}")
        check_output(self.dir, "--save", DIR)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise EdgefaceError(f"cannot create folder {self.dir}: {e.strerror or e}") from None
        self.prefix = prefix
        self.quality = quality
        self.frames = 0
        self._taken: set = set()  # names (lower case) written by this run
        self.renamed: list = []  # (input, output name) of inputs whose plain name was taken
        self.on_note: Optional[Callable[[str], None]] = None  # gets each rename's one-line note

    def path_for(self, index: int) -> Path:
        return self.dir / f"{self.prefix}{int(index):06d}{self.ext}"

    def path_for_frame(self, frame: Frame) -> Path:
        """Where `frame` goes: named after its input image, or by its index."""
        stem = input_stem(frame.source)
        if stem is None:
            return self.path_for(frame.index)
        name = output_name(stem, Path(frame.source).suffix, self.ext, self._taken)
        if name != f"{stem}{self.ext}":
            self.renamed.append((frame.source, name))
            note = f"{Path(frame.source).name} written as {name} ({stem}{self.ext} was taken by another input)"
            (self.on_note or log.warning)(note)
        return self.dir / name

    def write(self, frame: Frame, result: FrameResult, annotated: Optional[np.ndarray] = None) -> None:
        dest = self.path_for_frame(frame)
        try:
            write_bytes_atomic(dest, encode_image(picture(frame, annotated), self.ext, self.quality))
        except OSError as e:
            raise write_error(dest, e, f"; the {self.frames} frames before it are in {self.dir}") from None
        self._taken.add(dest.name.lower())
        self.frames += 1
