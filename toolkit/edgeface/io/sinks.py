"""Where results go: JSONL, an MP4 video, an image, a folder of images, or a window.

Every sink has `write(frame, result, annotated)` and `close()`; `abort()` ends it after an error.
Use a sink as a context manager: a normal exit (or Ctrl-C, the usual way to stop a camera run)
closes it; any other exception aborts it.

No sink leaves a half-written file:
- `JsonlSink` streams to its final path, one complete line per frame, flushed per frame, each
  line written with a single write call. A crash leaves the lines of the frames done so far
  (plus at most one incomplete last line if the process is killed in the middle of a write).
- `VideoSink` writes to a temporary file next to the destination and renames it on close;
  on abort the temporary file is deleted.
- `ImageSink` writes the last frame on close (temp + rename); `DirSink` writes each frame
  atomically (temp + rename) as frame_000000.jpg, frame_000001.jpg, ...

`make_sink(spec, fps, size)` picks the sink from the spec: `*.jsonl`, `*.mp4|.avi|.mov|.m4v`,
`*.jpg|.jpeg|.png|.bmp|.webp`, a folder (existing, or ending in '/', or without extension),
or `show` for a window.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Optional, Protocol, Sequence, Union, runtime_checkable

import numpy as np

from edgeface.errors import EdgefaceError
from edgeface.hub.atomic import atomic_path, write_bytes_atomic
from edgeface.runtime.results import FrameResult
from edgeface.io.frames import Frame

log = logging.getLogger(__name__)

VIDEO_FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG"}
IMAGE_OUT_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
DEFAULT_FPS = 25.0


@runtime_checkable
class Sink(Protocol):
    def write(self, frame: Frame, result: FrameResult, annotated: Optional[np.ndarray]) -> None: ...

    def close(self) -> None: ...


class BaseSink:
    """Context-manager plumbing shared by the sinks."""

    closed = False

    def write(self, frame: Frame, result: FrameResult, annotated: Optional[np.ndarray]) -> None:  # pragma: no cover
        raise NotImplementedError

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        """End after an error: drop partial output that is not complete (default: close)."""
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None or issubclass(exc_type, KeyboardInterrupt):
            self.close()
        else:
            self.abort()


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


class JsonlSink(BaseSink):
    """One JSON object per frame (`FrameResult.to_dict()`), streamed to `path` and flushed per frame."""

    def __init__(self, path: Union[str, os.PathLike], with_params: bool = True):
        self.path = Path(path)
        self.with_params = with_params
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._f = open(self.path, "w", encoding="utf-8", newline="\n")
        except OSError as e:
            raise EdgefaceError(f"cannot write {self.path}: {e.strerror or e} (pick another --out path)") from None
        self.lines = 0

    def write(self, frame: Frame, result: FrameResult, annotated: Optional[np.ndarray] = None) -> None:
        obj = result.to_dict()
        if not self.with_params:
            for f in obj.get("faces", []):
                f.pop("params", None)
        self._f.write(json.dumps(obj, separators=(",", ":")) + "\n")
        self._f.flush()
        self.lines += 1

    def close(self) -> None:
        if not self.closed:
            self._f.close()
        self.closed = True

    # abort = close: the lines written so far are complete records


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
        atomic, self._atomic = self._atomic, None
        atomic.__exit__(None, None, None)  # rename the temporary file onto the destination

    def abort(self) -> None:
        self.closed = True
        self._discard()


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
            raise EdgefaceError(f"cannot write {self.path}: {e.strerror or e} (pick another --out path)") from None
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
        write_bytes_atomic(self.path_for(frame.index), encode_image(_picture(frame, annotated), self.ext, self.quality))
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
