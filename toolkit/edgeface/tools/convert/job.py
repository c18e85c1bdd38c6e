"""One model's conversion as the steps after its sources see it (`ConversionJob`), and what a conversion returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from edgeface.tools.convert.options import ConvertOptions


@dataclass(frozen=True)
class ConversionJob:
    """The facts every variant of one model's conversion shares (`tflite.convert_model` sets them up)."""

    model: str  # model card name: mb05 | mb1 | faceboxes
    name: str  # file stem: mb05, faceboxes_640x480, ...
    kind: str  # regressor | detector
    opts: ConvertOptions
    ref_onnx: Path  # the float original the variants are verified against
    src_onnx: Path  # the graph converted
    mean: tuple  # the normalization moved into the graph
    std: tuple
    key: str  # cache key (`conversion_cache.cache_key`)
    percentile: Optional[float] = None  # INT8 regressor ReLUs clipped at it; None: min-max ranges
    cal: object = None  # calibrate.CalibrationSet (INT8 only)
    cal_path: Optional[Path] = None

    @property
    def calib(self):
        """The calibration samples of this model (None without INT8)."""
        if self.cal is None:
            return None
        return self.cal.regressor if self.kind == "regressor" else self.cal.detector

    @property
    def head_file(self) -> str:
        """The name of the float head's weights file (regressors converted with --float-head)."""
        return f"{self.name}_head.npz"


@dataclass
class ConvertedVariant:
    variant: str
    path: Path
    manifest: dict  # its manifest's JSON record (`hub.manifest.Manifest.to_dict`)


@dataclass
class ConvertResult:
    model: str
    name: str
    variants: list = field(default_factory=list)
    cached: bool = False
    seconds: float = 0.0
