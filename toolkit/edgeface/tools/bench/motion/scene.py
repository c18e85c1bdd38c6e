"""The motion benchmark's world: a composite of photos seen through a moving virtual camera.

`build_scene(photos)` pastes the photos (each scaled so that its faces are about `face_px` pixels)
into a canvas that repeats horizontally (period `Scene.period`): a camera can pan forever. The
ground truth of every face is the still-image result (IMAGE mode, `truth.still_faces`) on its own
scaled photo, moved to where the photo lies in the canvas. `Sprite`s are faces cut out of a photo
(an elliptical soft mask) that move over the canvas on their own paths: faces crossing and
occluding each other.

`render(scene, view, sprites, positions)` gives one 640x480 frame (BGR uint8) for a `View` (centre
in canvas pixels and zoom: a frame pixel is 1 / zoom canvas pixels) and the ground truth in frame
pixels: per face instance (photo face x canvas period, or sprite) its 68 landmarks and how much of
its landmark box is inside the frame and not covered by a sprite in front of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import cv2
import numpy as np

from edgeface.sources.face_grid import BACKGROUND, FRAME_H, FRAME_W, Sprite, make_sprite  # re-exported



@dataclass(frozen=True)
class Piece:
    """One scaled photo in the canvas: its top-left corner and the still-image landmarks of its faces."""

    name: str
    x: int
    y: int
    image: np.ndarray  # scaled BGR photo
    faces: tuple  # (68, 2) landmarks in piece pixels, one array per face


@dataclass(frozen=True)
class Scene:
    canvas: np.ndarray  # (H, 2 * period + margin, 3): the periodic canvas, two periods wide
    period: int
    pieces: tuple
    faces: tuple  # (68, 2) landmarks in canvas pixels (first period), one array per face


@dataclass(frozen=True)
class View:
    cx: float  # centre, canvas pixels (x wraps with the period)
    cy: float
    zoom: float = 1.0  # frame pixels per canvas pixel


@dataclass(frozen=True)
class TruthFace:
    key: str  # face instance: "p<face>@<period index>" or "s<sprite>"
    landmarks: np.ndarray  # (68, 2) frame pixels
    inside: float  # fraction of its landmark box inside the frame
    covered: float  # fraction of its landmark box under a sprite in front of it


def layout(photos: Sequence[tuple], height: int = 600, gap: int = 24) -> list:
    """(name, x, y, image) placements: photos in two rows (shelf packing), left to right."""
    rows = [[], []]
    widths = [gap, gap]
    for name, img in photos:
        r = 0 if widths[0] <= widths[1] else 1
        rows[r].append((name, widths[r], img))
        widths[r] += img.shape[1] + gap
    out = []
    half = height // 2
    for r, row in enumerate(rows):
        for name, x, img in row:
            y = r * half + max(0, (half - img.shape[0]) // 2)
            out.append((name, x, y, img))
    return out


def build_scene(pieces: Sequence[Piece], height: int = 600) -> Scene:
    """The periodic canvas of placed pieces (`Piece.x, y` within one period)."""
    period = max(p.x + p.image.shape[1] for p in pieces) + 24
    period = max(period, 1024)
    canvas = np.full((height, 2 * period + 8, 3), BACKGROUND, np.uint8)
    faces = []
    for p in pieces:
        h, w = p.image.shape[:2]
        for k in (0, 1):
            canvas[p.y:p.y + h, p.x + k * period:p.x + k * period + w] = p.image
        faces.extend(np.asarray(f, np.float64) + (p.x, p.y) for f in p.faces)
    return Scene(canvas, int(period), tuple(pieces), tuple(faces))


def _affine(view: View, period: int, width: int = FRAME_W, height: int = FRAME_H) -> tuple:
    """(2x3 canvas->frame matrix with x taken modulo the period, canvas x of the frame's left edge)."""
    z = float(view.zoom)
    left = view.cx - width / (2 * z)
    top = view.cy - height / (2 * z)
    left_mod = left % period
    m = np.array([[z, 0.0, -left_mod * z], [0.0, z, -top * z]])
    return m, left, top


def _box_fracs(pts: np.ndarray, width: int, height: int, cover: Optional[np.ndarray]) -> tuple:
    (x1, y1), (x2, y2) = pts.min(0), pts.max(0)
    area = max(1e-6, (x2 - x1) * (y2 - y1))
    ix = max(0.0, min(x2, width) - max(x1, 0.0)) * max(0.0, min(y2, height) - max(y1, 0.0))
    inside = ix / area
    covered = 0.0
    if cover is not None and ix > 0:
        X1, Y1 = int(max(0, np.floor(x1))), int(max(0, np.floor(y1)))
        X2, Y2 = int(min(width, np.ceil(x2))), int(min(height, np.ceil(y2)))
        if X2 > X1 and Y2 > Y1:
            covered = float((cover[Y1:Y2, X1:X2] > 0.5).mean()) * inside
    return inside, covered


def render(scene: Scene, view: View, sprites: Sequence[Sprite] = (), positions: Sequence[tuple] = ()) -> tuple:
    """(frame BGR uint8 640x480, [TruthFace]) of `view`; sprite i drawn with its top-left corner at
    `positions[i]` (canvas pixels, first period; later sprites in front of earlier ones)."""
    m, left, top = _affine(view, scene.period)
    frame = cv2.warpAffine(scene.canvas, m, (FRAME_W, FRAME_H), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=(BACKGROUND,) * 3)
    z = float(view.zoom)
    to_frame = lambda pts: (pts - (left, top)) * z  # noqa: E731 (canvas -> frame, unwrapped x)
    covers = []  # per sprite: its mask in the frame (coverage of what is behind it)
    sprite_truth = []
    for sp, (sx, sy) in zip(sprites, positions):
        # the sprite's copy nearest to the view (x wraps)
        k = round((left + FRAME_W / (2 * z) - (sx + sp.patch.shape[1] / 2)) / scene.period)
        ox, oy = sx + k * scene.period, sy
        ms = np.array([[z, 0.0, (ox - left) * z], [0.0, z, (oy - top) * z]])
        a = cv2.warpAffine(sp.alpha, ms, (FRAME_W, FRAME_H), flags=cv2.INTER_LINEAR, borderValue=0.0)
        p = cv2.warpAffine(sp.patch, ms, (FRAME_W, FRAME_H), flags=cv2.INTER_LINEAR)
        frame = (frame * (1.0 - a[..., None]) + p * a[..., None]).round().astype(np.uint8)
        covers.append(a)
        sprite_truth.append((f"s{sp.name}", to_frame(sp.landmarks + (ox, oy))))
    truth = []
    base = int(np.floor(left / scene.period))
    cover = np.maximum.reduce(covers) if covers else None
    for i, f in enumerate(scene.faces):
        for k in (base - 1, base, base + 1):
            pts = to_frame(f + (k * scene.period, 0.0))
            inside, covered = _box_fracs(pts, FRAME_W, FRAME_H, cover)
            if inside > 0:
                truth.append(TruthFace(f"p{i}@{k}", pts, inside, covered))
    for j, (key, pts) in enumerate(sprite_truth):
        cover = np.maximum.reduce(covers[j + 1:]) if j + 1 < len(covers) else None
        inside, covered = _box_fracs(pts, FRAME_W, FRAME_H, cover)
        if inside > 0:
            truth.append(TruthFace(key, pts, inside, covered))
    return frame, truth


__all__ = ("FRAME_W", "FRAME_H", "Piece", "Scene", "Sprite", "View", "TruthFace", "layout", "build_scene",
           "make_sprite", "render")
