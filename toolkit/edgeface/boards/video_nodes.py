"""Cameras as the devices describe them: every /dev/video* node's V4L2 capabilities (`video_nodes`, with
`parse_querycap` the pure parser of the VIDIOC_QUERYCAP bytes) and picamera2's list of libcamera sensors
(`libcamera_cameras`). A node is a camera when its own capabilities say video capture and it is neither
memory-to-memory nor one of the Pi's ISP/codec drivers. `app.doctor` reports them.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

# struct v4l2_capability (linux/videodev2.h): driver[16] card[32] bus_info[32] version capabilities
# device_caps reserved[3]; VIDIOC_QUERYCAP = _IOR('V', 0, struct v4l2_capability)
V4L2_CAPABILITY = struct.Struct("16s32s32sIII12x")
VIDIOC_QUERYCAP = (2 << 30) | (V4L2_CAPABILITY.size << 16) | (ord("V") << 8) | 0
CAP_VIDEO_CAPTURE, CAP_VIDEO_CAPTURE_MPLANE = 0x00000001, 0x00001000
CAP_VIDEO_M2M_MPLANE, CAP_VIDEO_M2M, CAP_META_CAPTURE = 0x00004000, 0x00008000, 0x00800000
CAP_DEVICE_CAPS = 0x80000000
# drivers whose capture nodes are not cameras: the Pi's ISP, codecs and the Pi 5 ISP back end
NOT_CAMERA_DRIVERS = {"bcm2835-isp": "ISP", "bcm2835-codec": "codec", "rpivid": "HEVC decoder",
                      "pispbe": "ISP back end", "bcm2835-jpeg": "JPEG codec", "hantro-vpu": "codec"}


@dataclass(frozen=True)
class VideoNode:
    """One /dev/video* node as VIDIOC_QUERYCAP describes it."""

    path: str
    driver: str = ""
    card: str = ""
    caps: int = 0  # the node's own capabilities (device_caps when the driver gives them)
    error: str = ""  # why it could not be queried (then it is not counted as a camera)

    @property
    def is_camera(self) -> bool:
        if self.error or not self.caps & (CAP_VIDEO_CAPTURE | CAP_VIDEO_CAPTURE_MPLANE):
            return False
        return not self.caps & (CAP_VIDEO_M2M | CAP_VIDEO_M2M_MPLANE) and self.driver not in NOT_CAMERA_DRIVERS

    @property
    def role(self) -> str:
        """What the node is, in a few words."""
        if self.error:
            return f"not queried: {self.error}"
        if self.is_camera:
            return "camera"
        if self.driver in NOT_CAMERA_DRIVERS:
            return NOT_CAMERA_DRIVERS[self.driver]
        if self.caps & (CAP_VIDEO_M2M | CAP_VIDEO_M2M_MPLANE):
            return "memory-to-memory (codec/scaler)"
        if self.caps & CAP_META_CAPTURE:
            return "metadata"
        return "no video capture"


def parse_querycap(path: str, raw: bytes) -> VideoNode:
    """A node from the bytes VIDIOC_QUERYCAP filled in (pure: testable without a device)."""
    driver, card, _bus, _version, caps, device_caps = V4L2_CAPABILITY.unpack(raw[: V4L2_CAPABILITY.size])

    def text(b: bytes) -> str:
        return b.split(b"\0", 1)[0].decode("utf-8", "replace")

    return VideoNode(path, text(driver), text(card), device_caps if caps & CAP_DEVICE_CAPS else caps)


def video_nodes(dev_dir: Path = Path("/dev")) -> List[VideoNode]:
    """Every /dev/video* node with its capabilities (VIDIOC_QUERYCAP), in number order."""
    import fcntl

    dev_dir = Path(dev_dir)
    if not dev_dir.is_dir():
        return []
    found = sorted((p for p in dev_dir.glob("video*") if p.name[5:].isdigit()), key=lambda p: int(p.name[5:]))
    nodes = []
    for p in found:
        try:
            fd = os.open(p, os.O_RDWR | os.O_NONBLOCK)
        except OSError as e:
            nodes.append(VideoNode(str(p), error=e.strerror or str(e)))
            continue
        try:
            buf = bytearray(V4L2_CAPABILITY.size)
            fcntl.ioctl(fd, VIDIOC_QUERYCAP, buf, True)
            nodes.append(parse_querycap(str(p), bytes(buf)))
        except OSError as e:
            nodes.append(VideoNode(str(p), error=f"not a V4L2 device ({e.strerror or e})"))
        finally:
            os.close(fd)
    return nodes


def libcamera_cameras(module) -> Optional[list]:
    """The camera list of an imported picamera2 module (`Picamera2.global_camera_info()`: model and id of
    each sensor), or None when it cannot list. Importing picamera2, and saying why it fails, is
    `sources.camera_import.probe_picamera2`'s job: nothing here swallows an import error."""
    if module is None:
        return None
    try:
        return [dict(c) for c in module.Picamera2.global_camera_info()]
    except Exception:
        return None
