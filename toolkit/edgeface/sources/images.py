"""Still images: decoding one file (`read_image`), listing a folder in natural order (`list_images`),
and the `ImageSource` of one image or a folder of them (`is_still`: no temporal smoothing).
In a folder, a file that cannot be decoded is skipped with a one-line warning and counted
(`skipped`); a single image that cannot be decoded is an error."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import numpy as np

from edgeface.errors import EdgefaceError
from edgeface.frames import IMAGE_EXTS, FrameSource, as_bgr

log = logging.getLogger(__name__)


def read_image(path: Union[str, os.PathLike]) -> np.ndarray:
    """Decode an image file to BGR uint8 HxWx3; a one-line EdgefaceError if it cannot be read."""
    import cv2

    path = Path(path)
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as e:
        raise EdgefaceError(f"cannot read image {path}: {e.strerror or e}") from None
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
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
    """One image file, or a list of image files (a folder). Frames carry no timestamp."""

    kind = "images"
    is_still = True

    def __init__(self, paths: Sequence[Union[str, os.PathLike]], name: Optional[str] = None,
                 max_frames: Optional[int] = None):
        super().__init__(max_frames)
        self.paths = [Path(p) for p in paths]
        if not self.paths:
            raise EdgefaceError("no images given")
        self.name = name or str(self.paths[0])
        self.frame_count = self._cap(len(self.paths))
        self.fps = None
        self.skipped: list = []  # (path, reason) of the files of a folder that could not be decoded
        self.on_skip: Optional[Callable[[str], None]] = None  # gets each skip's one-line warning
        # decode a single image right away so a corrupt file fails before any model is loaded
        self._first: Optional[np.ndarray] = read_image(self.paths[0]) if len(self.paths) == 1 else None

    def _frames(self):
        for i, p in enumerate(self.paths):
            if i == 0 and self._first is not None:
                img, self._first = self._first, None
            else:
                try:
                    img = read_image(p)
                except EdgefaceError as e:  # one bad file in a folder: warn, count, go on
                    self.skipped.append((p, str(e)))
                    (self.on_skip or log.warning)(f"skipped: {e}")
                    continue
            yield img, None, str(p)
