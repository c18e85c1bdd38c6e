"""Frame sources: images, folders, video files (all 158 frames of obama.mp4), cameras (stand-ins)."""

from __future__ import annotations

import logging
import shutil
import types
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeface.sources import cameras
from edgeface.sources import video
from edgeface.errors import EdgefaceError
from edgeface.sources.cameras import open_camera
from edgeface.frames import Frame
from edgeface.sources.spec import open_source
from edgeface.sources.video import open_video
from edgeface.vocab import parse_size

UPSTREAM = Path(__file__).resolve().parents[2] / "shared" / "upstream"
INPUTS = UPSTREAM / "3ddfa_v2" / "examples" / "inputs"
EMMA = INPUTS / "emma.jpg"
OBAMA = UPSTREAM / "3ddfa_v1" / "demo@obama" / "obama.mp4"


# ----------------------------------------------------------------------------- images


def test_single_image():
    with open_source(EMMA) as src:
        assert src.is_still and src.frame_count == 1 and src.fps is None
        frames = list(src)
    assert len(frames) == 1
    f = frames[0]
    assert isinstance(f, Frame) and f.index == 0 and f.timestamp_ms is None and f.source == str(EMMA)
    assert f.image.shape == (1901, 3913, 3) and f.image.dtype == np.uint8 and f.image.flags.c_contiguous
    np.testing.assert_array_equal(f.image, cv2.imread(str(EMMA)))


def test_folder_sorted_and_skips_non_images(tmp_path):
    shutil.copy(EMMA, tmp_path / "img_10.jpg")
    shutil.copy(INPUTS / "JianzhuGuo.jpg", tmp_path / "img_2.jpg")
    cv2.imwrite(str(tmp_path / "img_1.png"), np.full((40, 50), 7, np.uint8))  # grayscale -> BGR
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / ".hidden.jpg").write_bytes(b"junk")
    (tmp_path / "sub").mkdir()
    with open_source(tmp_path) as src:
        assert src.is_still and src.frame_count == 3
        frames = list(src)
    assert [Path(f.source).name for f in frames] == ["img_1.png", "img_2.jpg", "img_10.jpg"]
    assert [f.index for f in frames] == [0, 1, 2]
    assert frames[0].image.shape == (40, 50, 3) and int(frames[0].image.max()) == 7
    assert frames[2].image.shape == (1901, 3913, 3)


def test_folder_without_images(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(EdgefaceError, match="no images in folder"):
        open_source(tmp_path)


def test_max_frames_on_folder(tmp_path):
    for i in range(4):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((8, 8, 3), i, np.uint8))
    with open_source(tmp_path, max_frames=2) as src:
        assert src.frame_count == 2
        assert [int(f.image[0, 0, 0]) for f in src] == [0, 1]


@pytest.mark.parametrize("content", [b"", b"\xff\xd8\xff\xe0 this is not really a jpeg" * 10])
def test_corrupt_image(tmp_path, content):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(content)
    with pytest.raises(EdgefaceError) as e:
        open_source(bad)
    assert "bad.jpg" in str(e.value) and "\n" not in str(e.value)


def test_corrupt_image_in_folder_is_skipped_named_and_counted(tmp_path):
    shutil.copy(INPUTS / "JianzhuGuo.jpg", tmp_path / "a.jpg")
    (tmp_path / "b.jpg").write_bytes(b"garbage")
    shutil.copy(INPUTS / "JianzhuGuo.jpg", tmp_path / "c.jpg")
    warnings = []
    with open_source(tmp_path) as src:
        src.on_skip = warnings.append
        frames = list(src)
    assert [Path(f.source).name for f in frames] == ["a.jpg", "c.jpg"]
    assert [p.name for p, _ in src.skipped] == ["b.jpg"]
    assert len(warnings) == 1 and "b.jpg" in warnings[0] and "\n" not in warnings[0]


def test_missing_and_unsupported(tmp_path):
    with pytest.raises(EdgefaceError, match="input not found"):
        open_source(tmp_path / "nope.mp4")
    odd = tmp_path / "data.xyz"
    odd.write_text("1")
    with pytest.raises(EdgefaceError, match="unsupported input type"):
        open_source(odd)
    with pytest.raises(EdgefaceError, match="max_frames"):
        open_source(EMMA, max_frames=0)


# ----------------------------------------------------------------------------- video


def test_obama_all_158_frames():
    """The MP4 edit list hides 103 frames from OpenCV; every one of the 158 must come out."""
    with open_source(OBAMA) as src:
        assert isinstance(src, video.PyAVVideoSource)
        assert src.frame_count == 158 and src.fps == pytest.approx(25.0) and not src.is_still
        indices, shapes, ts, means = [], set(), [], []
        for f in src:  # streamed: 158 HD frames are not kept in memory
            indices.append(f.index)
            shapes.add((f.image.shape, f.image.dtype))
            ts.append(f.timestamp_ms)
            means.append(float(f.image[::8, ::8].mean()))
    assert len(indices) == 158
    assert indices == list(range(158))
    assert shapes == {((720, 1280, 3), np.dtype(np.uint8))}
    ts = np.array(ts)
    assert ts[0] == 0.0 and np.all(np.diff(ts) > 0)
    assert np.median(np.diff(ts)) == pytest.approx(40.0)  # ms
    assert len(set(np.round(means, 3))) > 100  # a real decode, not one frame repeated


def test_pyav_frames_match_opencv_pixels():
    """PyAV's BGR frames equal OpenCV's decode of the same frame (colour order, no shift)."""
    cap = cv2.VideoCapture(str(OBAMA))
    ok, first_cv = cap.read()
    cap.release()
    assert ok
    with open_source(OBAMA) as src:
        diffs = [np.abs(f.image.astype(np.int16) - first_cv).mean() for f in src]
    assert min(diffs) < 2.0  # same picture up to YUV->BGR rounding
    assert sorted(diffs)[1] > 2 * min(diffs)  # and a unique match


def test_bitexact_decode_is_an_explicit_option():
    """Video frames use swscale's fast YUV->BGR by default; `exact=True` / `bitexact=True` /
    `--bitexact` give its bit-exact, accurately rounded conversion (the pixels the ARM parity
    checks need), which differs from the fast one by about a level on average."""
    import av

    with av.open(str(OBAMA), options={"ignore_editlist": "1"}) as c:
        vf = next(iter(c.decode(c.streams.video[0])))
        fast_ref = vf.to_ndarray(format="bgr24")
        exact_ref = vf.to_ndarray(format="bgr24", **video.exact_conversion(av))
    with open_source(OBAMA, max_frames=1) as src:
        fast = next(iter(src)).image
    with open_source(OBAMA, max_frames=1, bitexact=True) as src:
        exact = next(iter(src)).image
    with open_source("sim:" + str(OBAMA) + "@30", max_frames=1, bitexact=True) as cam:
        assert np.array_equal(cam.first_image, exact_ref)
    assert np.array_equal(fast, fast_ref) and np.array_equal(exact, exact_ref)
    assert 0.3 < np.abs(fast.astype(np.int16) - exact).mean() < 3.0
    with pytest.raises(EdgefaceError, match="needs PyAV"):
        open_video(OBAMA, backend="opencv", exact=True)


def test_video_max_frames():
    with open_source(OBAMA, max_frames=7) as src:
        assert src.frame_count == 7
        assert len(list(src)) == 7


def _write_avi(path: Path, n: int = 6, size=(64, 48)):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, size)
    assert w.isOpened()
    for i in range(n):
        w.write(np.full((size[1], size[0], 3), 30 * i, np.uint8))
    w.release()


def test_opencv_fallback_warns_once(tmp_path, monkeypatch, caplog):
    clip = tmp_path / "clip.avi"
    _write_avi(clip)
    monkeypatch.setattr(video, "have_pyav", lambda: False)
    video._warn_no_pyav.cache_clear()
    with caplog.at_level(logging.WARNING, logger="edgeface.sources.video"):
        a = open_source(clip)
        b = open_source(clip)
    assert isinstance(a, video.OpenCVVideoSource) and isinstance(b, video.OpenCVVideoSource)
    warnings = [r for r in caplog.records if "PyAV is not installed" in r.getMessage()]
    assert len(warnings) == 1
    frames = list(a)
    assert len(frames) == 6 and frames[3].image.shape == (48, 64, 3)
    assert abs(int(frames[3].image.mean()) - 90) <= 3
    a.close(), b.close()
    video._warn_no_pyav.cache_clear()


def test_pyav_reads_other_containers(tmp_path):
    clip = tmp_path / "clip.avi"
    _write_avi(clip, n=5)
    with open_video(clip, backend="pyav") as src:
        frames = list(src)
    assert len(frames) == 5 and abs(int(frames[4].image.mean()) - 120) <= 3


@pytest.mark.parametrize("backend", ["pyav", "opencv"])
def test_corrupt_video(tmp_path, backend):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(np.random.default_rng(0).bytes(20000))
    with pytest.raises(EdgefaceError) as e:
        src = open_video(bad, backend=backend)
        list(src)
    assert "bad.mp4" in str(e.value) and "\n" not in str(e.value)


def test_truncated_video(tmp_path):
    # obama.mp4 keeps its index (moov) at the end: a cut file cannot be opened
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(OBAMA.read_bytes()[:300_000])
    with pytest.raises(EdgefaceError, match="cut.mp4"):
        list(open_source(cut))


# ----------------------------------------------------------------------------- cameras


class FakePicamera2:
    """Stand-in with picamera2's API: Picamera2(camera_num), global_camera_info(),
    create_video_configuration(...), configure, start, capture_array(name), stop, close."""

    cameras = [{"Model": "imx708", "Id": "/base/i2c@88000/imx708@1a"}]
    instances: list = []

    def __init__(self, camera_num=0, fail_after=None, fail_config=False):
        if camera_num >= len(self.cameras):
            raise RuntimeError("Camera __init__ sequence did not complete.")
        self.camera_num = camera_num
        self.fail_after = fail_after
        self.fail_config = fail_config
        self.calls: list = []
        self.config = None
        self.captured = 0
        FakePicamera2.instances.append(self)

    @classmethod
    def global_camera_info(cls):
        return list(cls.cameras)

    def create_video_configuration(self, main=None, lores=None, raw=None, transform=None, colour_space=None,
                                   buffer_count=6, controls=None, display="main", encode="main", queue=True):
        self.calls.append("create_video_configuration")
        return {"use_case": "video", "main": dict(main), "buffer_count": buffer_count, "queue": queue,
                "controls": dict(controls or {})}

    def configure(self, config):
        self.calls.append("configure")
        if self.fail_config:
            raise RuntimeError("Invalid camera configuration")
        self.config = config

    def start(self):
        self.calls.append("start")

    def capture_array(self, name="main"):
        assert name == "main" and "start" in self.calls
        if self.fail_after is not None and self.captured >= self.fail_after:
            raise RuntimeError("Camera frontend has timed out!")
        w, h = self.config["main"]["size"]
        img = np.zeros((h, w, 3), np.uint8)
        img[..., 0] = self.captured  # byte 0 = blue in RGB888 memory order
        img[..., 2] = 200
        self.captured += 1
        return img

    def stop(self):
        self.calls.append("stop")

    def close(self):
        self.calls.append("close")


def fake_module(**kw):
    class Cam(FakePicamera2):
        def __init__(self, camera_num=0):
            super().__init__(camera_num, **kw)

    return types.SimpleNamespace(Picamera2=Cam)


@pytest.fixture(autouse=True)
def _clear_instances():
    FakePicamera2.instances = []
    yield


def test_picamera2_source_configuration_and_frames():
    mod = fake_module()
    with open_source("camera", camera_size="320x240", camera_fps=15, max_frames=5, picamera2_module=mod) as src:
        assert isinstance(src, cameras.Picamera2Source) and src.name == "camera:0" and not src.is_still
        cam = FakePicamera2.instances[0]
        assert cam.config["main"] == {"size": (320, 240), "format": "RGB888"}
        assert cam.config["buffer_count"] <= 4 and cam.config["queue"] is False
        assert cam.config["controls"] == {"FrameRate": 15.0}
        assert cam.calls[:3] == ["create_video_configuration", "configure", "start"]
        frames = list(src)
    assert len(frames) == 5
    assert all(f.image.shape == (240, 320, 3) for f in frames)
    # RGB888 is BGR in memory: no channel swap
    assert [int(f.image[0, 0, 0]) for f in frames] == [0, 1, 2, 3, 4]
    assert int(frames[0].image[0, 0, 2]) == 200
    ts = [f.timestamp_ms for f in frames]
    assert ts[0] == 0.0 and all(b >= a for a, b in zip(ts, ts[1:]))
    assert cam.calls[-2:] == ["stop", "close"]


def test_picamera2_camera_lost_mid_run(caplog):
    mod = fake_module(fail_after=3)
    with caplog.at_level(logging.WARNING, logger="edgeface.sources.video"):
        with open_source("camera:0", picamera2_module=mod) as src:
            frames = list(src)  # no exception: the run ends cleanly
    assert len(frames) == 3
    assert any("lost after 3 frames" in r.getMessage() for r in caplog.records)
    assert FakePicamera2.instances[0].calls[-2:] == ["stop", "close"]


def test_picamera2_no_frame_at_all():
    with pytest.raises(EdgefaceError, match="gave no frame"):
        list(open_source("camera", picamera2_module=fake_module(fail_after=0)))


def test_picamera2_missing_camera_index():
    with pytest.raises(EdgefaceError, match="no libcamera camera 1"):
        open_source("camera:1", picamera2_module=fake_module())


def test_picamera2_bad_configuration_releases_camera():
    with pytest.raises(EdgefaceError, match="cannot start camera 0"):
        open_source(0, picamera2_module=fake_module(fail_config=True))
    assert FakePicamera2.instances[0].calls[-2:] == ["stop", "close"]


class FakeCapture:
    """Stand-in for cv2.VideoCapture."""

    def __init__(self, opened=True, frames=3, fail_mode="false"):
        self.opened, self.frames, self.fail_mode = opened, frames, fail_mode
        self.props: dict = {}
        self.reads = 0
        self.released = False

    def isOpened(self):
        return self.opened

    def set(self, prop, value):
        self.props[prop] = value
        return True

    def get(self, prop):
        return self.props.get(prop, 0.0)

    def read(self):
        self.reads += 1
        if self.reads > self.frames:
            if self.fail_mode == "raise":
                raise cv2.error("VIDIOC_DQBUF: No such device")
            return False, None
        w = int(self.props[cv2.CAP_PROP_FRAME_WIDTH])
        h = int(self.props[cv2.CAP_PROP_FRAME_HEIGHT])
        return True, np.full((h, w, 3), self.reads, np.uint8)

    def release(self):
        self.released = True


def test_opencv_camera_settings_and_lost(caplog):
    made = []

    def factory(device, api):
        made.append((device, api))
        cap = FakeCapture(frames=4)
        made.append(cap)
        return cap

    with caplog.at_level(logging.WARNING, logger="edgeface.sources.video"):
        with open_camera(2, size=(160, 120), backend="opencv", capture_factory=factory) as src:
            frames = list(src)
    (device, api), cap = made
    assert device == 2 and api == cv2.CAP_V4L2
    assert cap.props[cv2.CAP_PROP_BUFFERSIZE] == 1
    assert (cap.props[cv2.CAP_PROP_FRAME_WIDTH], cap.props[cv2.CAP_PROP_FRAME_HEIGHT]) == (160, 120)
    assert len(frames) == 4 and frames[0].image.shape == (120, 160, 3)
    assert any("lost after 4 frames" in r.getMessage() for r in caplog.records)
    assert cap.released


def test_opencv_camera_exception_mid_run_stops_cleanly():
    src = open_camera(0, backend="opencv", capture_factory=lambda d, a: FakeCapture(frames=2, fail_mode="raise"))
    assert len(list(src)) == 2


def test_no_camera_is_a_one_line_error():
    with pytest.raises(EdgefaceError) as e:
        open_camera(0, backend="opencv", capture_factory=lambda d, a: FakeCapture(opened=False))
    msg = str(e.value)
    assert "no camera" in msg and "--camera" in msg and "\n" not in msg


def test_auto_backend_falls_back_to_opencv_when_picamera2_sees_no_camera(monkeypatch):
    class NoCams(FakePicamera2):
        cameras: list = []

    src = open_camera(0, capture_factory=lambda d, a: FakeCapture(frames=1),
                      picamera2_module=types.SimpleNamespace(Picamera2=NoCams))
    assert isinstance(src, cameras.OpenCVCameraSource)
    assert src.backend_note.startswith("camera backend opencv (auto: picamera2 imports, but libcamera found no camera")
    assert len(list(src)) == 1


def test_parse_size():
    assert parse_size("640x480") == (640, 480)
    assert parse_size((320, 240)) == (320, 240)
    for bad in ("640", "axb", "0x0"):
        with pytest.raises(EdgefaceError, match="WIDTHxHEIGHT"):
            parse_size(bad)
