"""Where results go: JSONL, an MP4 video, an image, a folder of images, or a window.

Every sink has `write(frame, result, annotated)` and `close()`; `abort()` ends it after an error.
Use a sink as a context manager: a normal exit (or Ctrl-C, the usual way to stop a camera run)
closes it; any other exception aborts it.

No sink leaves a half-written file:
- `JsonlSink` streams to `<path>.part`, one complete line per frame, flushed per frame, and
  renames it onto `path` on close, so an existing `path` survives a failed run. A killed run
  leaves the `.part` (the frames done); the next run on that path reports it and keeps it.
- `VideoSink` writes to a temporary file next to the destination and renames it on close, after
  checking it reads back with every frame (cv2.VideoWriter fails silently on a full disk);
  on abort the temporary file is deleted.
- A write that fails (a full disk) is one `EdgefaceError` line naming the file; what was complete
  before it is kept.
- `ImageSink` writes the last frame on close (temp + rename); `DirSink` writes each frame
  atomically (temp + rename) as frame_000000.jpg, frame_000001.jpg, ...

`make_sink(spec, fps, size)` picks the sink from the spec: `*.jsonl`, `*.mp4|.avi|.mov|.m4v`,
`*.jpg|.jpeg|.png|.bmp|.webp`, a folder (existing, or ending in '/', or without extension),
or `show` for a window.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

from edgeface.errors import EdgefaceError, write_error
from edgeface.hub.atomic import atomic_path, write_bytes_atomic
from edgeface.results import FrameResult
from edgeface.frames import Frame
from edgeface.sinks.jsonl import JsonlSink  # noqa: F401 (one of the sinks, in its own module)
from edgeface.sink import BaseSink, Sink  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)

VIDEO_FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG"}
IMAGE_OUT_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
DEFAULT_FPS = 25.0


def _picture(frame: Frame, annotated: Optional[np.ndarray]) -> np.ndarray:
    return annotated if annotated is not None else frame.image


def encode_image(image: np.ndarray, ext: str = ".jpg", quality: int = 92) -> bytes:
    import cv2

    ext = ext.lower()
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if ext in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(ext, image, params)
    if not ok:
        raise EdgefaceError(f"cannot encode a {image.shape} image as {ext}: use .jpg or .png")
    return buf.tobytes()


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
            raise EdgefaceError(f"OpenCV cannot write {self.fourcc} video to {self.path}: write .avi instead, "
                                "or install an OpenCV build with FFmpeg")
        self._writer = writer

    def write(self, frame: Frame, result: FrameResult, annotated: Optional[np.ndarray] = None) -> None:
        import cv2

        if self.closed:
            raise EdgefaceError(f"video {self.path} is already closed")
        img = _picture(frame, annotated)
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


class ImageSink(BaseSink):
    """One image file: the last frame written (for a single image input, the only one)."""

    def __init__(self, path: Union[str, os.PathLike], quality: int = 92):
        self.path = Path(path)
        self.ext = self.path.suffix.lower()
        if self.ext not in IMAGE_OUT_EXTS:
            raise EdgefaceError(f"cannot write image {self.path}: use one of {', '.join(IMAGE_OUT_EXTS)}")
        self.quality = quality
        self._last: Optional[np.ndarray] = None
        self.frames = 0

    def write(self, frame: Frame, result: FrameResult, annotated: Optional[np.ndarray] = None) -> None:
        self._last = _picture(frame, annotated)
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
            write_bytes_atomic(dest, encode_image(_picture(frame, annotated), self.ext, self.quality))
        except OSError as e:
            raise write_error(dest, e, f"; the {self.frames} frames before it are in {self.dir}") from None
        self.frames += 1


def has_display(environ: Optional[dict] = None) -> bool:
    env = os.environ if environ is None else environ
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


class ShowSink(BaseSink):
    """A window (cv2.imshow). Press q or Esc to ask the pipeline to stop (`stopped` becomes True)."""

    def __init__(self, window: str = "edgeface", environ: Optional[dict] = None):
        if not has_display(environ):
            raise EdgefaceError("no display to show the window (DISPLAY / WAYLAND_DISPLAY not set): "
                                "use --serve PORT to watch in a browser, or --out FILE")
        self.window = window
        self.stopped = False
        self._opened = False

    def write(self, frame: Frame, result: FrameResult, annotated: Optional[np.ndarray] = None) -> None:
        import cv2

        try:
            cv2.imshow(self.window, _picture(frame, annotated))
            key = cv2.waitKey(1) & 0xFF
        except cv2.error:
            raise EdgefaceError("this OpenCV has no window support (opencv-python-headless): "
                                "pip install opencv-python, or use --serve PORT") from None
        self._opened = True
        if key in (27, ord("q")):
            self.stopped = True

    def close(self) -> None:
        if self._opened and not self.closed:
            import cv2

            with contextlib.suppress(Exception):
                cv2.destroyWindow(self.window)
                cv2.waitKey(1)
        self.closed = True


class SinkGroup(BaseSink):
    """Several sinks as one; close/abort reach every sink even if one fails."""

    def __init__(self, sinks: Sequence[Sink]):
        self.sinks = list(sinks)

    @property
    def stopped(self) -> bool:
        return any(getattr(s, "stopped", False) for s in self.sinks)

    def write(self, frame: Frame, result: FrameResult, annotated: Optional[np.ndarray] = None) -> None:
        for s in self.sinks:
            s.write(frame, result, annotated)

    def _each(self, method: str) -> None:
        first: Optional[BaseException] = None
        for s in self.sinks:
            fn = getattr(s, method, None) or s.close
            try:
                fn()
            except Exception as e:  # keep closing the others
                first = first or e
        self.closed = True
        if first is not None:
            raise first

    def close(self) -> None:
        self._each("close")

    def abort(self) -> None:
        self._each("abort")


def make_sink(spec: Union[str, os.PathLike], fps: Optional[float] = None,
              size: Optional[Sequence[int]] = None) -> BaseSink:
    """A sink for an output spec: .jsonl, a video (.mp4 .avi .mov .m4v), an image (.jpg .png ...),
    a folder, or "show"."""
    s = os.fspath(spec)
    if s.strip().lower() in ("show", ":show"):
        return ShowSink()
    path = Path(s).expanduser()
    ext = path.suffix.lower()
    if s.endswith(("/", os.sep)) or path.is_dir():
        return DirSink(path)
    if ext == ".jsonl":
        return JsonlSink(path)
    if ext in VIDEO_FOURCC:
        return VideoSink(path, fps=fps, size=size)
    if ext in IMAGE_OUT_EXTS:
        return ImageSink(path)
    if ext == "":
        return DirSink(path)
    raise EdgefaceError(f"unknown output type {ext} for {path}: use .jsonl, .mp4, .avi, .jpg, .png, a folder, or show")
