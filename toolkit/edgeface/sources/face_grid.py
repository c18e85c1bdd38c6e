"""A synthetic multi-face clip: face cut-outs (soft elliptical masks) drifting on a 640x480 grid of 4 x 4 cells.

`make_sprite` cuts a face out of a photo around its landmarks; `cut_face` does it at a given face side;
`grid_frames` pastes up to 16 of them in grid cells, drifting by 2 px a frame (a slow pan, back and forth)
so that every frame is tracked as a video frame is (no crop held by the ROI deadband forever) and no face
leaves the frame. Pure numpy and OpenCV: the landmarks come from the caller. The scaling and motion
benchmarks (`tools.bench`) and `edgeface tune`'s regressor-worker step (`app.tune`) build their clips
with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

FRAME_W, FRAME_H = 640, 480
BACKGROUND = 118  # grey level behind the faces
#: cells filled in this order (spread over the frame for small counts)
ORDER = (5, 10, 0, 15, 2, 8, 13, 7, 1, 4, 11, 14, 3, 6, 9, 12)


@dataclass(frozen=True)
class Sprite:
    """A face cut out of a photo (soft elliptical mask); `landmarks` in patch pixels."""

    name: str
    patch: np.ndarray  # BGR
    alpha: np.ndarray  # float32 (h, w) in [0, 1]
    landmarks: np.ndarray  # (68, 2) patch pixels


def make_sprite(name: str, image: np.ndarray, landmarks: np.ndarray, margin: float = 0.45) -> Sprite:
    """The face of `landmarks` cut out of `image` with a soft elliptical mask (head-sized)."""
    lm = np.asarray(landmarks, np.float64)[:, :2]
    (x1, y1), (x2, y2) = lm.min(0), lm.max(0)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 - 0.1 * (y2 - y1)
    rx, ry = (x2 - x1) * (0.5 + margin), (y2 - y1) * (0.5 + margin) * 1.15
    X0, Y0 = int(max(0, cx - rx)), int(max(0, cy - ry))
    X1, Y1 = int(min(image.shape[1], cx + rx)), int(min(image.shape[0], cy + ry))
    patch = np.ascontiguousarray(image[Y0:Y1, X0:X1])
    yy, xx = np.mgrid[Y0:Y1, X0:X1]
    d = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2
    alpha = np.clip((1.0 - d) / 0.15, 0.0, 1.0).astype(np.float32)
    return Sprite(name, patch, alpha, lm - (X0, Y0))


def face_side(landmarks: np.ndarray) -> float:
    """The side of a face: the geometric mean of its landmark box's width and height (pixels)."""
    lm = np.asarray(landmarks, np.float64)
    (x1, y1), (x2, y2) = lm[:, :2].min(0), lm[:, :2].max(0)
    return float(np.sqrt(max(x2 - x1, 1e-6) * max(y2 - y1, 1e-6)))


def cut_face(name: str, image: np.ndarray, landmarks: np.ndarray, side: float) -> Sprite:
    """`make_sprite` of the photo scaled so that this face is about `side` px (`face_side`)."""
    k = float(side) / face_side(landmarks)
    small = cv2.resize(image, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
    return make_sprite(name, small, np.asarray(landmarks, np.float64)[:, :2] * k)


def grid_frames(sprites: Sequence, faces: int, frames: int = 60) -> np.ndarray:
    """(frames, 480, 640, 3) uint8: `faces` sprites in grid cells, drifting +-2 px/frame horizontally."""
    out = np.empty((frames, FRAME_H, FRAME_W, 3), np.uint8)
    cw, ch = FRAME_W // 4, FRAME_H // 4
    for k in range(frames):
        shift = 2 * (k % 20) if (k // 20) % 2 == 0 else 2 * (20 - k % 20)
        img = np.full((FRAME_H, FRAME_W, 3), BACKGROUND, np.float32)
        for n, cell in enumerate(ORDER[:faces]):
            sp = sprites[n % len(sprites)]
            h, w = sp.patch.shape[:2]
            y = (cell // 4) * ch + (ch - h) // 2
            x = (cell % 4) * cw + (cw - w) // 2 + shift - 20
            y0, x0 = max(y, 0), max(x, 0)
            y1, x1 = min(y + h, FRAME_H), min(x + w, FRAME_W)
            a = sp.alpha[y0 - y:y1 - y, x0 - x:x1 - x, None]
            img[y0:y1, x0:x1] = img[y0:y1, x0:x1] * (1 - a) + sp.patch[y0 - y:y1 - y, x0 - x:x1 - x] * a
        out[k] = img.round().astype(np.uint8)
    return out


__all__ = ("FRAME_W", "FRAME_H", "BACKGROUND", "ORDER", "Sprite", "make_sprite", "face_side", "cut_face", "grid_frames")
