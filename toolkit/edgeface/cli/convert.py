"""`edgeface convert`: ONNX -> TFLite (float32 / float16 / INT8), verified, with manifests (`edgeface.tools.convert.tflite`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from edgeface.cli.consoles import out, say, status
from edgeface.errors import EdgefaceError
from edgeface.vocab import parse_size


def _print_conversion(r) -> None:
    for v in r.variants:
        ver = v.manifest["verification"]
        size = v.manifest["size_bytes"] / 1e6
        checks = "; ".join(ver["checks"])
        say(f"{r.name}_{v.variant:13s} {size:5.2f} MB  {'(cached) ' if r.cached else ''}{checks}", "ok", "green", to=out)
        say(f"     {v.path}", to=out)


def convert_command(
    model: str = typer.Option("all", "--model", "-m", help="mb05 | mb1 | faceboxes | all (mb05 + faceboxes)."),
    int8: bool = typer.Option(False, "--int8", help="Also full-INT8 models calibrated on real faces (+ float-I/O variant)."),
    fp16: bool = typer.Option(False, "--fp16", help="Also float16-weight models."),
    onnx: Optional[Path] = typer.Option(None, "--onnx", help="Convert this ONNX instead of exporting the checkpoint."),
    calibration: Optional[Path] = typer.Option(None, "--calibration", help="Calibration set from `edgeface calibrate`."),
    detector_size: str = typer.Option("640x480", "--detector-size", help="Detector input WIDTHxHEIGHT."),
    input_dtype: str = typer.Option("uint8", "--input-dtype", help="INT8 model input: uint8 (raw pixels) | int8 | float32."),
    output_dtype: str = typer.Option("float32", "--output-dtype", help="INT8 model output: float32 | int8 | uint8."),
    float_head: bool = typer.Option(True, "--float-head/--no-float-head", help="Regressor: keep the final FC layer in float (mixed precision; halves INT8 landmark error)."),
    still_detector: bool = typer.Option(True, "--still-detector/--no-still-detector", help="FaceBoxes: also convert the still-image detector (1088x736, upstream's scale for photos)."),
    ranges: Optional[str] = typer.Option(None, "--ranges", help="INT8 regressor activation ranges: minmax | percentile:Q (default: the recipe's, percentile:99.99)."),
    force: bool = typer.Option(False, "--force", help="Convert again even if cached."),
):
    """ONNX -> TFLite (float32 / float16 / INT8), verified against the ONNX original, with manifests."""
    # lazy: torch, onnx, tensorflow, onnx2tf (the [convert] extra)
    from edgeface.tools.convert.tflite import ConvertOptions, convert as do_convert

    if onnx is not None and model == "all":
        raise EdgefaceError("--onnx converts one model: name it with --model mb05|mb1|faceboxes")
    opts = ConvertOptions(int8=int8, fp16=fp16, onnx=onnx, calibration=calibration, detector_size=parse_size(detector_size),
                          input_dtype=input_dtype, output_dtype=output_dtype, float_head=float_head, force=force,
                          still_detector=still_detector and onnx is None, regressor_ranges=ranges)
    with status("converting") as st:
        results = do_convert([model], opts, log=lambda msg: (st.update(msg), say(msg, style="dim")))
    for r in results:
        _print_conversion(r)
