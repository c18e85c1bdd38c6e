"""`SmoothingConfig`: the One Euro parameters of a board profile's [smoothing] table, and the
defaults for positions (`DEFAULT_POSITION`) and pose angles (`DEFAULT_POSE`).

Used by the filters (`runtime.one_euro`), the per-face smoother (`runtime.smoothing`, whose
module docstring gives the equations), the pipeline options and the board profiles.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeface.errors import EdgefaceError


@dataclass
class SmoothingConfig:
    """Smoothing parameters (a board profile's [smoothing] table).

    min_cutoff: cutoff frequency (Hz) at rest: lower = steadier at rest, more lag on slow motion.
    beta: speed coefficient (Hz per unit of speed): higher = less lag on motion. For positions the
        speed is the face's (mean landmark) speed in face sizes per second; for pose angles
        (`DEFAULT_POSE`) it is each angle's speed in degrees per second.
    d_cutoff: cutoff (Hz) of the speed estimate.
    speed_floor: dead zone of the speed (same unit): only the speed above it raises the cutoff.
        Positions: the noise level of a still face's mean landmark speed (fp32 and INT8).
    shape_cutoff, shape_beta, shape_floor: the same three for the face's shape (the landmarks
        relative to their mean: turning, expressions), whose speed is the RMS change of that
        shape in face sizes per second. Positions only.
    nominal_fps: frame rate assumed when frames carry no timestamp.

    The defaults were chosen by `edgeface bench --stability` (docs/concepts/stability.md) on two sample
    photos with sensor noise, fp32 and INT8 (smoothed jitter 0.020-0.035% of the face size, lag
    0.36-0.91 frames at 2 px per frame), checked on obama.mp4 (acceleration 3.04 -> 2.04 px,
    0.7% of the face width from the raw landmarks). Noise above the dead zones (a blurry or tiny
    face, raw jitter well over 0.3% of the face size) opens the filter and is smoothed less.
    The pose angles use `DEFAULT_POSE` (min_cutoff 0.7 Hz, beta 0.03 per deg/s, no dead zone).
    """

    enabled: bool = True
    min_cutoff: float = 0.05
    beta: float = 40.0
    d_cutoff: float = 1.0
    speed_floor: float = 0.1
    shape_cutoff: float = 0.05
    shape_beta: float = 30.0
    shape_floor: float = 0.15
    nominal_fps: float = 30.0

    def __post_init__(self):
        if not (self.min_cutoff > 0 and self.d_cutoff > 0 and self.nominal_fps > 0 and self.beta >= 0
                and self.speed_floor >= 0 and self.shape_cutoff > 0 and self.shape_beta >= 0 and self.shape_floor >= 0):
            raise EdgefaceError(f"bad smoothing parameters {self}: min_cutoff, d_cutoff and nominal_fps must be > 0, "
                                "beta, speed_floor, shape_beta, shape_floor >= 0, shape_cutoff > 0")


# Positions: pixels filtered, speed in face sizes / s. Pose: degrees, speed in deg / s, element-wise.
DEFAULT_POSITION = SmoothingConfig()
DEFAULT_POSE = SmoothingConfig(min_cutoff=0.7, beta=0.03, d_cutoff=1.0, speed_floor=0.0)
