"""The multi-face clip of `edgeface tune`'s regressor-worker step: the scaling benchmark's grid of 4 faces.

The first (leftmost) face of each sample photo (emma, trump_hillary, jianzhuguo, group), found with a
still-image `FaceAligner` and cut out at about 66 px (`sources.face_grid.cut_face`), pasted into the cells of
the 640x480 grid that `edgeface bench scaling` uses (`sources.face_grid.grid_frames`), drifting 2 px a frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import cv2
import numpy as np

from edgeface.aligner import FaceAligner
from edgeface.errors import EdgefaceError
from edgeface.hub.assets import sample_path
from edgeface.sources.face_grid import cut_face, grid_frames

CLIP_PHOTOS = ("emma", "trump_hillary", "jianzhuguo", "group")
CLIP_FACES = 4
FACE_SIDE = 66  # px, as the scaling benchmark's faces


def clip_sprites(precision: str, detector_precision: str, target: str, root: Optional[Path]) -> list:
    """One face sprite per sample photo (its leftmost face)."""
    sprites = []
    with FaceAligner.create(precision=precision, detector_precision=detector_precision, target=target,
                            cache_root=None if root is None else str(root)) as al:
        for key in CLIP_PHOTOS:
            img = cv2.imread(str(sample_path(key, root)))
            if img is None:
                raise EdgefaceError(f"tune: cannot read the sample photo {key}: run `edgeface fetch samples`")
            faces = [np.asarray(f.landmarks, np.float64)[:, :2] for f in al.detect(img).faces]
            if faces:
                sprites.append(cut_face(key, img, min(faces, key=lambda lm: float(lm[:, 0].mean())), FACE_SIDE))
    if not sprites:
        raise EdgefaceError("tune: no face found in the sample photos for the multi-face clip")
    return sprites


def multi_face_clip(frames: int, precision: str, detector_precision: str, target: str,
                    root: Optional[Path]) -> np.ndarray:
    """(frames, 480, 640, 3) uint8: CLIP_FACES faces of the sample photos on the scaling benchmark's grid."""
    return grid_frames(clip_sprites(precision, detector_precision, target, root), CLIP_FACES, frames)


__all__: Sequence[str] = ("CLIP_PHOTOS", "CLIP_FACES", "clip_sprites", "multi_face_clip")
