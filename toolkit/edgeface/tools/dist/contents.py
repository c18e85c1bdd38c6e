"""What the `edgeface-models` wheel holds: every converted model a board profile (`targets/*.toml`) can ask
for, at the profile's precisions and at float32 (`--precision fp32`), plus the still-image detector.

A profile asks for the regressor at its precision and the detector at its size and detector precision;
`--precision P` asks for both networks at P (the detector falls back on the closest converted size when a
size is not converted at P: the Pi 3 / Zero 2 W profiles' 320x256 detector exists in float32 only,
because its INT8 conversion fails verification). Photos use the 1088x736 still-image detector at the
detector's precision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List

from edgeface.boards.profiles import load_targets
from edgeface.vocab import STILL_DETECTOR_SIZE, Precision, detector_name

REGRESSOR = "mb05"
#: precisions shipped: each profile's own, and float32 (every profile runs with --precision fp32)
PRECISIONS = (Precision.FP32, Precision.INT8)


@dataclass(frozen=True)
class Wanted:
    """One converted model the wheel must hold."""

    name: str  # mb05 | faceboxes_<W>x<H>
    model: str  # the card: mb05 | faceboxes
    precision: Precision
    size: tuple = ()  # (w, h) for a detector
    why: str = ""  # which profile or option asks for it

    @property
    def file_stem(self) -> str:
        return f"{self.name}_{self.precision.variant}"


def wanted_models() -> List[Wanted]:
    """The models the wheel holds, one per (name, precision), in a stable order."""
    out: dict = {}

    def add(name, model, prec, size, why):
        key = (name, prec)
        if key not in out:
            out[key] = Wanted(name, model, prec, tuple(size), why)

    for prec in PRECISIONS:
        add(REGRESSOR, REGRESSOR, prec, (), f"the regressor at {prec.value}")
        add(detector_name(*STILL_DETECTOR_SIZE), "faceboxes", prec, STILL_DETECTOR_SIZE, f"photos at {prec.value}")
    for prof in load_targets().values():
        det_prec = Precision.parse(prof.detector_precision or prof.precision)
        size = tuple(prof.detector_size)
        add(REGRESSOR, REGRESSOR, Precision.parse(prof.precision), (), f"--target {prof.name}")
        add(detector_name(*size), "faceboxes", det_prec, size, f"--target {prof.name}")
        add(detector_name(*size), "faceboxes", Precision.FP32, size, f"--target {prof.name} --precision fp32")
        if Precision.parse(prof.precision) in PRECISIONS and size == (640, 480):
            add(detector_name(*size), "faceboxes", Precision.parse(prof.precision), size,
                f"--target {prof.name} --precision {prof.precision}")
    return sorted(out.values(), key=lambda w: (w.model != REGRESSOR, w.name, w.precision.variant))
