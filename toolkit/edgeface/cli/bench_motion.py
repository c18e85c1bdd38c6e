"""`edgeface bench motion`: tracking under camera and face motion (thin over `edgeface.tools.bench.motion`)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from edgeface.cli.consoles import console, wide_out
from edgeface.cli.option_lists import int_values, split_values
from edgeface.cli.report_files import from_json_option, json_option, markdown_option, plot_option, write_report_files
from edgeface.errors import OptionsError
from edgeface.tools.bench.motion import report as motion_report
from edgeface.tools.bench.motion.paths import PATTERNS
from edgeface.tools.bench.motion.run import FORMAT, SPEEDS, MotionBenchOptions, run_motion_bench
from edgeface.tools.bench.report import read_report

NAME = "motion"


def command(
    precision: str = typer.Option("int8", "--precision", "-p", metavar="NAME", help="TFLite precision: fp32, int8..."),
    motion: Optional[List[str]] = typer.Option(None, "--motion", metavar="MODEL", help="Tracking to compare: velocity, none (default both)."),
    pattern: Optional[List[str]] = typer.Option(None, "--pattern", metavar="NAME", help=f"Camera motion: {', '.join(PATTERNS)} (default all)."),
    speed: Optional[List[str]] = typer.Option(None, "--speed", metavar="PX", help=f"Speeds in px/frame (default {','.join(f'{s:g}' for s in SPEEDS)})."),
    frames: int = typer.Option(80, "--frames", metavar="N", min=10, help="Frames per clip."),
    photo: Optional[List[Path]] = typer.Option(None, "--photo", metavar="FILE", help="Another photo composited with the samples."),
    target: str = typer.Option("auto", "--target", metavar="NAME", help="Board profile (auto: this machine's)."),
    no_mediapipe: bool = typer.Option(False, "--no-mediapipe", help="Do not score MediaPipe FaceMesh beside edgeface."),
    mediapipe_python: Optional[Path] = typer.Option(None, "--mediapipe-python", metavar="FILE", help="A python that imports mediapipe (its own venv)."),
    json_file: Optional[Path] = json_option(),
    md_file: Optional[Path] = markdown_option(),
    plot_file: Optional[Path] = plot_option("recall and id switches against speed"),
    from_json: Optional[Path] = from_json_option("motion report"),
) -> None:
    """Tracking under camera and face motion: recall, id switches, landmark error per speed.

    A 640x480 view moves over composites of the sample photos (pans, reversals, acceleration, shake, zoom,
    crossing faces) at each speed; recall, frames to acquire, id switches, false faces per frame and
    landmark error against the still-image result (% of face size), edgeface's `motion` models side by side
    and MediaPipe FaceMesh where it is installed."""
    if from_json is not None:
        rep = read_report(from_json, FORMAT, "motion")
    else:
        speeds = tuple(float(s) for s in (int_values(speed, "--speed", "5,25") or SPEEDS))
        try:
            opts = MotionBenchOptions(precision=precision, motions=tuple(split_values(motion) or ("velocity", "none")),
                                      patterns=tuple(split_values(pattern) or PATTERNS), speeds=speeds, frames=frames,
                                      photos=tuple(str(p) for p in photo or ()), target=target,
                                      mediapipe=not no_mediapipe,
                                      mediapipe_python=None if mediapipe_python is None else str(mediapipe_python))
        except ValueError as e:
            raise OptionsError(str(e)) from None
        rep = run_motion_bench(opts, log=lambda s: console.print(s, highlight=False, markup=False))
    wide_out.print(motion_report.markdown(rep), markup=False, highlight=False)
    write_report_files(rep, json_file, md_file, motion_report.markdown, plot_file, motion_report.plot)
