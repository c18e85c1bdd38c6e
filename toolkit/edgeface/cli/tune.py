"""`edgeface tune`: measure this board and write its own profile (`edgeface.app.tune`)."""

from __future__ import annotations

import json
from typing import Optional

import typer

from edgeface.app.tune import TuneOptions, tune
from edgeface.cli.consoles import out, say
from edgeface.cli.option_lists import int_values


def tune_command(
    source: str = typer.Option("samples:obama", "--source", "-s", help="Video to measure the pipeline on (default: the sample video)."),
    frames: int = typer.Option(60, "--frames", min=2, help="Frames per pipeline run."),
    repeats: int = typer.Option(8, "--repeats", min=1, help="Invokes per stage measurement."),
    threads: Optional[str] = typer.Option(None, "--threads", help="Thread counts to try, e.g. 1,2,4 (default: 1 .. the usable cores, at most 4)."),
    intervals: Optional[str] = typer.Option(None, "--intervals", help="Detect intervals to try, e.g. 5,10,20 (default: the profile's, half and double)."),
    workers: Optional[str] = typer.Option(None, "--workers", help="Regressor worker counts to try on the multi-face clip, e.g. 1,2 (default: 1 .. the usable cores, at most 4)."),
    precision: str = typer.Option("int8,fp32", "--precision", "-p", help="Precisions to try per stage: int8, fp32 or both."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Measure and print, but write no profile."),
    as_json: bool = typer.Option(False, "--json", help="Print the measurements and the choice as JSON."),
):
    """Measure this board (threads per stage, precision per stage, detect interval, regressor workers on a
    multi-face clip) and write its own profile, which `--target auto` then prefers on this board."""
    opts = TuneOptions(source=source, frames=frames, repeats=repeats, threads=tuple(int_values([threads] if threads else None, "--threads", "1,2,4") or ()),
                       intervals=tuple(int_values([intervals] if intervals else None, "--intervals", "5,10,20") or ()),
                       workers=tuple(int_values([workers] if workers else None, "--workers", "1,2") or ()),
                       precisions=tuple(p.strip() for p in precision.split(",") if p.strip()), write=not dry_run)
    result = tune(opts, progress=lambda line: say(line))
    if as_json:
        out.print_json(json.dumps(result.to_dict()))
        return
    out.print("chose:", highlight=False)
    for r in result.reasons:
        say(f"  {r}", to=out)
    if result.path:
        say(f"wrote {result.path} ({result.seconds:.0f} s): `edgeface run --target auto` uses it on this board", to=out)
    else:
        say(f"--dry-run: no profile written ({result.seconds:.0f} s)", to=out)
