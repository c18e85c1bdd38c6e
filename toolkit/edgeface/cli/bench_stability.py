"""`edgeface bench stability`: landmark jitter and smoothing lag (thin over `edgeface.tools.bench.stability`)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from edgeface.cli.consoles import console, wide_out
from edgeface.cli.option_lists import split_values
from edgeface.cli.progress import progress_bar
from edgeface.cli.report_files import from_json_option, json_option, markdown_option, plot_option, write_report_files
from edgeface.errors import EdgefaceError
from edgeface.tools.bench.stability import measure as st
from edgeface.tools.bench.stability import report as sr
from edgeface.vocab import Precision

NAME = "stability"


def command(
    precisions: Optional[List[str]] = typer.Option(
        None, "--precision", "-p", metavar="LIST", help="TFLite precisions to measure: fp32, fp16, int8... (default: fp32,int8)."),
    photos: Optional[List[str]] = typer.Option(
        None, "--photo", metavar="FILE", help="Photos to measure (default: the samples JianzhuGuo.jpg, emma.jpg)."),
    target: str = typer.Option(
        "auto", "--target", metavar="NAME", help="Board profile whose smoothing and detect interval are used (auto, x86_64, rpi4...)."),
    threads: int = typer.Option(1, "--threads", "-t", metavar="N", min=1, help="Threads per model."),
    json_file: Optional[Path] = json_option(),
    md_file: Optional[Path] = markdown_option(),
    plot_file: Optional[Path] = plot_option(),
    from_json: Optional[Path] = from_json_option("stability report"),
) -> None:
    """Landmark jitter (still photo + sensor noise) and smoothing lag at 2 px/frame, per precision."""
    if from_json is not None:
        report = sr.load_report(from_json)
    else:
        parsed = []
        for p in split_values(precisions) or ["fp32", "int8"]:
            try:
                parsed.append(Precision.parse(p))
            except (ValueError, EdgefaceError):
                raise EdgefaceError(f"bench stability measures TFLite precisions: use --precision fp32,int8 (got {p})") from None
        opts = st.StabilityOptions(photos=tuple(Path(p) for p in split_values(photos) or ()), precisions=tuple(parsed),
                                   target=target, threads=threads)
        with progress_bar(console, "loading models") as progress:
            report = st.measure_stability(opts, progress=progress).to_dict()
    wide_out.print(sr.stability_table(report))
    wide_out.print(sr.verdict_table(report))
    write_report_files(report, json_file, md_file, sr.stability_markdown, plot_file, sr.plot_stability)
