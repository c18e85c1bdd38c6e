"""The encoders behind `sinks.video.VideoSink`: H.264 through PyAV, else OpenCV's writer.

`open_encoder(tmp_path, ext, fps, size, device=HW_DEVICE)` picks, for .mp4 / .m4v / .mov:

1. `h264_v4l2m2m`, the Raspberry Pi 4's hardware H.264 encoder, when PyAV has it and the board has its
   device (`/dev/video11`). UNPROVEN: written to FFmpeg's documentation, not yet run on a board; the line
   it prints says so. When it does not open, libx264 takes over, with one line saying why.
2. `libx264` (PyAV's wheels bundle FFmpeg built with x264, GPL): H.264, yuv420p, even width and height
   (an odd size is padded by one edge pixel), which every browser plays.
3. OpenCV's `mp4v` (MPEG-4 Part 2, which Chrome and Firefox do not play) when PyAV is not installed or has
   no H.264 encoder, with one line saying why and how to get H.264. `.avi` is always OpenCV's MJPG.

Each encoder: `write(bgr)`, `close()` (flushes; the file is complete after it), `abort()`, `codec`.
"""

from __future__ import annotations

import contextlib
import logging
from fractions import Fraction
from pathlib import Path

import numpy as np

from edgeface.errors import EdgefaceError

log = logging.getLogger(__name__)

OPENCV_FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG"}
CONTAINER = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov"}  # what PyAV writes H.264 into
HW_ENCODER = "h264_v4l2m2m"
HW_DEVICE = Path("/dev/video11")  # the Pi 4's bcm2835-codec encoder node
SW_ENCODER = "libx264"
HW_NOTE = "unproven: not yet run on a board"


def _import_av():
    try:
        import av  # lazy: PyAV is the optional [video] extra (FFmpeg); OpenCV writes the video without it
    except Exception:
        return None
    return av


class OpenCVEncoder:
    """cv2.VideoWriter with a FourCC (mp4v / MJPG)."""

    def __init__(self, path: Path, fourcc: str, fps: float, size: tuple[int, int]):
        import cv2  # lazy: OpenCV's import costs ~0.2 s, only a video output needs it here

        self.codec = fourcc
        self.size = size
        self._w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
        if not self._w.isOpened():
            raise EdgefaceError(f"OpenCV cannot write {fourcc} video to {path.name}: write .avi instead, "
                                "or install an OpenCV build with FFmpeg")

    def write(self, bgr: np.ndarray) -> None:
        self._w.write(np.ascontiguousarray(bgr))

    def close(self) -> None:
        self._w.release()

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._w.release()


class PyAVEncoder:
    """H.264 in MP4 / MOV through PyAV (libx264, or a hardware encoder), yuv420p, even dimensions."""

    def __init__(self, av, path: Path, ext: str, codec: str, fps: float, size: tuple[int, int]):
        self.codec = codec
        self.size = size
        self._pad = (size[1] % 2, size[0] % 2)  # rows, columns added to make both even
        self._av = av
        self._n = 0
        rate = Fraction(fps).limit_denominator(1001)
        self._container = av.open(str(path), mode="w", format=CONTAINER[ext])
        try:
            stream = self._container.add_stream(codec, rate=rate)
            stream.width, stream.height = size[0] + self._pad[1], size[1] + self._pad[0]
            stream.pix_fmt = "yuv420p"
            stream.codec_context.time_base = 1 / rate
            if codec == SW_ENCODER:
                stream.options = {"crf": "23", "preset": "superfast"}  # docs/guides/video-output.md: CPU vs size
            else:  # hardware encoders take a bit rate, not a quality: ~0.1 bit per pixel and frame
                stream.bit_rate = int(max(1_000_000, 0.1 * stream.width * stream.height * float(rate)))
            stream.codec_context.open()  # fails now, not on the first frame, if the encoder cannot run here
        except BaseException:
            self.abort()
            raise
        self._stream = stream

    def write(self, bgr: np.ndarray) -> None:
        if self._pad != (0, 0):
            bgr = np.pad(bgr, ((0, self._pad[0]), (0, self._pad[1]), (0, 0)), mode="edge")
        frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(bgr), format="bgr24")
        frame.pts = self._n
        self._n += 1
        self._container.mux(self._stream.encode(frame))

    def close(self) -> None:
        try:
            self._container.mux(self._stream.encode(None))  # the encoder's buffered frames
        finally:
            self._container.close()

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._container.close()


def _reason(e: BaseException) -> str:
    return (str(e).splitlines() or [type(e).__name__])[0]


def open_encoder(path: Path, ext: str, fps: float, size: tuple[int, int], device: Path = HW_DEVICE):
    """The encoder for a video at `path` (a temporary file with the destination's extension `ext`)."""
    if ext not in CONTAINER:
        return OpenCVEncoder(path, OPENCV_FOURCC[ext], fps, size)
    av = _import_av()
    if av is None:
        why = "PyAV is not installed (pip install 'edgeface[video]' for H.264)"
    else:
        available = getattr(av, "codecs_available", set())
        if HW_ENCODER in available and device.exists():
            try:
                enc = PyAVEncoder(av, path, ext, HW_ENCODER, fps, size)
                log.warning("video: H.264 with %s, this board's hardware encoder (%s)", HW_ENCODER, HW_NOTE)
                return enc
            except Exception as e:  # the device is busy, or the driver refuses this size: software encoding
                log.warning("video: the hardware encoder %s did not open (%s): encoding with %s",
                            HW_ENCODER, _reason(e), SW_ENCODER)
        if SW_ENCODER in available:
            try:
                return PyAVEncoder(av, path, ext, SW_ENCODER, fps, size)
            except Exception as e:
                why = f"PyAV's {SW_ENCODER} did not open ({_reason(e)})"
        else:
            why = f"this PyAV's FFmpeg has no {SW_ENCODER} encoder"
    log.warning("video: %s: writing MPEG-4 Part 2 (mp4v), which Chrome and Firefox do not play", why)
    return OpenCVEncoder(path, OPENCV_FOURCC[ext], fps, size)
