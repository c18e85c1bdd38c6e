"""What `edgeface convert` is asked to make: `ConvertOptions`, the variants they request, and the `Log` callback type."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from edgeface.tools.convert.range_spec import parse_ranges
from edgeface.vocab import Precision

#: a progress callback: one line of text per step
Log = Callable[[str], None]

INPUT_DTYPES = ("uint8", "int8", "float32")
OUTPUT_DTYPES = ("float32", "int8", "uint8")


@dataclass
class ConvertOptions:
    int8: bool = False
    fp16: bool = False
    onnx: Optional[Path] = None  # convert this ONNX instead of exporting the checkpoint
    calibration: Optional[Path] = None  # calibration set (.npz from `edgeface calibrate`)
    detector_size: tuple = (640, 480)
    input_dtype: str = "uint8"  # INT8 model input: uint8 (raw pixels, no float work) | int8 | float32
    output_dtype: str = "float32"  # INT8 model output: float32 (dequantized in-graph) | int8 | uint8
    float_head: bool = True  # regressors: keep the final FC layer in float (mixed precision; see onnx_graph.split_float_head)
    still_detector: bool = False  # faceboxes: also convert at vocab.STILL_DETECTOR_SIZE (photos; the CLI's default)
    regressor_ranges: Optional[str] = None  # INT8 regressor activation ranges "minmax" | "percentile:Q"; None: the recipe's
    force: bool = False

    def __post_init__(self):
        if self.regressor_ranges is not None:
            parse_ranges(self.regressor_ranges)  # a bad value fails before any work

    def dtypes_ok(self) -> bool:
        """Whether the INT8 input and output dtypes are ones onnx2tf can make."""
        return self.input_dtype in INPUT_DTYPES and self.output_dtype in OUTPUT_DTYPES


def requested_variants(opts: ConvertOptions) -> list:
    """The variant names to make, float32 first (the reference for the INT8 size ratio)."""
    p = [Precision.FP32] + ([Precision.FP16] if opts.fp16 else []) + ([Precision.INT8, Precision.INT8_FLOATIO] if opts.int8 else [])
    return [x.variant for x in p]
