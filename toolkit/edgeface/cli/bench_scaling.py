"""`edgeface bench scaling`: fps against faces in view, cores and regressor workers (thin over
`edgeface.tools.bench.scaling`)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from edgeface.cli.consoles import console, wide_out
from edgeface.cli.option_lists import int_values, split_values
from edgeface.cli.report_files import from_json_option, json_option, markdown_option, plot_option, write_report_files
from edgeface.errors import OptionsError
from edgeface.tools.bench.report import read_report
from edgeface.tools.bench.scaling import report as scaling_report
from edgeface.tools.bench.scaling.run import FACE_COUNTS, FORMAT, ScalingOptions, run_scaling

NAME = "scaling"


def command(
    precision: Optional[List[str]] = typer.Option(None, "--precision", "-p", metavar="NAME", help="TFLite precisions (default int8,fp32)."),
    faces: Optional[List[str]] = typer.Option(None, "--faces", metavar="N", help=f"Faces in view (default {','.join(map(str, FACE_COUNTS))}; 1-16)."),
    cores: Optional[List[str]] = typer.Option(None, "--cores", metavar="N", help="Core counts (default 1,2)."),
    frames: int = typer.Option(60, "--frames", metavar="N", min=10, help="Frames per run."),
    passes: int = typer.Option(3, "--passes", metavar="N", min=1, help="Timed passes per run (the median is kept)."),
    rounds: int = typer.Option(1, "--rounds", metavar="N", min=1, help="Rounds of every run, round-robin."),
    json_file: Optional[Path] = json_option(),
    md_file: Optional[Path] = markdown_option(),
    plot_file: Optional[Path] = plot_option("fps against faces in view"),
    from_json: Optional[Path] = from_json_option("scaling report"),
) -> None:
    """Many faces: fps and ms per frame against faces in view, cores and regressor workers.

    Faces in view 1-16, on 1 and 2 cores, INT8 and fp32, with 1 and 2 regressor workers, the models alone
    beside the pipeline, each run in its own pinned process; the cost of each extra face (ms)."""
    if from_json is not None:
        rep = read_report(from_json, FORMAT, "scaling")
    else:
        try:
            opts = ScalingOptions(precisions=tuple(split_values(precision) or ("int8", "fp32")),
                                  cores=tuple(int_values(cores, "--cores", "1,2") or (1, 2)),
                                  faces=tuple(int_values(faces, "--faces", "1,4,16") or FACE_COUNTS),
                                  frames=frames, passes=passes, rounds=rounds)
        except ValueError as e:
            raise OptionsError(str(e)) from None
        rep = run_scaling(opts, log=lambda s: console.print(s, highlight=False, markup=False))
    wide_out.print(scaling_report.markdown(rep), markup=False, highlight=False)
    write_report_files(rep, json_file, md_file, scaling_report.markdown, plot_file, scaling_report.plot)
