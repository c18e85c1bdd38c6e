"""The motion benchmark's ground truth: the still-image result (IMAGE mode) on each scaled photo.

Each photo is scaled so that its faces are about `face_px` pixels (the median side of their landmark
boxes), then aligned as a photo (detector at the still-image scale, landmark re-crops, flip TTA: what
`edgeface run` gives for a picture). Those landmarks, moved to where the photo lies in the canvas, are
what the tracked video is compared with. Sprites are cut from the first faces found.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import cv2
import numpy as np

from edgeface.aligner import FaceAligner
from edgeface.hub.assets import sample_path
from edgeface.runtime.still import MIRROR_68
from edgeface.sources.face_grid import Sprite, cut_face, face_side
from edgeface.tools.bench.motion.scene import Piece, layout

SAMPLE_PHOTOS = ("emma", "trump_hillary", "jianzhuguo", "group")
#: target face sides (px) of the photos in turn: the faces of a composite vary in size
FACE_SIDES = (70, 85, 100, 75)


def _around_faces(img: np.ndarray, faces: list, side: float) -> tuple:
    """(the part of a photo around its faces, a face side of margin; its top-left corner): compact pieces."""
    pts = np.concatenate([f[:, :2] for f in faces])
    (x1, y1), (x2, y2) = pts.min(0) - 0.9 * side, pts.max(0) + 0.9 * side
    h, w = img.shape[:2]
    X1, Y1 = int(max(0, x1)), int(max(0, y1))
    return np.ascontiguousarray(img[Y1:int(min(h, y2)), X1:int(min(w, x2))]), (X1, Y1)


def load_photos(extra: Sequence[str] = (), root: Optional[Path] = None) -> list:
    """(name, BGR image) of the sample photos (and any photo files given)."""
    out = []
    for key in SAMPLE_PHOTOS:
        out.append((key, cv2.imread(str(sample_path(key, root)))))
    for p in extra:
        img = cv2.imread(str(p))
        if img is None:
            raise FileNotFoundError(f"cannot read photo {p}")
        out.append((Path(p).stem, img))
    return out


def still_faces(aligner: FaceAligner, image: np.ndarray) -> list:
    """68 landmarks (68, 2) of every face of a photo (IMAGE mode), left to right."""
    faces = [np.asarray(f.landmarks, np.float64)[:, :2] for f in aligner.detect(image).faces]
    return sorted(faces, key=lambda lm: float(lm[:, 0].mean()))


def scaled_pieces(aligner: FaceAligner, photos: Sequence[tuple], mirror: bool = True) -> list:
    """Pieces of the canvas: each photo scaled (faces about FACE_SIDES px) and cut around its faces, with
    the still-image landmarks of the full-resolution photo scaled the same way; each also mirrored
    (another arrangement of faces); placed by `scene.layout`."""
    scaled = []
    for i, (name, img) in enumerate(photos):
        faces = still_faces(aligner, img)
        if not faces:
            continue
        target = FACE_SIDES[i % len(FACE_SIDES)]
        k = target / float(np.median([face_side(f) for f in faces]))
        small = cv2.resize(img, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
        piece, (x0, y0) = _around_faces(small, [f * k for f in faces], target)
        lms = [f * k - (x0, y0) for f in faces]
        scaled.append((name, piece, lms))
        if mirror:
            w = piece.shape[1]
            mirrored = [np.column_stack([w - f[:, 0], f[:, 1]])[MIRROR_68] for f in lms]  # as still.mirror_points
            scaled.append((name + "-mirror", np.ascontiguousarray(piece[:, ::-1]), mirrored))
    faces_of = {name: lms for name, _, lms in scaled}
    return [Piece(name, x, y, img, tuple(faces_of[name])) for name, x, y, img in layout([(n, im) for n, im, _ in scaled])]


def sprites_from(aligner: FaceAligner, photos: Sequence[tuple], sides=(90, 80)) -> list:
    """Two face sprites: the first face of the photos with one face first (else of any photo)."""
    out = []
    order = sorted(photos, key=lambda p: len(still_faces(aligner, p[1])) != 1)
    for (name, img), side in zip(order, sides):
        faces = still_faces(aligner, img)
        if not faces:
            continue
        sp = cut_face(name, img, faces[0], side)
        out.append(Sprite(f"{len(out)}-{name}", sp.patch, sp.alpha, sp.landmarks))
    return out


__all__ = ("SAMPLE_PHOTOS", "load_photos", "still_faces", "scaled_pieces", "sprites_from")
