"""Live cameras: `open_camera`, picamera2 (libcamera) and OpenCV (V4L2) readers.

On a Raspberry Pi with picamera2 installed, libcamera cameras are read through picamera2 (format
RGB888, which is BGR byte order in memory, so frames need no conversion); otherwise OpenCV's V4L2
reader is used. picamera2 installed but failing to import (apt's modules beside pip's numpy) is an
error naming the cause and the fix (`sources.camera_import`), never a silent fall-back on V4L2,
which cannot read a camera module under libcamera; libcamera listing no camera says so. A camera that stops delivering frames mid-run ends the iteration with a warning
(the sinks keep what they wrote); a camera that cannot be opened at all is a one-line
`EdgefaceError`.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from typing import Any, Callable, Optional, Union

import numpy as np

from edgeface.errors import EdgefaceError
from edgeface.sources.camera_import import Picamera2Probe, probe_picamera2
from edgeface.sources.camera_timeout import (DEFAULT_READ_TIMEOUT_S, FIRST_FRAME_TIMEOUT_S, ReadTimeout,
                                        ReconnectingCamera, TimedReads)
from edgeface.frames import FrameSource, as_bgr

log = logging.getLogger(__name__)

#: what the no-camera errors suggest: the simulated camera (`sources.sim_camera`) on the bundled sample video
SIM_HINT = "--source sim:samples:obama@30 (a sample video played as a 30 fps camera)"

DEFAULT_CAMERA_SIZE = (640, 480)
CAMERA_BACKENDS = ("auto", "picamera2", "opencv")
# consecutive failed reads after which an OpenCV camera counts as lost
_CAMERA_MAX_FAILED_READS = 3


@contextlib.contextmanager
def _quiet_opencv():
    """Silence OpenCV's own log lines (e.g. VIDEOIO warnings) for the duration of the block."""
    import cv2

    get, set_ = getattr(cv2, "getLogLevel", None), getattr(cv2, "setLogLevel", None)
    if get is None or set_ is None:  # OpenCV 5 keeps them in cv2.utils.logging only
        logging_mod = getattr(getattr(cv2, "utils", None), "logging", None)
        get, set_ = getattr(logging_mod, "getLogLevel", None), getattr(logging_mod, "setLogLevel", None)
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
    Timestamps are milliseconds since the first capture (monotonic clock).
    """

    kind = "camera"

    def __init__(self, index: int = 0, size: tuple[int, int] = DEFAULT_CAMERA_SIZE, fps: Optional[float] = None,
                 max_frames: Optional[int] = None, module: Any = None, buffer_count: int = 3,
                 clock: Callable[[], float] = time.monotonic, read_timeout_s: float = DEFAULT_READ_TIMEOUT_S):
        super().__init__(max_frames)
        self.read_timeout_s = float(read_timeout_s)
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
        if info is not None and not info:
            raise EdgefaceError("libcamera found no camera: check the ribbon cable (contacts facing the board's "
                                "connector, latch closed) and `rpicam-hello --list-cameras`; a USB camera: "
                                "--camera-backend opencv")
        if info is not None and self.index >= len(info):
            raise EdgefaceError(
                f"no libcamera camera {self.index} ({len(info)} found): check the ribbon cable and "
                f"`rpicam-hello --list-cameras`, or pick another index with --camera N; without a camera, try {SIM_HINT}")
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
        reads = TimedReads(lambda: self._cam.capture_array("main"), self.read_timeout_s, self.name)
        self._reads = reads
        while True:
            try:
                arr = reads.read(None if n else max(self.read_timeout_s, FIRST_FRAME_TIMEOUT_S))
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
            yield as_bgr(np.asarray(arr)), float(now - t0) * 1000.0, self.name

    def _shutdown(self) -> None:
        reads, self._reads = getattr(self, "_reads", None), None
        if reads is not None:
            reads.close()
            if reads.stuck:  # the driver still holds the worker: stopping could block as well
                log.warning("camera %d did not answer; leaving it to the driver", self.index)
                self._cam = None
                return
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
                 capture_factory: Optional[Callable[..., Any]] = None, clock: Callable[[], float] = time.monotonic,
                 read_timeout_s: float = DEFAULT_READ_TIMEOUT_S):
        super().__init__(max_frames)
        import cv2

        self.read_timeout_s = float(read_timeout_s)
        self._reads: Optional[TimedReads] = None
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
                f"or install picamera2 for a Raspberry Pi camera module; without a camera, try {SIM_HINT}")
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
        self._reads = reads = TimedReads(self._cap_obj.read, self.read_timeout_s, self.name)
        while True:
            try:
                ok, img = reads.read(None if n else max(self.read_timeout_s, FIRST_FRAME_TIMEOUT_S))
                err = None
            except ReadTimeout as e:  # stalled or unplugged: lost now, no retries
                ok, img, err = False, None, e
                failed = _CAMERA_MAX_FAILED_READS
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
            yield as_bgr(img), float(now - t0) * 1000.0, self.name

    def _release(self) -> None:
        reads, self._reads = self._reads, None
        if reads is not None:
            reads.close()
            if reads.stuck:  # release() would block on the same driver call
                log.warning("camera %s did not answer; leaving it to the driver", self.name)
                return
        self._cap_obj.release()


def _first_line(e: BaseException) -> str:
    s = str(e).strip()
    return s.splitlines()[0] if s else type(e).__name__


def _open_camera(index, size, fps, max_frames, backend, picamera2_module, capture_factory, read_timeout_s) -> FrameSource:
    if backend not in CAMERA_BACKENDS:
        raise EdgefaceError(f"unknown camera backend {backend!r}: use auto, picamera2 or opencv")
    if isinstance(index, str) and index.isdigit():
        index = int(index)
    check_camera_index(index)
    opencv_kw = dict(size=size, fps=fps, max_frames=max_frames, capture_factory=capture_factory,
                     read_timeout_s=read_timeout_s)
    if backend == "opencv":
        return _noted(OpenCVCameraSource(index, **opencv_kw), "camera backend opencv (--camera-backend opencv)")
    if not isinstance(index, int):
        if backend == "picamera2":
            raise EdgefaceError(f"picamera2 takes a camera number, not {index!r}: --camera 0, or --camera-backend opencv "
                                "for a V4L2 device")
        return _noted(OpenCVCameraSource(index, **opencv_kw), f"camera backend opencv ({index} is a V4L2 device)")
    probe = Picamera2Probe(module=picamera2_module, installed=True) if picamera2_module is not None else probe_picamera2()
    if probe.installed and not probe.ok:  # never a silent fall-back on V4L2: say why and what to do
        tail = " (a USB camera: --camera-backend opencv)" if backend == "auto" else ""
        raise EdgefaceError(f"{probe.summary}. Fix: {probe.fix}{tail}")
    if not probe.ok:
        if backend == "picamera2":
            raise EdgefaceError(f"picamera2 is not installed: {probe.fix}")
        return _noted(OpenCVCameraSource(index, **opencv_kw), "camera backend opencv (auto: picamera2 is not installed)")
    pi_kw = dict(size=size, fps=fps, max_frames=max_frames, module=probe.module, read_timeout_s=read_timeout_s)
    if backend == "picamera2":
        return _noted(Picamera2Source(index, **pi_kw), "camera backend picamera2 (--camera-backend picamera2)")
    try:
        src = Picamera2Source(index, **pi_kw)
    except EdgefaceError as e:
        why = str(e)
        try:
            cv = OpenCVCameraSource(index, **opencv_kw)
        except EdgefaceError as e2:
            raise EdgefaceError(f"no camera: picamera2: {why}; OpenCV: {e2}") from None
        return _noted(cv, f"camera backend opencv (auto: picamera2 imports, but {_lower_first(why)})")
    return _noted(src, f"camera backend picamera2 (auto: picamera2 imports and libcamera lists camera {index})")


def _lower_first(s: str) -> str:
    return s[:1].lower() + s[1:]


def _noted(src: FrameSource, note: str) -> FrameSource:
    """`src` with `backend_note`: which backend was taken and why (the CLI prints it)."""
    src.backend_note = note  # type: ignore[attr-defined]
    return src


#: the largest camera index (V4L2 numbers its devices /dev/video0 ... /dev/video255)
MAX_CAMERA_INDEX = 255


def check_camera_index(index: Union[int, str]) -> None:
    """A camera index must be an integer 0..MAX_CAMERA_INDEX (or a /dev/video device path): one line if not."""
    if isinstance(index, str):
        if index.startswith("/dev/video") and index[len("/dev/video"):].isdigit():
            return
        raise EdgefaceError(f"bad camera {index!r}: give an index 0-{MAX_CAMERA_INDEX} or a device such as /dev/video2")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= MAX_CAMERA_INDEX:
        raise EdgefaceError(f"bad camera index {index!r}: give 0-{MAX_CAMERA_INDEX} (`ls /dev/video*` lists the "
                            "cameras present; 0 is the first)")


def open_camera(index: Union[int, str] = 0, size: tuple[int, int] = DEFAULT_CAMERA_SIZE, fps: Optional[float] = None,
                max_frames: Optional[int] = None, backend: str = "auto", picamera2_module: Any = None,
                capture_factory: Optional[Callable[..., Any]] = None, read_timeout_s: float = DEFAULT_READ_TIMEOUT_S,
                reconnect: int = 0) -> FrameSource:
    """A live camera. backend: "auto" (picamera2 when it imports and libcamera lists the camera, else OpenCV),
    "picamera2" or "opencv". `index` may also be a device path such as /dev/video2 (OpenCV only).
    picamera2 installed but failing to import is an `EdgefaceError` with the cause and the fix
    (`sources.camera_import`), never a silent fall-back on OpenCV. The source's `backend_note` says
    which backend was taken and why. A read that gives no frame within `read_timeout_s` means the
    camera is lost; `reconnect` N opens it again up to N times in a row (`ReconnectingCamera`)."""
    if reconnect:
        cam = ReconnectingCamera(lambda: _open_camera(index, size, fps, None, backend, picamera2_module,
                                                      capture_factory, read_timeout_s), reconnect, max_frames)
        return _noted(cam, getattr(cam._src, "backend_note", ""))  # noqa: SLF001
    return _open_camera(index, size, fps, max_frames, backend, picamera2_module, capture_factory, read_timeout_s)
