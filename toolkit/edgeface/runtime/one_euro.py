"""The One Euro filter (Casiez, Roussel, Vogel, CHI 2012) as plain building blocks.

`OneEuroFilter`: element-wise over float32 arrays of any shape; `AngleFilter`: the same for a few
angles (pose) in plain Python floats; `smoothing_factor` / `wrap_angle`: the formulas. The per-face
smoother built on them is `runtime.smoothing` (its module docstring gives the equations); the
parameters are a `smoothing_config.SmoothingConfig` (any object with min_cutoff, beta, d_cutoff,
speed_floor and nominal_fps).
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from edgeface.runtime.smoothing_config import DEFAULT_POSE, SmoothingConfig


def _alpha(te: float, cutoff: float) -> float:
    r = 6.283185307179586 * cutoff * te
    return r / (r + 1.0)


def _wrap(a: float) -> float:
    return (a + 180.0) % 360.0 - 180.0


def smoothing_factor(te, cutoff):
    """alpha = 1 / (1 + tau/Te) with tau = 1/(2*pi*cutoff); equivalently r/(r+1), r = 2*pi*cutoff*Te.
    A float for a Python / numpy scalar cutoff, else a float32 array."""
    if not isinstance(cutoff, np.ndarray) and np.ndim(cutoff) == 0:
        r = 2.0 * math.pi * float(cutoff) * float(te)
        return r / (r + 1.0)
    r = np.asarray(cutoff, dtype=np.float32) * np.float32(2.0 * math.pi * te)
    return r / (r + np.float32(1.0))


def wrap_angle(a, period: float = 360.0):
    """Wrap to [-period/2, period/2) (a float for a scalar, else float32)."""
    half = period / 2.0
    if not isinstance(a, np.ndarray) and np.ndim(a) == 0:
        return (float(a) + half) % period - half
    return (np.asarray(a, dtype=np.float32) + np.float32(half)) % np.float32(period) - np.float32(half)


class _Clock:
    """Sample times: Te from timestamps (seconds), or 1/nominal_fps when absent or not increasing."""

    def __init__(self, nominal_fps: float):
        self.nominal = 1.0 / nominal_fps
        self.t: Optional[float] = None

    def step(self, t: Optional[float]) -> Optional[float]:
        """Te since the previous sample (None for the first one)."""
        if self.t is None:
            self.t = 0.0 if t is None else float(t)
            return None
        te = self.nominal if t is None else float(t) - self.t
        if not te > 0:  # repeated / out-of-order timestamp
            te = self.nominal
        self.t += te
        return te


class OneEuroFilter:
    """Element-wise One Euro filter over float32 arrays of a fixed shape.

    period: set (e.g. 360.0) for angles: differences are taken on the circle so that a signal
    crossing +-180 is not seen as a huge jump, and outputs are wrapped to [-period/2, period/2).
    warm_start: alpha >= 1/n for the n-th sample (a new track averages its first samples).
    """

    def __init__(self, config=None, period: Optional[float] = None,
                 warm_start: bool = False):
        if config is None:
            config = SmoothingConfig()
        self.config = config
        self.period = period
        self.warm_start = warm_start
        self.reset()

    def reset(self) -> None:
        self._x: Optional[np.ndarray] = None
        self._dx: Optional[np.ndarray] = None
        self._clock = _Clock(self.config.nominal_fps)
        self._n = 0
        self._shape: Optional[tuple] = None

    @property
    def initialized(self) -> bool:
        return self._x is not None

    def __call__(self, x, t: Optional[float] = None, speed_scale: float = 1.0) -> np.ndarray:
        """Filter one sample. t: seconds (None: previous t + 1/nominal_fps).
        speed_scale: the speed is divided by it before entering the cutoff (e.g. the face size)."""
        x = np.asarray(x, dtype=np.float32)
        shape = x.shape
        x = x.reshape(-1)  # 1-d inside: numpy turns 0-d results into scalars
        cfg = self.config
        if self._x is None or self._shape != shape:
            self.reset()
            self._clock.step(t)
            self._x = x.copy() if self.period is None else wrap_angle(x, self.period)
            self._dx = np.zeros_like(x)
            self._n = 1
            self._shape = shape
            return self._x.reshape(shape).copy()
        te = self._clock.step(t)
        self._n += 1
        d = x - self._x
        if self.period is not None:
            d = wrap_angle(d, self.period)
        speed = d * np.float32(1.0 / te)
        speed -= self._dx
        speed *= np.float32(smoothing_factor(te, cfg.d_cutoff))
        self._dx += speed
        speed = np.abs(self._dx)
        speed *= np.float32(cfg.beta / float(speed_scale))
        if cfg.speed_floor:
            speed -= np.float32(cfg.beta * cfg.speed_floor)
            np.maximum(speed, 0, out=speed)
        speed += np.float32(cfg.min_cutoff)
        alpha = smoothing_factor(te, speed)
        if self.warm_start:
            np.maximum(alpha, np.float32(1.0 / self._n), out=alpha)
        d *= alpha
        d += self._x
        if self.period is not None:
            d = wrap_angle(d, self.period)
        self._x = d
        return d.reshape(shape).copy()


class AngleFilter:
    """The One Euro filter of `OneEuroFilter(config, period=360, warm_start=True)` for a few angles
    (degrees, e.g. yaw, pitch, roll), in plain Python floats: cheaper than numpy for 3 values."""

    def __init__(self, config=None):
        if config is None:
            config = DEFAULT_POSE
        self.config = config
        self.reset()

    def reset(self) -> None:
        self._x: Optional[list] = None
        self._dx: list = []
        self._clock = _Clock(self.config.nominal_fps)
        self._n = 0

    def __call__(self, angles, t: Optional[float] = None) -> tuple:
        if not isinstance(angles, (tuple, list)):
            angles = list(angles)
        x = self._x
        te = self._clock.step(t) if x is not None and len(angles) == len(x) else None
        if te is None:
            self.reset()
            self._clock.step(t)
            self._x, self._dx, self._n = [_wrap(float(a)) for a in angles], [0.0] * len(angles), 1
            return tuple(self._x)
        cfg = self.config
        self._n += 1
        # `_alpha`, `_wrap` and the max() of the formula written out (once per face and frame): the same operations
        # in the same order, so the same bits
        r = 6.283185307179586 * cfg.d_cutoff * te
        a_d = r / (r + 1.0)
        warm = 1.0 / self._n
        min_cutoff, beta, floor = cfg.min_cutoff, cfg.beta, cfg.speed_floor
        dx = self._dx
        out = []
        for i, a in enumerate(angles):
            xi = x[i]
            d = (float(a) - xi + 180.0) % 360.0 - 180.0
            v = dx[i]
            v += a_d * (d / te - v)
            dx[i] = v
            f = beta * (abs(v) - floor)
            r = 6.283185307179586 * (min_cutoff + (f if f > 0.0 else 0.0)) * te
            alpha = r / (r + 1.0)
            if warm > alpha:
                alpha = warm
            out.append((xi + alpha * d + 180.0) % 360.0 - 180.0)
        self._x = out
        return tuple(out)
