"""One vocabulary for the whole project: precisions, model names, sizes.

Every layer (convert, the cache, the runtime, bench, eval, the API and the CLI) names these things
the same way, from here:

- `Precision`: fp32 | fp16 | int8 | int8_floatio, and the TFLite variant file suffix of each
  (`float32`, `float16`, `int8`, `int8_floatio`);
- `REGRESSORS` (mb05, mb1) and `detector_name(w, h)` (`faceboxes_640x480`);
- `parse_size("640x480") -> (640, 480)`.
"""

from __future__ import annotations

import enum
import numbers
import re
from typing import Optional, Sequence, Union

from edgeface.errors import OptionsError

REGRESSORS = ("mb05", "mb1")
DETECTOR = "faceboxes"
DEFAULT_DETECTOR_SIZE = (640, 480)
# photos: FaceBoxes at upstream's scale (up to 1080x720) on a fixed canvas, the smallest multiple of 32 that holds it
STILL_DETECTOR_SIZE = (1088, 736)


class Precision(str, enum.Enum):
    """Numeric precision of a converted TFLite model. The value is what users type."""

    FP32 = "fp32"
    FP16 = "fp16"
    INT8 = "int8"  # uint8 raw-pixel input, int8 inside, float32 output
    INT8_FLOATIO = "int8_floatio"  # int8 inside, float input and output

    @property
    def variant(self) -> str:
        """The model file suffix in the cache: `<name>_<variant>.tflite`."""
        return _VARIANT[self]

    @classmethod
    def parse(cls, value: Union[str, "Precision"]) -> "Precision":
        """'fp32' / 'float32' / Precision.FP32 -> Precision.FP32; anything else is an `OptionsError`."""
        if isinstance(value, Precision):
            return value
        p = _ALIASES.get(str(value).strip().lower())
        if p is None:
            raise OptionsError(f"unknown precision '{value}': use {', '.join(PRECISIONS)}")
        return p

    @classmethod
    def from_variant(cls, variant: str) -> "Precision":
        for p, v in _VARIANT.items():
            if v == variant:
                return p
        raise OptionsError(f"unknown model variant '{variant}': use {', '.join(VARIANTS)}")

    def __str__(self) -> str:
        return self.value


_VARIANT = {Precision.FP32: "float32", Precision.FP16: "float16", Precision.INT8: "int8",
            Precision.INT8_FLOATIO: "int8_floatio"}
_ALIASES = {**{p.value: p for p in Precision}, **{v: p for p, v in _VARIANT.items()}}
PRECISIONS = tuple(p.value for p in Precision)
VARIANTS = tuple(_VARIANT.values())


def check_regressor(name: str) -> str:
    if name not in REGRESSORS:
        raise OptionsError(f"unknown regressor '{name}': use {' or '.join(REGRESSORS)}")
    return name


def detector_name(width: int = DEFAULT_DETECTOR_SIZE[0], height: int = DEFAULT_DETECTOR_SIZE[1]) -> str:
    """The cache / file name of FaceBoxes converted for a (width, height) input."""
    return f"{DETECTOR}_{int(width)}x{int(height)}"


def parse_detector_name(name: str) -> Optional[tuple[int, int]]:
    """'faceboxes_640x480' -> (640, 480); None for any other name."""
    m = re.fullmatch(rf"{DETECTOR}_(\d+)x(\d+)", name)
    return (int(m.group(1)), int(m.group(2))) if m else None


def parse_size(spec: Union[str, Sequence[int]]) -> tuple[int, int]:
    """'640x480' (or (640, 480)) -> (640, 480), with a one-line `OptionsError` for a bad value."""
    if not isinstance(spec, str):
        try:
            w, h = (int(v) for v in spec)
        except (TypeError, ValueError):
            raise OptionsError(f"bad size {spec!r}: expected (width, height) or 'WIDTHxHEIGHT', e.g. 640x480") from None
        if w < 16 or h < 16:
            raise OptionsError(f"bad size {w}x{h}: both sides must be at least 16 pixels")
        return w, h
    m = re.fullmatch(r"\s*(\d+)\s*[xX*,]\s*(\d+)\s*", spec)
    if not m or int(m.group(1)) < 16 or int(m.group(2)) < 16:
        raise OptionsError(f"bad size {spec!r}: expected WIDTHxHEIGHT, e.g. 640x480")
    return int(m.group(1)), int(m.group(2))


DETECTOR_SIZE_MULTIPLE = 32


def check_detector_size(width: int, height: int, what: str = "detector size") -> tuple[int, int]:
    """(width, height) as ints if both are positive multiples of 32 (FaceBoxes' stride), else an `OptionsError`."""
    m = DETECTOR_SIZE_MULTIPLE
    ok = all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in (width, height))
    if not ok or int(width) <= 0 or int(height) <= 0 or int(width) % m or int(height) % m:
        raise OptionsError(f"{what} {width}x{height} must be positive multiples of {m} (FaceBoxes' stride), "
                           "e.g. 640x480, 320x256 or 480x352")
    return int(width), int(height)
