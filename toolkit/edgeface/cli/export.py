"""`edgeface export`: PyTorch checkpoint -> ONNX, verified against torch (`edgeface.tools.convert.export`)."""

from __future__ import annotations

import typer

from edgeface.cli.consoles import out, say, status
from edgeface.errors import EdgefaceError
from edgeface.hub import paths
from edgeface.hub.assets import file_path
from edgeface.vocab import REGRESSORS, parse_size


def export_command(
    model: str = typer.Option("all", "--model", "-m", help="mb05 | mb1 | faceboxes | all (mb05 + faceboxes)."),
    detector_size: str = typer.Option("640x480", "--detector-size", help="Fixed FaceBoxes input WIDTHxHEIGHT (multiples of 32)."),
    force: bool = typer.Option(False, "--force", help="Export again even if a verified export is cached."),
):
    """PyTorch checkpoint -> ONNX, verified against torch on real crops/frames (writes ONNX + JSON sidecar)."""
    from edgeface.tools.convert import export as ex  # lazy: torch, onnx (the [convert] extra)

    w, h = parse_size(detector_size)
    names = ["mb05", "faceboxes"] if model == "all" else [model]
    out_dir = paths.onnx_dir()
    for m in names:
        with status(f"exporting {m} to ONNX and verifying against torch"):
            if m in REGRESSORS:
                results = [ex.export_regressor(file_path(m, "checkpoint"), m, out_dir, force=force,
                                               detector_checkpoint=file_path("faceboxes", "checkpoint"))]
            elif m == "faceboxes":
                ck = file_path("faceboxes", "checkpoint")
                results = [ex.export_detector(ck, out_dir, width=w, height=h, int8_friendly=f, force=force) for f in (False, True)]
            else:
                raise EdgefaceError(f"unknown model '{m}': use mb05, mb1, faceboxes or all")
        for r in results:
            tag = "cached" if r.cached else "exported"
            say(f"{r.name:32s} {r.onnx_path}  ({tag}; max |onnx - torch| = {r.max_abs_diff:.2e} on {r.n_samples} samples)", "ok", "green", to=out)
