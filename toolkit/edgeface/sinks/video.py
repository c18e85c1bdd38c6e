"""The video sink: an MP4 / MOV (H.264 through PyAV, else mp4v) or AVI (MJPG) file of the annotated frames,
never half-written (the encoders: `sinks.video_encoders`).

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

from edgeface.errors import EdgefaceError, write_error
from edgeface.frames import Frame
from edgeface.hub.atomic import atomic_path
from edgeface.hub.output_guard import check_output
from edgeface.results import FrameResult
from edgeface.sink import BaseSink, picture
from edgeface.sinks.video_encoders import OPENCV_FOURCC, open_encoder

log = logging.getLogger(__name__)

VIDEO_FOURCC = OPENCV_FOURCC  # the extensions a video is written to (and OpenCV's codec for each)
DEFAULT_FPS = 25.0


class VideoSink(BaseSink):
    """An MP4 / MOV (H.264 via PyAV, else mp4v) or AVI (MJPG) video of the annotated frames.

    size: (width, height); None takes the first frame's size. Frames of another size are resized.
    fps: None or <= 0 uses 25. The file appears at `path` only when `close()` succeeds.
    `codec` says what was written once the first frame is in (h264 encoder name, mp4v or MJPG).
    """

    def __init__(self, path: Union[str, os.PathLike], fps: Optional[float] = None,
                 size: Optional[Sequence[int]] = None):
        self.path = Path(path)
        ext = self.path.suffix.lower()
        if ext not in VIDEO_FOURCC:
            raise EdgefaceError(f"cannot write video {self.path}: use one of {', '.join(VIDEO_FOURCC)}")
        check_output(self.path, "--save")  # not the input, a special file, or in a read-only folder
        self.fourcc = VIDEO_FOURCC[ext]
        self.codec: Optional[str] = None
        self.fps = float(fps) if fps and fps > 0 else DEFAULT_FPS
        self.size = (int(size[0]), int(size[1])) if size is not None else None
        self._writer = None
        self._atomic = None
        self._tmp: Optional[Path] = None
        self.frames = 0

    def _open(self, size: tuple[int, int]) -> None:
        try:
            self._atomic = atomic_path(self.path)
            self._tmp = self._atomic.__enter__()
        except OSError as e:
            raise EdgefaceError(f"cannot write {self.path}: {e.strerror or e} (pick another --out path)") from None
        self.size = size
        try:
            self._writer = open_encoder(self._tmp, self.path.suffix.lower(), self.fps, size)
        except BaseException:
            self._discard()
            raise
        self.codec = self._writer.codec

    def write(self, frame: Frame, result: FrameResult, annotated: Optional[np.ndarray] = None) -> None:
        import cv2

        if self.closed:
            raise EdgefaceError(f"video {self.path} is already closed")
        img = picture(frame, annotated)
        if self._writer is None:
            self._open(self.size or (img.shape[1], img.shape[0]))
        if (img.shape[1], img.shape[0]) != self.size:
            img = cv2.resize(img, self.size, interpolation=cv2.INTER_AREA)
        try:
            self._writer.write(img)
        except OSError as e:  # PyAV raises at once on a full disk (OpenCV's writer fails silently: see close)
            self._discard()
            self.closed = True
            raise write_error(self.path, e, "; nothing was written there") from None
        self.frames += 1

    def _discard(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.abort()
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
        try:
            self._writer.close()
        except Exception as e:  # the encoder's last frames could not be written (a full disk)
            self._writer = None
            self._discard()
            if isinstance(e, OSError):
                raise write_error(self.path, e, "; nothing was written there") from None
            raise EdgefaceError(f"cannot write video {self.path}: {str(e).splitlines()[0] if str(e) else type(e).__name__} "
                                "(free some space or pick another output path); nothing was written there") from None
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
