"""Camera reads time out (a stalled sensor, an unplugged USB camera) and `--reconnect N` opens the
camera again. There is no camera on the test machine: the driver calls are stand-ins that block
the way a stalled V4L2 read or picamera2 capture does."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from edgeface.errors import EdgefaceError, OptionsError
from edgeface.sources.camera_timeout import ReadTimeout, ReconnectingCamera, TimedReads
from edgeface.sources.cameras import OpenCVCameraSource, Picamera2Source, open_camera
from test_sources import FakeCapture, fake_module

STALL = threading.Event()  # never set: a read that waits on it hangs like a stalled driver
STALL_S = 30  # how long such a read hangs: a read that ends sooner was ended by the timeout


class StallingCapture(FakeCapture):
    def read(self):
        if self.reads >= self.frames:
            STALL.wait(STALL_S)
        return super().read()


def test_timed_reads_returns_passes_errors_and_times_out():
    r = TimedReads(lambda: 42, 0.5)
    assert r.read() == 42 and r.read() == 42
    r.close()
    boom = TimedReads(lambda: 1 / 0, 0.5)
    with pytest.raises(ZeroDivisionError):
        boom.read()
    boom.close()
    slow = TimedReads(lambda: STALL.wait(STALL_S), 0.2)
    t0 = time.perf_counter()
    with pytest.raises(ReadTimeout, match="no frame for 0.2 s"):
        slow.read()
    assert time.perf_counter() - t0 < STALL_S and slow.stuck
    with pytest.raises(ReadTimeout):  # never reused while stuck in the driver
        slow.read()
    slow.close()
    with pytest.raises(OptionsError):
        TimedReads(lambda: 1, 0)


def test_v4l2_read_that_stalls_ends_the_run_with_the_frames_kept(caplog):
    cap = StallingCapture(frames=3)
    with caplog.at_level(logging.WARNING):
        t0 = time.perf_counter()
        with open_camera(0, size=(160, 120), backend="opencv", capture_factory=lambda d, a: cap,
                         read_timeout_s=0.3) as src:
            assert isinstance(src, OpenCVCameraSource)
            frames = list(src)
        took = time.perf_counter() - t0
    assert len(frames) == 3 and took < STALL_S
    assert "lost after 3 frames" in caplog.text and "no frame for 0.3 s" in caplog.text


def test_picamera2_capture_that_stalls_ends_the_run(caplog):
    mod = fake_module()

    class Stalling(mod.Picamera2):
        def capture_array(self, name="main"):
            if self.captured >= 2:
                STALL.wait(STALL_S)
            return super().capture_array(name)

    mod.Picamera2 = Stalling
    with caplog.at_level(logging.WARNING):
        src = Picamera2Source(0, size=(64, 48), module=mod, read_timeout_s=0.3)
        t0 = time.perf_counter()
        frames = list(src)
        src.close()
    assert len(frames) == 2 and time.perf_counter() - t0 < STALL_S
    assert "lost after 2 frames" in caplog.text


def test_reconnect_opens_the_camera_again_and_keeps_time_increasing(caplog):
    made = []

    def opener():
        n = len(made)
        if n >= 3:  # unplugged for good
            raise EdgefaceError("no camera at camera:0: connect a camera")
        cap = FakeCapture(frames=[2, 3, 1][n])
        made.append(cap)
        return OpenCVCameraSource(0, size=(32, 24), capture_factory=lambda d, a: cap, read_timeout_s=1.0)

    waits = []
    with caplog.at_level(logging.WARNING):
        src = ReconnectingCamera(opener, attempts=2, sleep=waits.append)
        frames = list(src)
        src.close()
    assert len(frames) == 2 + 3 + 1 and src.reconnects == 2
    ts = [f.timestamp_ms for f in frames]
    assert all(b > a for a, b in zip(ts, ts[1:]))
    assert [f.index for f in frames] == list(range(6))
    assert all(c.released for c in made)
    assert waits == [1.0, 1.0, 1.0, 2.0]  # each loss starts a new series of attempts: 1 s, then 2 s
    assert "gave up after 2 reconnection attempts" in caplog.text


def test_reconnect_zero_is_no_wrapper_and_negative_is_refused():
    src = open_camera(0, backend="opencv", capture_factory=lambda d, a: FakeCapture(frames=1), reconnect=0)
    assert isinstance(src, OpenCVCameraSource)
    src.close()
    with pytest.raises(OptionsError, match="--reconnect"):
        ReconnectingCamera(lambda: None, attempts=-1)
