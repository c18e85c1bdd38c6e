"""The scaling benchmark's frames: N faces (cut from the sample photos, ~70 px) on a 640x480 grid of 4 x 4 cells.

The grid itself (`grid_frames`: faces drifting 2 px/frame, back and forth, none leaving the frame) is
`sources.face_grid`'s, shared with `edgeface tune`; this module cuts the sprites.
"""

from __future__ import annotations

from edgeface.aligner import FaceAligner
from edgeface.sources.face_grid import grid_frames  # re-exported (the grid is built there)
from edgeface.tools.bench.motion.truth import load_photos, sprites_from

FACE_COUNTS = (1, 2, 4, 8, 16)


def face_sprites(precision: str = "int8", cache_root=None, side: int = 66) -> list:
    """Face sprites (soft-edged cut-outs) of the sample photos' faces, about `side` px."""
    with FaceAligner.create(precision=precision, cache_root=cache_root) as al:
        photos = load_photos()
        return sprites_from(al, photos + photos, sides=(side,) * (2 * len(photos)))


__all__ = ("FACE_COUNTS", "face_sprites", "grid_frames")
