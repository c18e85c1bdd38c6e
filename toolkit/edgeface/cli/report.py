"""`edgeface report`: measure this board and write a shareable JSON + Markdown report (`edgeface.app.board_report`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from edgeface.app.board_report import PROFILE_PRECISION, ReportOptions, build_report, write_report
from edgeface.cli.consoles import out, say


def report_command(
    out_dir: Path = typer.Option(Path("."), "--out", "-o", help="Folder for board-report-<board>.json and .md."),
    target: Optional[str] = typer.Option(None, "--target", "-t", help="Profiles to measure, e.g. rpi4,local (default: the one --target auto picks, and its base when that is the tuned local one)."),
    precision: str = typer.Option(f"{PROFILE_PRECISION},int8,fp32", "--precision", "-p", help="profile (the profile's own per-stage precisions), int8, fp32, ... (comma-separated)."),
    source: str = typer.Option("samples:obama", "--source", "-s", help="Video to run the pipeline on."),
    frames: int = typer.Option(100, "--frames", min=2, help="Frames per run."),
    name: Optional[str] = typer.Option(None, "--name", help="File name stem (default board-report-<board model or machine>)."),
):
    """Measure the pipeline here (fps, latency, peak memory per profile and precision; temperature and throttling)
    and write a JSON + Markdown report to share."""
    opts = ReportOptions(profiles=tuple(p.strip() for p in (target or "").split(",") if p.strip()),
                         precisions=tuple(p.strip() for p in precision.split(",") if p.strip()), source=source,
                         frames=frames)
    rep = build_report(opts, progress=lambda line: say(line))
    for w in rep["warnings"]:
        say(w, "warning:", "yellow")
    paths = write_report(rep, out_dir, name)
    say("wrote " + " and ".join(str(p) for p in paths), to=out)
