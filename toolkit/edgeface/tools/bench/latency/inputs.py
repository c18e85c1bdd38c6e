"""The real inputs every benchmark case is timed on (`BenchInputs`), made once by `sample_inputs.make_inputs`.

Saved as one .npz that every worker process loads, so isolated and in-process cases time the same
pixels. This module stays light (numpy only): a model case's worker imports it, and its peak RSS is
reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict

import numpy as np


@dataclass
class BenchInputs:
    crop: np.ndarray  # (120, 120, 3) uint8 BGR face crop
    frames: Dict[str, np.ndarray]  # detector name -> (H, W, 3) uint8 letterboxed frame
    source: str

    def save(self, path: Path) -> None:
        np.savez(path, crop=self.crop, **{f"frame__{k}": v for k, v in self.frames.items()}, source=np.array(self.source))

    @classmethod
    def load(cls, path: Path) -> "BenchInputs":
        with np.load(path, allow_pickle=False) as z:
            frames = {k[len("frame__"):]: z[k] for k in z.files if k.startswith("frame__")}
            return cls(crop=z["crop"], frames=frames, source=str(z["source"]))
