"""`edgeface doctor` decides what a camera is from the devices: the V4L2 capabilities of each node
(VIDIOC_QUERYCAP) and picamera2's camera list, not the node names. A Pi always has codec and ISP
nodes (/dev/video10-31); they are not cameras."""

from __future__ import annotations

import types

from edgeface.app import doctor
from edgeface.boards.video_nodes import (CAP_DEVICE_CAPS, CAP_META_CAPTURE, CAP_VIDEO_CAPTURE, CAP_VIDEO_CAPTURE_MPLANE,
                                         CAP_VIDEO_M2M_MPLANE, V4L2_CAPABILITY, VIDIOC_QUERYCAP, libcamera_cameras,
                                         parse_querycap, video_nodes)

STREAMING = 0x04000000


def querycap(driver: str, card: str, device_caps: int) -> bytes:
    """The bytes a driver fills in for VIDIOC_QUERYCAP (struct v4l2_capability)."""
    all_caps = device_caps | CAP_DEVICE_CAPS | CAP_VIDEO_CAPTURE | CAP_META_CAPTURE
    return V4L2_CAPABILITY.pack(driver.encode(), card.encode(), b"usb-0000:01:00.0-1.3", 0x060100, all_caps, device_caps)


def test_querycap_layout():
    assert V4L2_CAPABILITY.size == 104 and VIDIOC_QUERYCAP == 0x80685600  # as in linux/videodev2.h


def test_uvc_capture_node_is_a_camera_its_metadata_node_is_not():
    cam = parse_querycap("/dev/video0", querycap("uvcvideo", "HD Pro Webcam C920", CAP_VIDEO_CAPTURE | STREAMING))
    meta = parse_querycap("/dev/video1", querycap("uvcvideo", "HD Pro Webcam C920", CAP_META_CAPTURE | STREAMING))
    assert cam.is_camera and cam.card == "HD Pro Webcam C920" and cam.role == "camera"
    assert not meta.is_camera and meta.role == "metadata"  # device_caps, not the device-wide caps


def test_pi_codec_and_isp_nodes_are_not_cameras():
    codec = parse_querycap("/dev/video10", querycap("bcm2835-codec", "bcm2835-codec-decode", CAP_VIDEO_M2M_MPLANE | STREAMING))
    isp_out = parse_querycap("/dev/video14", querycap("bcm2835-isp", "bcm2835-isp-capture0", CAP_VIDEO_CAPTURE | STREAMING))
    hevc = parse_querycap("/dev/video19", querycap("rpivid", "rpivid", CAP_VIDEO_M2M_MPLANE | STREAMING))
    legacy = parse_querycap("/dev/video0", querycap("bcm2835 mmal", "mmal service 16.1", CAP_VIDEO_CAPTURE | STREAMING))
    mplane = parse_querycap("/dev/video0", querycap("some-csi", "sensor", CAP_VIDEO_CAPTURE_MPLANE | STREAMING))
    assert not codec.is_camera and "memory-to-memory" in codec.role or codec.role == "codec"
    assert not isp_out.is_camera and isp_out.role == "ISP"
    assert not hevc.is_camera
    assert legacy.is_camera and mplane.is_camera


def test_nodes_that_are_not_v4l2_devices_are_not_cameras(tmp_path):
    dev = tmp_path / "dev"
    dev.mkdir()
    for n in range(10, 32):  # what a Pi without a camera has, by name
        (dev / f"video{n}").touch()
    (dev / "video-bogus").touch()
    nodes = video_nodes(dev)  # a real open + VIDIOC_QUERYCAP ioctl on each
    assert [n.path for n in nodes] == [str(dev / f"video{n}") for n in range(10, 32)]
    assert all(not n.is_camera and "not a V4L2 device" in n.error for n in nodes)
    cams, listed, n_libcamera = doctor.find_cameras(dev, use_picamera2=False)
    assert cams == [] and len(listed) == 22 and n_libcamera is None
    r = doctor.diagnose(root=tmp_path / "home", board_model="Raspberry Pi 4 Model B Rev 1.4", cpuinfo_text="",
                        meminfo_text="", machine="aarch64", dev_dir=dev, read_system=False)
    assert r.cameras == [] and len(r.video_devices) == 22
    assert any(a.startswith("no camera found (22 /dev/video* nodes, none a camera") for a in r.advice)


def test_picamera2_camera_list():
    mod = types.SimpleNamespace(Picamera2=types.SimpleNamespace(
        global_camera_info=lambda: [{"Model": "imx708", "Id": "/base/soc/i2c0mux/i2c@1/imx708@1a", "Num": 0}]))
    assert libcamera_cameras(mod) == [{"Model": "imx708", "Id": "/base/soc/i2c0mux/i2c@1/imx708@1a", "Num": 0}]
    broken = types.SimpleNamespace(Picamera2=types.SimpleNamespace(global_camera_info=lambda: 1 / 0))
    assert libcamera_cameras(broken) is None
