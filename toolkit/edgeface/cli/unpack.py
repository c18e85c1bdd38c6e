"""`edgeface unpack`: verify a bundle, then put its models into the cache (`edgeface.bundle`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from edgeface.cli.consoles import out, say
from edgeface.bundle import unpack
from edgeface.hub import paths


def unpack_command(
    bundle: Path = typer.Argument(..., help="A bundle made by `edgeface pack`."),
    dest: Optional[Path] = typer.Option(None, "--to", help="Model cache to unpack into (default: $EDGEFACE_HOME or ~/.cache/edgeface)."),
):
    """Verify every file of a bundle, then put the models into the cache (nothing is changed if any check fails)."""
    info = unpack(bundle, dest)
    # a bundle packed for a profile runs with that profile (which may give the detector its own precision)
    how = (f"--target {info.target}" if info.target != "any" else
           f"--precision {info.precision}" if info.detector_precision_used == info.precision else
           f"--precision {info.precision} (detector {info.detector_precision_used})")
    say(f"{len(info.files)} files verified and unpacked into {dest or paths.home()} "
              f"({info.precision}, packed for {info.target}); run: edgeface run --camera {how}", "ok", "green", to=out)
