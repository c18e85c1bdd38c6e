"""Where converted models live in the cache, and how the runtime finds them.

    $EDGEFACE_HOME/tflite/<name>/<name>_<variant>.tflite   (+ .json manifest beside it)

name: `mb05`, `mb1` (regressors), `faceboxes_<W>x<H>` (detector, `vocab.detector_name`); variant:
the file suffix of a `vocab.Precision` (`float32`, `float16`, `int8` = uint8 raw-pixel input and
float32 output, `int8_floatio` = float input and output).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

from edgeface.hub import paths
from edgeface.vocab import DETECTOR, Precision


def model_dir(name: str, root: Optional[Path] = None) -> Path:
    return paths.tflite_dir(root) / name


def model_path(name: str, variant: str, root: Optional[Path] = None) -> Path:
    return model_dir(name, root) / f"{name}_{variant}.tflite"


def convert_command(model: str, precision: Union[str, Precision], size: Optional[tuple] = None) -> str:
    """The `edgeface convert` command that makes `model` (mb05, mb1, faceboxes or faceboxes_WxH) at
    `precision` (a precision or variant name), with `--detector-size` when `size` is given."""
    flag = {Precision.INT8: " --int8", Precision.INT8_FLOATIO: " --int8", Precision.FP16: " --fp16"}.get(
        Precision.parse(precision), "")
    model = DETECTOR if model.startswith(DETECTOR) else model
    sz = f" --detector-size {size[0]}x{size[1]}" if size is not None else ""
    return f"`edgeface convert --model {model}{flag}{sz}`"
