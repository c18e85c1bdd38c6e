"""Where converted models live in the cache, and how the runtime finds them.

    $EDGEFACE_HOME/tflite/<name>/<name>_<variant>.tflite   (+ .json manifest beside it)

name: `mb05`, `mb1` (regressors), `faceboxes_<W>x<H>` (detector); variant: `float32`, `float16`,
`int8` (uint8 raw-pixel input, float32 output), `int8_floatio` (float input and output).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from . import paths
from .errors import MissingAssetError

VARIANTS = ("float32", "float16", "int8", "int8_floatio")
PRECISION_TO_VARIANT = {"fp32": "float32", "float32": "float32", "fp16": "float16", "float16": "float16",
                        "int8": "int8", "int8_floatio": "int8_floatio"}


def detector_name(width: int = 640, height: int = 480) -> str:
    return f"faceboxes_{width}x{height}"


def model_dir(name: str, root: Optional[Path] = None) -> Path:
    return paths.tflite_dir(root) / name


def model_path(name: str, variant: str, root: Optional[Path] = None) -> Path:
    return model_dir(name, root) / f"{name}_{variant}.tflite"


def find_model(name: str, precision: str, root: Optional[Path] = None) -> Path:
    """The converted model file for `name` at `precision` (fp32|fp16|int8|int8_floatio), or a one-line error."""
    variant = PRECISION_TO_VARIANT.get(precision)
    if variant is None:
        raise MissingAssetError(f"unknown precision '{precision}': use fp32, fp16, int8 or int8_floatio")
    p = model_path(name, variant, root)
    if not p.is_file() or not p.with_suffix(".json").is_file():
        flag = {"int8": " --int8", "int8_floatio": " --int8", "float16": " --fp16"}.get(variant, "")
        model = "faceboxes" if name.startswith("faceboxes") else name
        raise MissingAssetError(f"{p.name} is not in the cache {model_dir(name, root)}; run `edgeface convert --model {model}{flag}`")
    return p
