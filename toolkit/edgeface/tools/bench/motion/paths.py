"""Camera and sprite paths of the motion benchmark, one per pattern, at a speed in frame pixels per frame.

    constant      the camera pans right at `speed`
    reversal      it pans right then left, reversing every 12 frames (the speed flips at once)
    acceleration  stop and go: from rest to `speed` in 4 frames, 8 frames at speed, back to rest in
                  4 frames, 6 frames still (peak acceleration speed / 4 per frame)
    shake         hand-held: a slow pan (speed / 5) plus a random jitter in x and y whose per-frame
                  step has an RMS of `speed` (steps correlated 0.3 from one frame to the next; seeded)
    zoom          the camera pans at `speed` while zooming in and out (x0.75 .. x1.5, 40-frame period)
    crossing      the camera drifts (speed / 5) while two face sprites cross the frame in opposite
                  directions, each at `speed`, one in front of the other (they cross mid-clip),
                  passing over the faces of the photos

A constant pan alone is solved by a constant-velocity predictor by construction: the other patterns
are what it must survive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgeface.tools.bench.motion.scene import FRAME_H, FRAME_W, View

PATTERNS = ("constant", "reversal", "acceleration", "shake", "zoom", "crossing")


@dataclass(frozen=True)
class Clip:
    pattern: str
    speed: float
    views: tuple  # View per frame
    sprites: tuple  # per frame: ((x, y) top-left canvas position of each sprite, ...)


def _speeds(pattern: str, speed: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 2) per-frame camera steps in frame pixels."""
    v = float(speed)
    steps = np.zeros((n, 2))
    if pattern in ("constant", "zoom"):
        steps[:, 0] = v
    elif pattern == "reversal":
        steps[:, 0] = [v if (t // 12) % 2 == 0 else -v for t in range(n)]
    elif pattern == "acceleration":
        cycle = [v * k / 4 for k in range(1, 5)] + [v] * 8 + [v * k / 4 for k in range(3, -1, -1)] + [0.0] * 6
        steps[:, 0] = [cycle[t % len(cycle)] for t in range(n)]
    elif pattern == "shake":
        jitter = np.zeros((n, 2))
        e = rng.standard_normal((n, 2))
        for t in range(1, n):
            jitter[t] = 0.3 * jitter[t - 1] + e[t]
        jitter *= v / max(1e-9, float(np.sqrt((jitter ** 2).sum(1).mean())))
        steps = jitter + (v / 5, 0.0)
    elif pattern == "crossing":
        steps[:, 0] = v / 5
    else:
        raise ValueError(f"unknown motion pattern {pattern!r}: use {', '.join(PATTERNS)}")
    steps[0] = 0.0
    return steps


def make_clip(pattern: str, speed: float, n_frames: int, start: tuple, sprite_sizes=(), seed: int = 0) -> Clip:
    """The views (and sprite positions for "crossing") of one clip starting with the camera centred at
    `start` (canvas pixels). `sprite_sizes`: (w, h) of the sprites (crossing only)."""
    rng = np.random.default_rng(seed)
    steps = _speeds(pattern, speed, n_frames, rng)
    zoom = [1.0 + (0.375 * math.sin(2 * math.pi * t / 40) + 0.125 if pattern == "zoom" else 0.0) for t in range(n_frames)]
    views, sprites = [], []
    cx, cy = float(start[0]), float(start[1])
    y_home = cy
    for t in range(n_frames):
        z = zoom[t]
        cx += steps[t, 0] / z
        cy += steps[t, 1] / z
        cy += (y_home - cy) * 0.05  # the shake wanders back toward the row it films
        views.append(View(cx, cy, z))
        pos = ()
        if pattern == "crossing" and sprite_sizes:
            left, top = cx - FRAME_W / (2 * z), cy - FRAME_H / (2 * z)
            off = float(speed) * (t - n_frames / 2)
            pos = []
            for i, (w, h) in enumerate(sprite_sizes[:2]):
                sign = 1.0 if i == 0 else -1.0
                fx = FRAME_W / 2 + sign * off - w / 2
                fy = FRAME_H * (0.42 if i == 0 else 0.47) - h / 2
                pos.append((left + fx / z, top + fy / z))
            pos = tuple(pos)
        sprites.append(pos)
    return Clip(pattern, float(speed), tuple(views), tuple(sprites))


__all__ = ("PATTERNS", "Clip", "make_clip")
