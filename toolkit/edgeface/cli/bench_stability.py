"""`edgeface bench --stability`: landmark jitter and smoothing lag (thin over `edgeface.tools.bench.stability.measure`)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

from edgeface.cli.consoles import console, wide_out
from edgeface.cli.progress import progress_bar
from edgeface.cli.report_files import write_report_files
from edgeface.errors import EdgefaceError
from edgeface.tools.bench.stability import measure as st
from edgeface.tools.bench.stability import report as sr
from edgeface.vocab import Precision


def stability_command(variants: List[str], photos: Optional[List[str]], target: str, threads: int,
                      json_file: Optional[Path], md_file: Optional[Path], plot_file: Optional[Path],
                      from_json: Optional[Path]) -> None:
    """Measure (or re-render `from_json`) the stability report, print its tables, write the report files."""
    if from_json is not None:
        report = sr.load_report(from_json)
    else:
        precisions = []
        for v in variants:
            try:
                precisions.append(Precision.parse(v))
            except (ValueError, EdgefaceError):
                raise EdgefaceError(f"--stability measures TFLite precisions: use --variant fp32,int8 (got {v})") from None
        opts = st.StabilityOptions(photos=tuple(Path(p) for p in photos or ()), precisions=tuple(precisions),
                                   target=target, threads=threads)
        with progress_bar(console, "loading models") as progress:
            report = st.measure_stability(opts, progress=progress).to_dict()
    wide_out.print(sr.stability_table(report))
    wide_out.print(sr.verdict_table(report))
    write_report_files(report, json_file, md_file, sr.stability_markdown, plot_file, sr.plot_stability)
