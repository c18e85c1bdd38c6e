"""`edgeface bench eval`: landmark accuracy on annotated images (thin over `edgeface.tools.bench.eval.evaluate`)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from edgeface.cli.consoles import say, status, wide_out
from edgeface.cli.option_lists import split_values
from edgeface.cli.report_files import from_json_option, json_option, markdown_option, plot_option, write_report_files
from edgeface.errors import EdgefaceError
from edgeface.runtime.still import from_flags
from edgeface.tools.bench import plots
from edgeface.tools.bench import report as bench_report
from edgeface.tools.bench.eval import evaluate
from edgeface.vocab import PRECISIONS, check_regressor, parse_size
from edgeface.sources.image_header import DEFAULT_MAX_PIXELS

NAME = "eval"


def command(
    folder: Optional[Path] = typer.Argument(
        None, metavar="FOLDER", help="Folder of images with iBUG .pts files (<stem>.pts or <stem>_<k>.pts)."),
    precisions: Optional[List[str]] = typer.Option(
        None, "--precision", "-p", metavar="LIST", help="fp32, fp16, int8, int8_floatio, onnx (default: fp32,int8)."),
    regressor: str = typer.Option("mb05", "--model", "-m", metavar="NAME", help="Regressor: mb05 | mb1."),
    detector_size: Optional[str] = typer.Option(
        None, "--detector-size", metavar="WxH",
        help="Video detector input in pixels, WIDTHxHEIGHT (default: the target profile's, as edgeface run)."),
    roi: str = typer.Option(
        "detector", "--roi", metavar="FROM", help="detector (the pipeline) | landmarks (ROI from the ground truth: regressor only)."),
    threads: int = typer.Option(1, "--threads", "-t", metavar="N", help="Threads per model."),
    max_pixels: int = typer.Option(DEFAULT_MAX_PIXELS, "--max-pixels", min=1, metavar="N",
                                   help="Largest image decoded, in pixels (read from its header first; larger ones are skipped)."),
    target: str = typer.Option("auto", "--target", metavar="NAME", help="Board profile, as edgeface run (auto, x86_64, rpi4...)."),
    still_detector: Optional[str] = typer.Option(
        None, "--still-detector", metavar="MODE",
        help="Photos: native (upstream's scale, 1088x736 detector; default) | letterbox (as video)."),
    still_recrops: Optional[int] = typer.Option(
        None, "--still-recrops", metavar="N", min=0, max=5, help="Photos: landmark re-crops per face (default: 1 float, 2 INT8)."),
    still_flip: Optional[bool] = typer.Option(
        None, "--still-flip/--no-still-flip", help="Photos: horizontal-flip test-time augmentation (default on)."),
    json_file: Optional[Path] = json_option("the report (with per-face errors)"),
    md_file: Optional[Path] = markdown_option("the table"),
    plot_file: Optional[Path] = plot_option("the NME cumulative distribution"),
    from_json: Optional[Path] = from_json_option("eval report", "; FOLDER is then ignored"),
) -> None:
    """68-landmark NME (bbox and inter-ocular normalized), failure rate and detector recall per precision."""
    if from_json is not None:
        report = evaluate.load_report(from_json)
        wide_out.print(bench_report.eval_table(report))
        write_report_files(report, json_file, md_file, bench_report.eval_markdown, plot_file, plots.plot_eval)
        return
    if folder is None:
        raise EdgefaceError("give the folder of annotated images: edgeface bench eval FOLDER (or --from-json REPORT)")
    precs = split_values(precisions) or ["fp32", "int8"]
    allowed = PRECISIONS + ("onnx",)
    for p in precs:
        if p not in allowed:
            raise EdgefaceError(f"unknown precision '{p}': use {', '.join(allowed)}")
    check_regressor(regressor)
    if threads < 1:
        raise EdgefaceError(f"--threads must be >= 1, got {threads}")
    with status("evaluating"):
        report = evaluate.evaluate(folder, precs, regressor=regressor,
                                   detector_size=parse_size(detector_size) if detector_size else None, roi=roi,
                                   threads=threads, target=target,
                                   still=from_flags(still_detector, still_recrops, still_flip),
                                   max_pixels=max_pixels).to_dict()
    for line in report["results"][0].get("skipped", []) if report["results"] else []:  # images left out, one line each
        typer.echo("warning: skipped " + "".join(c if c.isprintable() else repr(c)[1:-1] for c in line), err=True)
    wide_out.print(bench_report.eval_table(report))
    if report["orphan_annotations"]:
        say(f".pts files without an image: {', '.join(report['orphan_annotations'][:5])}", "note", "yellow")
    write_report_files(report, json_file, md_file, bench_report.eval_markdown, plot_file, plots.plot_eval)
