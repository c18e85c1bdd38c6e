"""Still images: decoding one file (`read_image`), listing a folder in natural order (`list_images`),
and the `ImageSource` of one image or a folder of them (`is_still`: no temporal smoothing).
In a folder, a file that cannot be decoded, or whose header declares more pixels than the limit
(`max_pixels`, default 50 MP, `sources.image_header`: checked before decoding), is skipped with a
one-line warning and counted (`skipped`); a single such image is an error."""

from __future__ import annotations

import logging
import os
import re
import stat
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import numpy as np

from edgeface.errors import EdgefaceError
from edgeface.frames import IMAGE_EXTS, FrameSource, as_bgr
from edgeface.sources.image_header import DEFAULT_MAX_PIXELS, HEADER_BYTES, check_max_pixels, check_pixels, image_size

log = logging.getLogger(__name__)


def read_image(path: Union[str, os.PathLike], max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode an image file to BGR uint8 HxWx3; a one-line EdgefaceError if it cannot be read, is not a
    regular file (a FIFO, a device), or its header declares more than `max_pixels` pixels (checked before
    decoding: `sources.image_header.ImageTooLargeError`)."""
    import cv2

    path = Path(path)
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise EdgefaceError(f"cannot read image {path}: it is not a regular file (a FIFO or a device?): "
                                "give an image file")
        with open(path, "rb") as f:
            check_pixels(image_size(f.read(HEADER_BYTES)), path, max_pixels)
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as e:
        raise EdgefaceError(f"cannot read image {path}: {e.strerror or e}") from None
    try:
        img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    except cv2.error:  # a header OpenCV refuses (its own pixel limit, a broken chunk)
        img = None
    if img is None:
        raise EdgefaceError(f"cannot decode image {path}: the file is empty, corrupt or not an image "
                            "(re-export it as JPEG or PNG)")
    return as_bgr(img)


def _natural_key(name: str):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def list_images(folder: Union[str, os.PathLike]) -> list[Path]:
    """Image files directly in `folder` (by extension, hidden files skipped), in natural order."""
    folder = Path(folder)
    try:
        files = [p for p in folder.iterdir()
                 if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTS]
    except OSError as e:
        raise EdgefaceError(f"cannot read folder {folder}: {e.strerror or e} (check its permissions, "
                            "e.g. chmod u+rx, or run as a user who may read it)") from None
    return sorted(files, key=lambda p: _natural_key(p.name))


class ImageSource(FrameSource):
    """One image file, or a list of image files (a folder). Frames carry no timestamp. `max_pixels`: the
    largest image decoded (its header is read first); a folder's larger images are skipped and counted."""

    kind = "images"
    is_still = True

    def __init__(self, paths: Sequence[Union[str, os.PathLike]], name: Optional[str] = None,
                 max_frames: Optional[int] = None, max_pixels: int = DEFAULT_MAX_PIXELS):
        super().__init__(max_frames)
        self.max_pixels = check_max_pixels(max_pixels)
        self.paths = [Path(p) for p in paths]
        if not self.paths:
            raise EdgefaceError("no images given")
        self.name = name or str(self.paths[0])
        self.frame_count = self._cap(len(self.paths))
        self.fps = None
        self.skipped: list = []  # (path, reason) of the files of a folder that could not be decoded
        self.on_skip: Optional[Callable[[str], None]] = None  # gets each skip's one-line warning
        # decode a single image right away so a corrupt file fails before any model is loaded
        self._first: Optional[np.ndarray] = read_image(self.paths[0], self.max_pixels) if len(self.paths) == 1 else None

    def _frames(self):
        for i, p in enumerate(self.paths):
            if i == 0 and self._first is not None:
                img, self._first = self._first, None
            else:
                try:
                    img = read_image(p, self.max_pixels)
                except EdgefaceError as e:  # one bad file in a folder: warn, count, go on
                    self.skipped.append((p, str(e)))
                    (self.on_skip or log.warning)(f"skipped: {e}")
                    continue
            yield img, None, str(p)
