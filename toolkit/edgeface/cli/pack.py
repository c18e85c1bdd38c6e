"""`edgeface pack`: converted models, manifests and runtime assets into one verified bundle (`edgeface.bundle`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from edgeface.cli.consoles import out, say
from edgeface.bundle import pack
from edgeface.vocab import parse_size
from edgeface.hub.output_guard import check_output


def pack_command(
    out_path: Path = typer.Option(..., "--out", "-o", help="The bundle to write, e.g. face.edgeface."),
    precision: Optional[str] = typer.Option(None, "--precision", "-p", help="fp32 | fp16 | int8 | int8_floatio (default: the target's, else int8)."),
    target: Optional[str] = typer.Option(None, "--target", "-t", help="Board profile the bundle is for (rpi4, rpi5, ...): its precision and detector size."),
    detector_size: Optional[str] = typer.Option(None, "--detector-size", help="FaceBoxes input WxH (default: the target's, else 640x480)."),
    regressor: str = typer.Option("mb05", "--regressor", help="mb05 or mb1."),
):
    """Pack converted models, manifests and runtime assets into one verified file for the boards."""
    check_output(out_path, "--out")  # never a device, FIFO, symlink or folder; its folder writable
    size = parse_size(detector_size) if detector_size else None
    path, info, digest = pack(out_path, precision=precision, target=target, detector_size=size, regressor=regressor)
    total = sum(f["size"] for f in info.files)
    for f in info.files:
        say(f"  {f['path']:48s} {f['size'] / 1e6:6.2f} MB  sha256 {f['sha256'][:16]}", to=out)
    det = "" if info.detector_precision_used == info.precision else f", detector {info.detector_precision_used}"
    say(f"{path}: {len(info.files)} files, {total / 1e6:.2f} MB ({info.precision}{det}, faceboxes "
              f"{info.detector_size[0]}x{info.detector_size[1]}, for {info.target}); sha256 {digest}", "ok", "green", to=out)
