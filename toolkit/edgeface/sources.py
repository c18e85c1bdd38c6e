"""Frame sources: an image, a folder of images, a video file, or a camera.

`open_source(spec)` returns a `FrameSource`: an iterable of `Frame` that is also a context manager
and tells what it knows about itself (`name`, `fps`, `frame_count`, `is_still`).

    with open_source("clip.mp4", max_frames=100) as src:
        for frame in src:          # Frame(index, image BGR uint8 HxWx3, timestamp_s, source)
            ...

Video files are decoded with PyAV when it is installed (extra "video"), with the MP4 edit list
ignored so that every coded frame comes out: the sample obama.mp4 has 158 frames of which
OpenCV's reader shows only 55 because its edit list starts late. Without PyAV, OpenCV reads the
file and a one-time warning says that edit-listed MP4s may lose frames.

Cameras: `camera`, `camera:N` (or an int N, or `/dev/videoN`). On a Raspberry Pi with picamera2
installed, libcamera cameras are read through picamera2 (format RGB888, which is BGR byte order
in memory, so frames need no conversion); otherwise OpenCV's V4L2 reader is used. A camera that
stops delivering frames mid-run ends the iteration with a warning (the sinks keep what they
wrote); a camera that cannot be opened at all is a one-line `EdgefaceError`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence, Union

import numpy as np

from .errors import EdgefaceError

log = logging.getLogger(__name__)

IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".dib", ".tif", ".tiff", ".webp",
                        ".ppm", ".pgm", ".pbm", ".pnm", ".jp2", ".sr", ".ras"})
VIDEO_EXTS = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv",
                        ".flv", ".3gp", ".ts", ".mts", ".m2ts", ".gif", ".ogv", ".h264", ".264"})

DEFAULT_CAMERA_SIZE = (640, 480)
# consecutive failed reads after which an OpenCV camera counts as lost
_CAMERA_MAX_FAILED_READS = 3


@dataclass
class Frame:
    """One input frame. `image` is BGR uint8 HxWx3 (C-contiguous)."""

    index: int
    image: np.ndarray
    timestamp_s: Optional[float]
    source: str


class FrameSource:
    """Base class: iterate to get `Frame`s; use as a context manager (or call `close()`).

    Subclasses implement `_frames()` yielding (image, timestamp_s, source_label). The base class
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

    def _frames(self) -> Iterator[tuple[np.ndarray, Optional[float], str]]:  # pragma: no cover
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
            yield Frame(index=index, image=image, timestamp_s=ts, source=label)
            index += 1

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def describe(self) -> dict:
        return {"kind": self.kind, "name": self.name, "fps": self.fps, "frame_count": self.frame_count,
                "is_still": self.is_still}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, fps={self.fps}, frame_count={self.frame_count})"


# ----------------------------------------------------------------------------------- images

def _as_bgr(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        import cv2

        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
    if img.dtype != np.uint8:
        raise EdgefaceError(f"unsupported pixel type {img.dtype}: give 8-bit images")
    return np.ascontiguousarray(img)


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
    return _as_bgr(img)


def _natural_key(name: str):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def list_images(folder: Union[str, os.PathLike]) -> list[Path]:
    """Image files directly in `folder` (by extension, hidden files skipped), in natural order."""
    folder = Path(folder)
    files = [p for p in folder.iterdir()
             if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTS]
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
        # decode a single image right away so a corrupt file fails before any model is loaded
        self._first: Optional[np.ndarray] = read_image(self.paths[0]) if len(self.paths) == 1 else None

    def _frames(self):
        for i, p in enumerate(self.paths):
            if i == 0 and self._first is not None:
                img, self._first = self._first, None
            else:
                img = read_image(p)
            yield img, None, str(p)


# ----------------------------------------------------------------------------------- video files

@functools.lru_cache(maxsize=1)
def _warn_no_pyav() -> None:
    log.warning("PyAV is not installed: reading video with OpenCV, which may drop frames of MP4 files "
                "with an edit list (pip install 'edgeface[video]' to read every frame)")


def have_pyav() -> bool:
    try:
        import av  # noqa: F401
    except Exception:
        return False
    return True


class PyAVVideoSource(FrameSource):
    """Every frame of a video file via PyAV, ignoring MP4/MOV edit lists.

    Timestamps are the frames' presentation times relative to the first decoded frame.
    """

    kind = "video"

    def __init__(self, path: Union[str, os.PathLike], max_frames: Optional[int] = None,
                 threads: bool = True):
        super().__init__(max_frames)
        import av

        self._av = av
        self.path = Path(path)
        self.name = str(self.path)
        try:
            # ignore_editlist is an option of FFmpeg's mov/mp4 demuxer; other demuxers ignore it.
            self._container = av.open(str(self.path), options={"ignore_editlist": "1"})
        except av.FFmpegError as e:
            raise EdgefaceError(f"cannot open video {self.path}: {_av_reason(e)} (is the file complete "
                                "and a video? re-encode it, e.g. with ffmpeg -i IN -c:v libx264 OUT.mp4)") from None
        if not self._container.streams.video:
            self._container.close()
            raise EdgefaceError(f"{self.path} has no video stream: give a video file, an image or a folder")
        self._stream = self._container.streams.video[0]
        if threads:
            with contextlib.suppress(Exception):
                self._stream.thread_type = "AUTO"
        rate = self._stream.average_rate or self._stream.guessed_rate
        self.fps = float(rate) if rate else None
        self.frame_count = self._cap(int(self._stream.frames) or None)
        cc = self._stream.codec_context
        self.size = (int(cc.width), int(cc.height))

    def _frames(self):
        av = self._av
        # swscale's default YUV->BGR differs between its x86 and aarch64 SIMD paths (up to 2 levels):
        # bit-exact, accurately rounded conversion gives the same pixels on every CPU (PyAV >= 14 flags)
        interp = getattr(av.video.reformatter, "Interpolation", None)
        exact = {}
        if interp is not None and hasattr(interp, "BITEXACT") and hasattr(interp, "ACCURATE_RND"):
            exact = {"interpolation": interp.BILINEAR | interp.ACCURATE_RND | interp.BITEXACT}
        n = 0
        t0 = None
        it = self._container.decode(self._stream)
        while True:
            try:
                vf = next(it)
            except StopIteration:
                break
            except av.FFmpegError as e:
                if n == 0:
                    raise EdgefaceError(f"cannot decode video {self.path}: {_av_reason(e)} (the file is corrupt; "
                                        "re-encode it)") from None
                log.warning("video %s: decoding stopped after %d frames: %s", self.path, n, _av_reason(e))
                break
            img = vf.to_ndarray(format="bgr24", **exact)
            t = vf.time
            if t is not None:
                if t0 is None:
                    t0 = t
                t = float(t - t0)
            elif self.fps:
                t = n / self.fps
            n += 1
            yield np.ascontiguousarray(img), t, self.name
        if n == 0:
            raise EdgefaceError(f"no frames could be decoded from {self.path} (the file is empty or corrupt)")

    def close(self) -> None:
        if not self._closed:
            with contextlib.suppress(Exception):
                self._container.close()
        super().close()


def _av_reason(e: Exception) -> str:
    msg = getattr(e, "strerror", None) or str(e)
    return str(msg).splitlines()[0] if msg else type(e).__name__


class OpenCVVideoSource(FrameSource):
    """A video file via cv2.VideoCapture (fallback when PyAV is missing; may miss edit-listed frames)."""

    kind = "video"

    def __init__(self, path: Union[str, os.PathLike], max_frames: Optional[int] = None):
        super().__init__(max_frames)
        import cv2

        self._cv2 = cv2
        self.path = Path(path)
        self.name = str(self.path)
        self._cap_obj = cv2.VideoCapture(str(self.path))
        if not self._cap_obj.isOpened():
            raise EdgefaceError(f"cannot open video {self.path}: the file is corrupt or in an unsupported format "
                                "(install PyAV: pip install 'edgeface[video]', or re-encode it)")
        fps = self._cap_obj.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and fps > 0 else None
        n = int(self._cap_obj.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frame_count = self._cap(n if n > 0 else None)
        self.size = (int(self._cap_obj.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self._cap_obj.get(cv2.CAP_PROP_FRAME_HEIGHT)))

    def _frames(self):
        cv2 = self._cv2
        n = 0
        while True:
            ok, img = self._cap_obj.read()
            if not ok or img is None:
                break
            ms = self._cap_obj.get(cv2.CAP_PROP_POS_MSEC)
            t = ms / 1000.0 if ms and ms > 0 else (n / self.fps if self.fps else None)
            n += 1
            yield _as_bgr(img), t, self.name
        if n == 0:
            raise EdgefaceError(f"no frames could be decoded from {self.path} (the file is empty or corrupt)")

    def close(self) -> None:
        if not self._closed:
            self._cap_obj.release()
        super().close()


def open_video(path: Union[str, os.PathLike], max_frames: Optional[int] = None, backend: str = "auto") -> FrameSource:
    """A video file source. backend: "auto" (PyAV if installed, else OpenCV), "pyav" or "opencv"."""
    if backend not in ("auto", "pyav", "opencv"):
        raise EdgefaceError(f"unknown video backend {backend!r}: use auto, pyav or opencv")
    if backend == "pyav" or (backend == "auto" and have_pyav()):
        if not have_pyav():
            raise EdgefaceError("PyAV is not installed: pip install 'edgeface[video]' (or use the opencv backend)")
        return PyAVVideoSource(path, max_frames=max_frames)
    if backend == "auto":
        _warn_no_pyav()
    return OpenCVVideoSource(path, max_frames=max_frames)


# ----------------------------------------------------------------------------------- cameras

@contextlib.contextmanager
def _quiet_opencv():
    """Silence OpenCV's own log lines (e.g. VIDEOIO warnings) for the duration of the block."""
    import cv2

    get, set_ = getattr(cv2, "getLogLevel", None), getattr(cv2, "setLogLevel", None)
    if get is None or set_ is None:
        yield
        return
    old = get()
    set_(0)  # LOG_LEVEL_SILENT
    try:
        yield
    finally:
        set_(old)


class CameraLost(Exception):
    """Internal: the camera stopped delivering frames."""


class Picamera2Source(FrameSource):
    """A libcamera camera through picamera2 (Raspberry Pi camera modules).

    `module` is the picamera2 module (or any object with a `Picamera2` class of the same API);
    None imports it. Frames are captured from the "main" stream in RGB888 (BGR in memory).
    Timestamps are seconds since the first capture (monotonic clock).
    """

    kind = "camera"

    def __init__(self, index: int = 0, size: tuple[int, int] = DEFAULT_CAMERA_SIZE, fps: Optional[float] = None,
                 max_frames: Optional[int] = None, module: Any = None, buffer_count: int = 3,
                 clock: Callable[[], float] = time.monotonic):
        super().__init__(max_frames)
        if module is None:
            import picamera2 as module  # type: ignore[no-redef]
        self.index = int(index)
        self.name = f"camera:{self.index}"
        self.frame_count = self.max_frames
        self._clock = clock
        cls = module.Picamera2
        info = None
        if hasattr(cls, "global_camera_info"):
            with contextlib.suppress(Exception):
                info = cls.global_camera_info()
        if info is not None and self.index >= len(info):
            raise EdgefaceError(
                f"no libcamera camera {self.index} ({len(info)} found): check the ribbon cable and "
                "`rpicam-hello --list-cameras`, or pick another index with --camera N")
        self._cam = None
        try:
            cam = cls(camera_num=self.index)
        except Exception as e:
            raise EdgefaceError(f"cannot open camera {self.index} with picamera2: {_first_line(e)} (check the cable, "
                                "that no other program uses the camera, and `rpicam-hello --list-cameras`)") from None
        self._cam = cam
        w, h = int(size[0]), int(size[1])
        controls = {"FrameRate": float(fps)} if fps else {}
        try:
            # small buffer_count + queue=False: each capture returns a fresh frame (low latency)
            config = cam.create_video_configuration(main={"size": (w, h), "format": "RGB888"},
                                                    buffer_count=buffer_count, queue=False, controls=controls)
            cam.configure(config)
            cam.start()
        except Exception as e:
            self._shutdown()
            raise EdgefaceError(f"cannot start camera {self.index} at {w}x{h}: {_first_line(e)} "
                                "(try another --camera-size, e.g. 640x480)") from None
        self.fps = float(fps) if fps else None
        self.size = (w, h)

    def _frames(self):
        t0 = None
        n = 0
        while True:
            try:
                arr = self._cam.capture_array("main")
                if arr is None or not hasattr(arr, "ndim") or arr.ndim not in (2, 3) or arr.size == 0:
                    raise CameraLost("empty frame")
            except Exception as e:
                if n == 0:
                    raise EdgefaceError(f"camera {self.index} gave no frame: {_first_line(e)} "
                                        "(check the cable and `rpicam-hello --list-cameras`)") from None
                log.warning("camera %d lost after %d frames (%s); stopping", self.index, n, _first_line(e))
                return
            now = self._clock()
            if t0 is None:
                t0 = now
            n += 1
            yield _as_bgr(np.asarray(arr)), float(now - t0), self.name

    def _shutdown(self) -> None:
        cam, self._cam = self._cam, None
        if cam is not None:
            with contextlib.suppress(Exception):
                cam.stop()
            with contextlib.suppress(Exception):
                cam.close()

    def close(self) -> None:
        self._shutdown()
        super().close()


class OpenCVCameraSource(FrameSource):
    """A V4L2 / USB camera through cv2.VideoCapture, with a 1-frame buffer for low latency.

    `capture_factory(device, api)` builds the capture object (default cv2.VideoCapture); tests
    pass a stand-in.
    """

    kind = "camera"

    def __init__(self, device: Union[int, str] = 0, size: tuple[int, int] = DEFAULT_CAMERA_SIZE,
                 fps: Optional[float] = None, max_frames: Optional[int] = None,
                 capture_factory: Optional[Callable[..., Any]] = None, clock: Callable[[], float] = time.monotonic):
        super().__init__(max_frames)
        import cv2

        self.device = device
        self.name = f"camera:{device}" if isinstance(device, int) else str(device)
        self.frame_count = self.max_frames
        self._clock = clock
        api = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
        factory = capture_factory or cv2.VideoCapture
        with _quiet_opencv():  # OpenCV logs its own warnings for a missing camera; we say it in one line
            cap = factory(device, api)
        if not cap.isOpened():
            with contextlib.suppress(Exception):
                cap.release()
            raise EdgefaceError(
                f"no camera at {self.name}: connect a camera (see `ls /dev/video*`), pick another with --camera N, "
                "or install picamera2 for a Raspberry Pi camera module")
        w, h = int(size[0]), int(size[1])
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, w)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, h)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        if fps:
            cap.set(cv2.CAP_PROP_FPS, float(fps))
        got = cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(got) if got and got > 0 else (float(fps) if fps else None)
        self.size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) or w, int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) or h)
        self._cap_obj = cap

    def _frames(self):
        n = 0
        failed = 0
        t0 = None
        while True:
            try:
                ok, img = self._cap_obj.read()
                err = None
            except Exception as e:  # a driver error mid-run
                ok, img, err = False, None, e
            if not ok or img is None:
                failed += 1
                if failed < _CAMERA_MAX_FAILED_READS and err is None:
                    continue
                why = _first_line(err) if err is not None else f"{failed} failed reads"
                if n == 0:
                    raise EdgefaceError(f"camera {self.name} opened but gave no frame ({why}): check that no other "
                                        "program uses it, or try another --camera-size")
                log.warning("camera %s lost after %d frames (%s); stopping", self.name, n, why)
                return
            failed = 0
            now = self._clock()
            if t0 is None:
                t0 = now
            n += 1
            yield _as_bgr(img), float(now - t0), self.name

    def close(self) -> None:
        if not self._closed:
            with contextlib.suppress(Exception):
                self._cap_obj.release()
        super().close()


def _first_line(e: BaseException) -> str:
    s = str(e).strip()
    return s.splitlines()[0] if s else type(e).__name__


def _import_picamera2():
    try:
        import picamera2  # type: ignore
    except Exception:
        return None
    return picamera2


def open_camera(index: Union[int, str] = 0, size: tuple[int, int] = DEFAULT_CAMERA_SIZE, fps: Optional[float] = None,
                max_frames: Optional[int] = None, backend: str = "auto", picamera2_module: Any = None,
                capture_factory: Optional[Callable[..., Any]] = None) -> FrameSource:
    """A live camera. backend: "auto" (picamera2 when importable and it sees a camera, else OpenCV),
    "picamera2" or "opencv". `index` may also be a device path such as /dev/video2 (OpenCV only)."""
    if backend not in ("auto", "picamera2", "opencv"):
        raise EdgefaceError(f"unknown camera backend {backend!r}: use auto, picamera2 or opencv")
    if isinstance(index, str) and index.isdigit():
        index = int(index)
    if backend in ("auto", "picamera2") and isinstance(index, int):
        module = picamera2_module or _import_picamera2()
        if module is None and backend == "picamera2":
            raise EdgefaceError("picamera2 is not installed: sudo apt install python3-picamera2 "
                                "(and create the venv with --system-site-packages)")
        if module is not None:
            if backend == "picamera2" or picamera2_module is not None:
                return Picamera2Source(index, size=size, fps=fps, max_frames=max_frames, module=module)
            try:
                return Picamera2Source(index, size=size, fps=fps, max_frames=max_frames, module=module)
            except EdgefaceError as e:
                log.info("picamera2: %s; trying OpenCV", e)
    elif backend == "picamera2":
        raise EdgefaceError(f"picamera2 takes a camera number, not {index!r}")
    return OpenCVCameraSource(index, size=size, fps=fps, max_frames=max_frames, capture_factory=capture_factory)


_CAMERA_SPEC = re.compile(r"^(?:camera|cam)(?::(\d+))?$", re.IGNORECASE)


def parse_size(spec: Union[str, Sequence[int]]) -> tuple[int, int]:
    """'640x480' -> (640, 480) with a clear error for a bad value."""
    if not isinstance(spec, str):
        w, h = (int(v) for v in spec)
        return w, h
    m = re.fullmatch(r"\s*(\d+)\s*[xX*,]\s*(\d+)\s*", spec)
    if not m or int(m.group(1)) < 16 or int(m.group(2)) < 16:
        raise EdgefaceError(f"bad size {spec!r}: expected WIDTHxHEIGHT, e.g. 640x480")
    return int(m.group(1)), int(m.group(2))


def open_source(spec: Union[str, int, os.PathLike], *, max_frames: Optional[int] = None,
                camera_size: Union[str, tuple[int, int]] = DEFAULT_CAMERA_SIZE, camera_fps: Optional[float] = None,
                camera_backend: str = "auto", video_backend: str = "auto", picamera2_module: Any = None,
                capture_factory: Optional[Callable[..., Any]] = None) -> FrameSource:
    """Open an input: an image file, a folder of images, a video file, or a camera.

    spec: a path; `samples:<key>` for a cached sample (emma, trump_hillary, jianzhuguo, group,
    obama); `camera` / `camera:N` / an int N / `/dev/videoN` for a live camera.
    max_frames: stop after this many frames (None: all).
    """
    if isinstance(spec, int) and not isinstance(spec, bool):
        return open_camera(spec, size=parse_size(camera_size), fps=camera_fps, max_frames=max_frames,
                           backend=camera_backend, picamera2_module=picamera2_module, capture_factory=capture_factory)
    s = os.fspath(spec)
    if s.startswith("samples:"):
        from .assets import sample_path

        s = str(sample_path(s.split(":", 1)[1]))
    m = _CAMERA_SPEC.match(s)
    if m:
        return open_camera(int(m.group(1) or 0), size=parse_size(camera_size), fps=camera_fps, max_frames=max_frames,
                           backend=camera_backend, picamera2_module=picamera2_module, capture_factory=capture_factory)
    if s.startswith("/dev/video"):
        if not Path(s).exists():
            raise EdgefaceError(f"no camera device {s}: see `ls /dev/video*` for the cameras present")
        return open_camera(s, size=parse_size(camera_size), fps=camera_fps, max_frames=max_frames,
                           backend="opencv", capture_factory=capture_factory)
    path = Path(s).expanduser()
    if not path.exists():
        raise EdgefaceError(f"input not found: {path} (give an image, a folder of images, a video file, or --camera)")
    if path.is_dir():
        images = list_images(path)
        if not images:
            raise EdgefaceError(f"no images in folder {path} (expected files such as .jpg or .png)")
        return ImageSource(images, name=str(path), max_frames=max_frames)
    ext = path.suffix.lower()
    if ext in IMAGE_EXTS:
        return ImageSource([path], max_frames=max_frames)
    if ext in VIDEO_EXTS:
        return open_video(path, max_frames=max_frames, backend=video_backend)
    raise EdgefaceError(f"unsupported input type {ext or '(no extension)'} for {path}: give an image "
                        f"({', '.join(sorted(['.jpg', '.png', '.bmp', '.webp']))}...), a video (.mp4, .avi, .mov, .mkv...) "
                        "or a folder of images")
