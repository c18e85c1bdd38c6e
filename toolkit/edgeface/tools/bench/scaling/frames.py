"""The scaling benchmark's frames: N faces (cut from the sample photos, ~70 px) on a 640x480 grid of 4 x 4 cells.

The faces drift by a few pixels a frame (a slow pan, 2 px/frame, back and forth) so that every frame is
tracked as a video frame is (no crop held by the ROI deadband forever), and no face leaves the frame.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from edgeface.aligner import FaceAligner
from edgeface.tools.bench.motion.scene import BACKGROUND, FRAME_H, FRAME_W
from edgeface.tools.bench.motion.truth import load_photos, sprites_from

FACE_COUNTS = (1, 2, 4, 8, 16)
#: cells filled in this order (spread over the frame for small counts)
ORDER = (5, 10, 0, 15, 2, 8, 13, 7, 1, 4, 11, 14, 3, 6, 9, 12)


def face_sprites(precision: str = "int8", cache_root=None, side: int = 66) -> list:
    """Face sprites (soft-edged cut-outs) of the sample photos' faces, about `side` px."""
    with FaceAligner.create(precision=precision, cache_root=cache_root) as al:
        photos = load_photos()
        return sprites_from(al, photos + photos, sides=(side,) * (2 * len(photos)))


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


__all__ = ("FACE_COUNTS", "face_sprites", "grid_frames")
