"""Video files: `open_video` and its two readers.

Video files are decoded with PyAV when it is installed (extra "video"), with the MP4 edit list
ignored so that every coded frame comes out: the sample obama.mp4 has 158 frames of which
OpenCV's reader shows only 55 because its edit list starts late. Without PyAV, OpenCV reads the
file and a one-time warning says that edit-listed MP4s may lose frames.

YUV -> BGR: swscale's default conversion (fast, SIMD) by default. Its x86 and aarch64 SIMD paths
differ by up to 2 levels on most pixels, so where the same pixels are needed on every CPU (the
emulated-ARM parity checks, tests/arm) pass `exact=True` (`edgeface run --bitexact`):
`BILINEAR | ACCURATE_RND | BITEXACT`, identical on every CPU and ~6x slower (docs/benchmarks/performance.md:
about 2.6 vs 0.4 ms per 1280x720 frame here).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from pathlib import Path
from typing import Optional, Union

import numpy as np

from edgeface.errors import EdgefaceError
from edgeface.frames import FrameSource, as_bgr

log = logging.getLogger(__name__)


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
                 threads: bool = True, exact: bool = False):
        super().__init__(max_frames)
        import av

        self.exact = bool(exact)
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
        exact = exact_conversion(av) if self.exact else {}
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
            yield np.ascontiguousarray(img), None if t is None else t * 1000.0, self.name
        if n == 0:
            raise EdgefaceError(f"no frames could be decoded from {self.path} (the file is empty or corrupt)")

    def _release(self) -> None:
        self._container.close()


def exact_conversion(av) -> dict:
    """`to_ndarray` keywords for a bit-exact, accurately rounded YUV->BGR conversion: the same pixels
    on every CPU (swscale's default SIMD paths differ between x86 and aarch64 by up to 2 levels).
    Needs PyAV >= 14 (its `Interpolation` flags); older PyAV gets its default conversion."""
    interp = getattr(av.video.reformatter, "Interpolation", None)
    if interp is not None and hasattr(interp, "BITEXACT") and hasattr(interp, "ACCURATE_RND"):
        return {"interpolation": interp.BILINEAR | interp.ACCURATE_RND | interp.BITEXACT}
    return {}


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
            yield as_bgr(img), None if t is None else t * 1000.0, self.name
        if n == 0:
            raise EdgefaceError(f"no frames could be decoded from {self.path} (the file is empty or corrupt)")

    def _release(self) -> None:
        self._cap_obj.release()


def open_video(path: Union[str, os.PathLike], max_frames: Optional[int] = None, backend: str = "auto",
               exact: bool = False) -> FrameSource:
    """A video file source. backend: "auto" (PyAV if installed, else OpenCV), "pyav" or "opencv".
    exact: PyAV's bit-exact YUV->BGR conversion (the same pixels on every CPU; slower): for
    cross-CPU parity checks. OpenCV's reader has no such option (it refuses `exact=True`)."""
    if backend not in ("auto", "pyav", "opencv"):
        raise EdgefaceError(f"unknown video backend {backend!r}: use auto, pyav or opencv")
    if backend == "pyav" or (backend == "auto" and have_pyav()):
        if not have_pyav():
            raise EdgefaceError("PyAV is not installed: pip install 'edgeface[video]' (or use the opencv backend)")
        return PyAVVideoSource(path, max_frames=max_frames, exact=exact)
    if exact:
        raise EdgefaceError("bit-exact video decoding needs PyAV: pip install 'edgeface[video]'")
    if backend == "auto":
        _warn_no_pyav()
    return OpenCVVideoSource(path, max_frames=max_frames)
