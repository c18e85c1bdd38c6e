"""`edgeface bench latency`: latency of every converted model variant, pipeline fps, dense mesh cost (thin over
`edgeface.tools.bench.latency`: runner, report, plots)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from edgeface.boards.profiles import resolve_target
from edgeface.cli.consoles import console, say, wide_out
from edgeface.cli.option_lists import int_values, split_values, thread_counts
from edgeface.cli.progress import progress_bar
from edgeface.cli.report_files import from_json_option, json_option, markdown_option, plot_option, write_report_files
from edgeface.tools.bench import plots
from edgeface.tools.bench import report as bench_report
from edgeface.tools.bench.latency.cases import BenchOptions
from edgeface.tools.bench.latency.runner import load_report, run_bench
from edgeface.tools.bench.latency.threads import threads_lines
from edgeface.tools.bench.stats import TimingPolicy
from edgeface.vocab import parse_size

NAME = "latency"


def command(
    models: Optional[List[str]] = typer.Option(
        None, "--model", "-m", metavar="LIST",
        help="mb05, mb1, faceboxes (repeat or comma-separate; default: mb05 (+ mb1 if converted) and faceboxes)."),
    variants: Optional[List[str]] = typer.Option(
        None, "--variant", "-v", metavar="LIST", help="ort, fp32, fp16, int8, int8_floatio (default: all present)."),
    threads: Optional[List[str]] = typer.Option(
        None, "--threads", "-t", metavar="LIST", help="Thread counts, e.g. 1,2,4 (default: 1, 2, 4 up to the CPU count)."),
    runtimes: Optional[List[str]] = typer.Option(
        None, "--runtime", metavar="LIST",
        help="TFLite runtimes: ai_edge_litert, tflite_runtime (default: every one installed)."),
    detector_size: str = typer.Option(
        "640x480", "--detector-size", metavar="WxH", help="Detector input in pixels, WIDTHxHEIGHT (must be converted)."),
    quick: bool = typer.Option(False, "--quick", help="CI-size runs (few iterations, indicative numbers only)."),
    min_runs: Optional[int] = typer.Option(None, "--min-runs", metavar="N", help="Timed runs per model case, at least (default 100)."),
    min_ms: Optional[float] = typer.Option(
        None, "--min-ms", metavar="MS", help="Time per model case in ms, at least (default 3000; dense rows: 1000)."),
    warmup: Optional[int] = typer.Option(None, "--warmup", metavar="N", help="Untimed runs first, per model case (default 10)."),
    in_process: bool = typer.Option(
        False, "--in-process", help="Run every case in this process (no per-case RSS; see benchmarks/README.md)."),
    no_pipeline: bool = typer.Option(False, "--no-pipeline", help="Skip the whole pipeline's fps on the sample video."),
    pipeline_variants: Optional[List[str]] = typer.Option(
        None, "--pipeline-variant", metavar="LIST", help="Pipeline variants: ort, fp32, int8... (default: ort, fp32, int8 when present)."),
    pipeline_threads: Optional[int] = typer.Option(
        None, "--pipeline-threads", metavar="N", help="Threads for the pipeline (default: the most benchmarked)."),
    pipeline_frames: Optional[int] = typer.Option(
        None, "--pipeline-frames", metavar="N", help="Frames of the sample video to time (default: all; --quick: 40)."),
    no_dense: bool = typer.Option(
        False, "--no-dense", help="Skip dense mesh reconstruction and rendering (numpy and numba rasterizers)."),
    dense_vertices: Optional[List[str]] = typer.Option(
        None, "--dense-vertices", metavar="LIST",
        help="Dense mesh sizes in vertices, e.g. 0,12000,4000 (0: the full mesh; default: full + the target profiles' budgets)."),
    json_file: Optional[Path] = json_option("the report (contract in benchmarks/README.md)"),
    md_file: Optional[Path] = markdown_option(),
    plot_file: Optional[Path] = plot_option(),
    from_json: Optional[Path] = from_json_option("latency report"),
) -> None:
    """Latency of every converted model variant (onnxruntime vs TFLite fp32/fp16/int8), pipeline fps, dense mesh cost."""
    if from_json is not None:
        report = load_report(from_json)
    else:
        policy = TimingPolicy.quick() if quick else TimingPolicy()
        if min_runs is not None:
            policy.min_runs = max(1, min_runs)
        if min_ms is not None:
            policy.min_seconds = max(0.0, min_ms / 1000.0)
        if warmup is not None:
            policy.warmup = max(0, warmup)
        opts = BenchOptions(
            models=split_values(models), variants=split_values(variants), threads=thread_counts(threads),
            runtimes=split_values(runtimes), detector_size=parse_size(detector_size), policy=policy,
            isolate=not in_process, pipeline=not no_pipeline, pipeline_variants=split_values(pipeline_variants),
            pipeline_threads=pipeline_threads, pipeline_frames=(pipeline_frames if pipeline_frames else (40 if quick else None)),
            dense=not no_dense, dense_policy=TimingPolicy.quick() if quick else TimingPolicy.dense(),
            dense_budgets=int_values(dense_vertices, "--dense-vertices", "0,12000,4000"),
        )
        with progress_bar(console, "planning") as progress:
            report = run_bench(opts, progress=progress).to_dict()
    for t in bench_report.bench_tables(report):
        wide_out.print(t, markup=False)
    if report.get("results"):
        for line in threads_lines(report, resolve_target("auto").profile):
            say(f"threads per stage: {line}", to=wide_out)
    for s in report.get("skipped") or ():
        say(f"{s['model']} {s['variant']}: {s['reason']}", "skipped", "yellow")  # one line each, also in a log
    write_report_files(report, json_file, md_file, bench_report.bench_markdown, plot_file, plots.plot_bench)
