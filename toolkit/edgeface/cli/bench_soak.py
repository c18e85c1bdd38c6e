"""`edgeface bench soak`: the sample video looped through the whole run loop, RSS and open descriptors sampled
(thin over `edgeface.tools.bench.soak`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from edgeface.cli.consoles import console, wide_out
from edgeface.cli.progress import progress_bar
from edgeface.cli.report_files import from_json_option, json_option, markdown_option, plot_option, write_report_files
from edgeface.errors import EdgefaceError
from edgeface.tools.bench import soak as sk
from edgeface.vocab import Precision

NAME = "soak"


def command(
    frames: Optional[int] = typer.Option(
        None, "--frames", metavar="N", min=1000, help=f"Frames through the run loop (default {sk.FRAMES:,}; --quick: 1,000)."),
    quick: bool = typer.Option(False, "--quick", help="The test suite's size: 1,000 frames."),
    precision: str = typer.Option("fp32", "--precision", "-p", metavar="NAME", help="TFLite precision: fp32, fp16, int8..."),
    video: Optional[Path] = typer.Option(None, "--video", metavar="FILE", help="Video to loop (default: the sample obama.mp4)."),
    json_file: Optional[Path] = json_option(),
    md_file: Optional[Path] = markdown_option("the verdict table"),
    plot_file: Optional[Path] = plot_option("RSS (MB) and open descriptors against frames"),
    from_json: Optional[Path] = from_json_option("soak report"),
) -> None:
    """Leaks: a video looped through the run loop (JSONL, MJPEG client), RSS and open fds every 100 frames.

    Exits 1 when RSS grows by more than 5 MB after the warm-up (the first 10% of the frames) or a descriptor leaks."""
    if from_json is not None:
        report = sk.load_report(from_json)
    else:
        Precision.parse(precision)
        total = frames or (1000 if quick else sk.FRAMES)
        with progress_bar(console, "loading models") as progress:
            report = sk.run_soak(total, precision, video,
                                 progress=lambda n, rss, fds: progress(f"RSS {rss:.0f} MB, {fds} fds", n, total))
    wide_out.print(sk.soak_table(report))
    write_report_files(report, json_file, md_file, sk.soak_markdown, plot_file, sk.plot_soak)
    if not report["ok"]:
        raise EdgefaceError(f"soak failed: RSS grew by {report['rss_growth_mb']:+.2f} MB after the warm-up and "
                            f"{report['fd_growth']:+d} descriptors (limits: {sk.MAX_GROWTH_MB:g} MB, 0)", exit_code=1)
