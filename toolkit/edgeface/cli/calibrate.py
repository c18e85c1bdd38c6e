"""`edgeface calibrate`: an INT8 calibration set of real face crops and frames (`edgeface.tools.convert.calibrate`)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from edgeface.cli.consoles import out, say, status
from edgeface.errors import EdgefaceError
from edgeface.vocab import parse_size
from edgeface.hub.output_guard import check_output


def calibrate_command(
    sources: Optional[List[str]] = typer.Argument(None, help="Images, folders or videos with faces (default: the recipe's sample media)."),
    out_file: Optional[Path] = typer.Option(None, "--out", "-o", help="Output .npz (default: the cache's default set)."),
    count: Optional[int] = typer.Option(None, "--count", "-n", help="Regressor samples (default from the recipe: 300)."),
    detector_count: Optional[int] = typer.Option(None, "--detector-count", help="Detector frames (default from the recipe: 48)."),
    recipe: Optional[Path] = typer.Option(None, "--recipe", help="Recipe TOML (default: calibration/default.toml)."),
    detector_size: str = typer.Option("640x480", "--detector-size", help="Detector input WIDTHxHEIGHT the set is made for."),
):
    """Build an INT8 calibration set of real face crops and frames, made by the runtime's preprocessing."""
    # lazy: torch, onnx, onnxruntime (the [convert] extra): export and the float detector
    from edgeface.tools.convert import calibrate as cal_mod
    from edgeface.tools.convert.conversion_inputs import float_detector, reference_detector_onnx

    w, h = parse_size(detector_size)
    rec = cal_mod.load_recipe(recipe)
    if sources:
        for s in sources:
            if not s.startswith("samples:") and not Path(s).expanduser().exists():
                raise EdgefaceError(f"calibration source {s} does not exist")
        rec.regressor_sources = list(sources)
        rec.detector_sources = list(sources)
        rec.name = "custom"
    if out_file is not None:  # before the long build: not an input, not a special file, its folder writable
        check_output(out_file, "--out", inputs=[Path(s).expanduser() for s in sources or [] if not s.startswith("samples:")])
    ref_det = reference_detector_onnx((w, h), None, lambda m: None)
    with status("finding faces and building the calibration set") as st:
        cal = cal_mod.build(rec, float_detector(ref_det), None, count, detector_count,
                            progress=lambda label: st.update(f"finding faces: {label}"))
    dest = out_file or cal_mod.default_path(None, (w, h))
    cal_mod.save(cal, dest)
    m = cal.meta
    say(f"{dest}: {m['regressor']['count']} face crops ({m['regressor']['faces_found']} faces in "
              f"{m['regressor']['frames']} frames), {m['detector']['count']} detector frames; digest {cal.digest[:16]}", "ok", "green", to=out)
