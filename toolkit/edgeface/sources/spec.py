"""Opening an input by name (`open_source`): an image, a folder of images, a video file, or a camera.

`open_source(spec)` returns a `FrameSource`: an iterable of `Frame` that is also a context manager
and tells what it knows about itself (`name`, `fps`, `frame_count`, `is_still`).

    with open_source("clip.mp4", max_frames=100) as src:
        for frame in src:          # Frame(index, image BGR uint8 HxWx3, timestamp_ms, source)
            ...

Cameras: `camera`, `camera:N` (or an int N, or `/dev/videoN`). The kinds live in their own modules:
`frames` (Frame, FrameSource, the extensions), `images`, `video`, `cameras`.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any, Callable, Optional, Union

from edgeface.errors import EdgefaceError
from edgeface.hub.assets import sample_path
from edgeface.sources.camera_timeout import DEFAULT_READ_TIMEOUT_S
from edgeface.sources.cameras import DEFAULT_CAMERA_SIZE, open_camera
from edgeface.frames import IMAGE_EXTS, VIDEO_EXTS, FrameSource
from edgeface.sources.image_header import DEFAULT_MAX_PIXELS
from edgeface.sources.images import ImageSource, list_images
from edgeface.sources.sim_camera import open_sim_camera
from edgeface.sources.video import open_video
from edgeface.vocab import parse_size

#: the bundled samples (models/samples.toml): `samples:NAME`
SAMPLES = ("emma", "trump_hillary", "jianzhuguo", "group", "obama")

#: every input `open_source` takes, in the words of `edgeface run --source`'s help (one vocabulary)
SOURCE_HELP = ("Input: an image (.jpg, .png...), a folder of images, a video file (.mp4, .avi, .mov, .mkv...), "
               "camera or camera:N or /dev/videoN (a live camera), sim:VIDEO[@FPS] (a video played as a live camera "
               "on a real clock, e.g. sim:samples:obama@30), or samples:NAME (a bundled sample: " + ", ".join(SAMPLES) + ").")

_CAMERA_SPEC = re.compile(r"^(?:camera|cam)(?::(\d+))?$", re.IGNORECASE)


def _not_regular(path: Path) -> str:
    mode = path.stat().st_mode
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return ""


def input_path(spec: Union[str, int, os.PathLike]) -> Optional[Path]:
    """The file or folder an input spec reads (None for a camera, or a path that does not exist): what
    outputs are checked against (`hub.output_guard`)."""
    if isinstance(spec, int):
        return None
    s = os.fspath(spec)
    if s.startswith("sim:"):
        s = s[4:].rsplit("@", 1)[0]
    if s.startswith("samples:"):
        try:
            s = str(sample_path(s.split(":", 1)[1]))
        except EdgefaceError:
            return None
    if _CAMERA_SPEC.match(s) or s.startswith("/dev/video"):
        return None
    path = Path(s).expanduser()
    return path if path.exists() else None


def open_source(spec: Union[str, int, os.PathLike], *, max_frames: Optional[int] = None,
                camera_size: Union[str, tuple[int, int]] = DEFAULT_CAMERA_SIZE, camera_fps: Optional[float] = None,
                camera_backend: str = "auto", video_backend: str = "auto", picamera2_module: Any = None,
                capture_factory: Optional[Callable[..., Any]] = None, camera_timeout_s: float = DEFAULT_READ_TIMEOUT_S,
                reconnect: int = 0, bitexact: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS) -> FrameSource:
    """Open an input: an image file, a folder of images, a video file, or a camera.

    spec: a path; `samples:<key>` for a cached sample (emma, trump_hillary, jianzhuguo, group,
    obama); `camera` / `camera:N` / an int N / `/dev/videoN` for a live camera; `sim:<video>[@fps]`
    for a video delivered on a real clock like a camera (`sources.sim_camera`).
    max_frames: stop after this many frames (None: all).
    camera_timeout_s: a camera read that gives no frame in this time means the camera is lost;
    reconnect: then open it again up to this many times in a row (0: the run ends, keeping its output).
    bitexact: video files (and `sim:` videos) with PyAV's bit-exact YUV->BGR conversion, the same
    pixels on every CPU (`sources.video`; slower): for cross-CPU parity checks.
    max_pixels: images whose header declares more pixels are refused before decoding (in a folder:
    skipped and counted); default 50 MP (`sources.image_header`).
    """
    cam_kw = dict(read_timeout_s=camera_timeout_s, reconnect=reconnect)
    if isinstance(spec, int) and not isinstance(spec, bool):
        return open_camera(spec, size=parse_size(camera_size), fps=camera_fps, max_frames=max_frames,
                           backend=camera_backend, picamera2_module=picamera2_module, capture_factory=capture_factory,
                           **cam_kw)
    s = os.fspath(spec)
    if s.startswith("sim:"):  # a video played as a camera on a real clock (sources.sim_camera)
        return open_sim_camera(s, max_frames=max_frames, bitexact=bitexact)
    if s.startswith("samples:"):
        key = s.split(":", 1)[1]
        if key not in SAMPLES:
            raise EdgefaceError(f"unknown sample {key!r}: use samples:NAME with NAME one of {', '.join(SAMPLES)} "
                                "(e.g. --source samples:obama, the sample video)")
        s = str(sample_path(key))
    m = _CAMERA_SPEC.match(s)
    if m:
        return open_camera(int(m.group(1) or 0), size=parse_size(camera_size), fps=camera_fps, max_frames=max_frames,
                           backend=camera_backend, picamera2_module=picamera2_module, capture_factory=capture_factory,
                           **cam_kw)
    if s.startswith("/dev/video"):
        if not Path(s).exists():
            raise EdgefaceError(f"no camera device {s}: see `ls /dev/video*` for the cameras present")
        return open_camera(s, size=parse_size(camera_size), fps=camera_fps, max_frames=max_frames,
                           backend=camera_backend, capture_factory=capture_factory, **cam_kw)
    path = Path(s).expanduser()
    if not path.exists():
        raise EdgefaceError(f"input not found: {path} (give an image, a folder of images, a video file, or --camera)")
    if path.is_dir():
        images = list_images(path)
        if not images:
            raise EdgefaceError(f"no images in folder {path} (expected files such as .jpg or .png)")
        return ImageSource(images, name=str(path), max_frames=max_frames, max_pixels=max_pixels)
    kind = _not_regular(path)
    if kind:  # a FIFO would block the read forever, a device would be read without end
        raise EdgefaceError(f"input {path} is {kind}, not a file: give an image, a folder of images or a video "
                            "file (a camera: --camera)")
    ext = path.suffix.lower()
    if ext in IMAGE_EXTS:
        return ImageSource([path], max_frames=max_frames, max_pixels=max_pixels)
    if ext in VIDEO_EXTS:
        return open_video(path, max_frames=max_frames, backend=video_backend, exact=bitexact)
    raise EdgefaceError(f"unsupported input type {ext or '(no extension)'} for {path}: give an image "
                        f"({', '.join(sorted(['.jpg', '.png', '.bmp', '.webp']))}...), a video (.mp4, .avi, .mov, .mkv...) "
                        "or a folder of images")
