"""The video sink: an MP4 (mp4v) / AVI (MJPG) file of the annotated frames, never half-written.

`VideoSink` writes to a temporary file next to the destination and renames it onto the destination
on close, after checking that it reads back with every frame (cv2.VideoWriter fails silently on a
full disk); on abort, or when the check fails, the temporary file is deleted.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

from edgeface.errors import EdgefaceError
from edgeface.frames import Frame
from edgeface.hub.atomic import atomic_path
from edgeface.hub.output_guard import check_output
from edgeface.results import FrameResult
from edgeface.sink import BaseSink, picture

log = logging.getLogger(__name__)

VIDEO_FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG"}
DEFAULT_FPS = 25.0


class VideoSink(BaseSink):
    """An MP4 (mp4v) / AVI (MJPG) video of the annotated frames via cv2.VideoWriter.

    size: (width, height); None takes the first frame's size. Frames of another size are resized.
    fps: None or <= 0 uses 25. The file appears at `path` only when `close()` succeeds.
    """

    def __init__(self, path: Union[str, os.PathLike], fps: Optional[float] = None,
                 size: Optional[Sequence[int]] = None):
        self.path = Path(path)
        ext = self.path.suffix.lower()
        if ext not in VIDEO_FOURCC:
            raise EdgefaceError(f"cannot write video {self.path}: use one of {', '.join(VIDEO_FOURCC)}")
        check_output(self.path, "--save")  # not the input, a special file, or in a read-only folder
        self.fourcc = VIDEO_FOURCC[ext]
        self.fps = float(fps) if fps and fps > 0 else DEFAULT_FPS
        self.size = (int(size[0]), int(size[1])) if size is not None else None
        self._writer = None
        self._atomic = None
        self._tmp: Optional[Path] = None
        self.frames = 0

    def _open(self, size: tuple[int, int]) -> None:
        import cv2

        try:
            self._atomic = atomic_path(self.path)
            self._tmp = self._atomic.__enter__()
        except OSError as e:
            raise EdgefaceError(f"cannot write {self.path}: {e.strerror or e} (pick another --out path)") from None
        self.size = size
        writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*self.fourcc), self.fps, size)
        if not writer.isOpened():
            self._discard()
            if _disk_full(self.path.parent):
                raise EdgefaceError(f"cannot write video {self.path}: the disk is full (free some space or pick "
                                    "another output path); nothing was written there")
            raise EdgefaceError(f"OpenCV cannot write {self.fourcc} video to {self.path}: write .avi instead, "
                                "or install an OpenCV build with FFmpeg")
        self._writer = writer

    def write(self, frame: Frame, result: FrameResult, annotated: Optional[np.ndarray] = None) -> None:
        import cv2

        if self.closed:
            raise EdgefaceError(f"video {self.path} is already closed")
        img = picture(frame, annotated)
        if self._writer is None:
            self._open(self.size or (img.shape[1], img.shape[0]))
        if (img.shape[1], img.shape[0]) != self.size:
            img = cv2.resize(img, self.size, interpolation=cv2.INTER_AREA)
        self._writer.write(np.ascontiguousarray(img))
        self.frames += 1

    def _discard(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.release()
            self._writer = None
        if self._atomic is not None:
            atomic, self._atomic = self._atomic, None
            # leaving the atomic_path block with an exception deletes the temporary file
            atomic.__exit__(RuntimeError, RuntimeError("aborted"), None)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._writer is None:
            log.warning("no frames were written: %s not created", self.path)
            return
        self._writer.release()
        self._writer = None
        problem = _video_problem(self._tmp, self.frames)
        if problem:  # cv2.VideoWriter fails silently (a full disk): never rename a broken video into place
            self._discard()
            raise EdgefaceError(f"cannot write video {self.path}: {problem} (free some space or pick another "
                                "output path); nothing was written there")
        atomic, self._atomic = self._atomic, None
        atomic.__exit__(None, None, None)  # rename the temporary file onto the destination

    def abort(self) -> None:
        self.closed = True
        self._discard()


def _disk_full(folder: Path) -> bool:
    try:
        return os.statvfs(folder).f_bavail == 0
    except OSError:
        return False


def _video_problem(path: Optional[Path], frames: int) -> str:
    """Why the finished video at `path` is not complete ('' when it holds all `frames`)."""
    import cv2

    try:
        if path is None or path.stat().st_size == 0:
            return "the file is empty (the disk is full?)"
        free = os.statvfs(path.parent)
        if free.f_bavail == 0:
            return "the disk is full"
    except OSError as e:
        return e.strerror or str(e)
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return "the file cannot be read back (the disk is full?)"
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        cap.release()
    return "" if n <= 0 or n == frames else f"it holds {n} of {frames} frames (the disk is full?)"
