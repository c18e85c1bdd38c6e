"""`edgeface bench`: thin command over `edgeface.tools.bench` (latency runner, report, plots); `--stability` and
`--peers` hand over to `cli.bench_stability` and `cli.bench_peers`."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from edgeface.boards.profiles import resolve_target
from edgeface.cli.bench_peers import peers_command
from edgeface.cli.bench_stability import stability_command
from edgeface.cli.consoles import console, wide_out
from edgeface.cli.option_lists import int_values, split_values, thread_counts
from edgeface.cli.progress import progress_bar
from edgeface.cli.report_files import write_report_files
from edgeface.tools.bench import plots
from edgeface.tools.bench import report as bench_report
from edgeface.tools.bench.latency.cases import BenchOptions
from edgeface.tools.bench.latency.runner import load_report, run_bench
from edgeface.tools.bench.latency.threads import threads_lines
from edgeface.tools.bench.stats import TimingPolicy
from edgeface.vocab import parse_size


def bench_command(
    models: Optional[List[str]] = typer.Option(None, "--model", "-m", help="mb05, mb1, faceboxes (repeat or comma-separate; default: mb05 (+ mb1 if converted) and faceboxes)."),
    variants: Optional[List[str]] = typer.Option(None, "--variant", "-v", help="ort, fp32, fp16, int8, int8_floatio (default: all present)."),
    threads: Optional[List[str]] = typer.Option(None, "--threads", "-t", help="Thread counts, e.g. 1,2,4 (default: 1, 2, 4 up to the CPU count)."),
    runtimes: Optional[List[str]] = typer.Option(None, "--runtime", help="TFLite runtimes: ai_edge_litert, tflite_runtime (default: every one installed)."),
    detector_size: str = typer.Option("640x480", "--detector-size", help="Detector input WIDTHxHEIGHT (must be converted)."),
    quick: bool = typer.Option(False, "--quick", help="CI-size runs (few iterations, indicative numbers only)."),
    min_runs: Optional[int] = typer.Option(None, "--min-runs", help="Timed runs per model case, at least (default 100)."),
    min_seconds: Optional[float] = typer.Option(None, "--min-seconds", help="Seconds per model case, at least (default 3; dense rows: 1)."),
    warmup: Optional[int] = typer.Option(None, "--warmup", help="Untimed runs first, per model case (default 10)."),
    in_process: bool = typer.Option(False, "--in-process", help="Run every case in this process (no per-case RSS; see benchmarks/README.md)."),
    pipeline: bool = typer.Option(True, "--pipeline/--no-pipeline", help="Also time the whole pipeline on the sample video."),
    pipeline_variants: Optional[List[str]] = typer.Option(None, "--pipeline-variant", help="Pipeline variants: ort, fp32, int8... (default: ort, fp32, int8 when present)."),
    pipeline_threads: Optional[int] = typer.Option(None, "--pipeline-threads", help="Threads for the pipeline (default: the most benchmarked)."),
    pipeline_frames: Optional[int] = typer.Option(None, "--pipeline-frames", help="Frames of the video to time (default: all)."),
    dense: bool = typer.Option(True, "--dense/--no-dense", help="Also time dense mesh reconstruction and rendering (numpy and numba rasterizers)."),
    dense_vertices: Optional[List[str]] = typer.Option(None, "--dense-vertices", help="Dense mesh sizes, e.g. 0,12000,4000 (0: full mesh; default: full + the target profiles' budgets)."),
    json_file: Optional[Path] = typer.Option(None, "--json", help="Write the report as JSON (contract in benchmarks/README.md)."),
    md_file: Optional[Path] = typer.Option(None, "--markdown", help="Write the tables as Markdown."),
    plot_file: Optional[Path] = typer.Option(None, "--plot", help="Write a PNG chart (needs matplotlib)."),
    from_json: Optional[Path] = typer.Option(None, "--from-json", help="Re-render a saved report instead of measuring."),
    stability: bool = typer.Option(False, "--stability", help="Measure landmark jitter and smoothing lag instead (README: Stability); --variant picks precisions (default fp32,int8)."),
    photos: Optional[List[str]] = typer.Option(None, "--photo", help="--stability: photos to measure (default: the samples JianzhuGuo.jpg, emma.jpg)."),
    target: str = typer.Option("auto", "--target", help="--stability: board profile whose smoothing and detect interval are used."),
    peers: bool = typer.Option(False, "--peers", help="Instead: edgeface vs upstream 3DDFA_V2 and MediaPipe FaceMesh on the same frames, 1 and 2 cores."),
    peer_systems: Optional[List[str]] = typer.Option(None, "--peer", help="--peers: systems to run (default all; e.g. upstream-video,mediapipe,edgeface-int8-track)."),
    cores: Optional[List[str]] = typer.Option(None, "--cores", help="--peers: core counts to pin each process to (default 1,2)."),
    passes: Optional[int] = typer.Option(None, "--passes", help="--peers: timed passes over the frames per system (default 3)."),
    rounds: int = typer.Option(1, "--rounds", min=1, help="--peers: run every system N times round-robin (fresh processes) and keep each one's median round: steadier ratios on a shared machine."),
    upstream: Optional[Path] = typer.Option(None, "--upstream", help="--peers: upstream 3DDFA_V2 sources (default $EDGEFACE_MIRROR/3ddfa_v2)."),
    mediapipe_python: Optional[Path] = typer.Option(None, "--mediapipe-python", help="--peers: a python with mediapipe==0.10.18 (default: a venv made once in ~/.cache/edgeface-peers)."),
    install: bool = typer.Option(True, "--install/--no-install", help="--peers: create the MediaPipe venv when missing."),
):
    """Latency of every converted model variant (onnxruntime vs TFLite fp32/fp16/int8), pipeline fps, dense mesh cost."""
    if stability:
        return stability_command(variants=split_values(variants) or ["fp32", "int8"], photos=split_values(photos),
                                 target=target, threads=(thread_counts(threads) or [1])[0], json_file=json_file,
                                 md_file=md_file, plot_file=plot_file, from_json=from_json)
    if peers:
        return peers_command(split_values(peer_systems), int_values(cores, "--cores", "1,2"), passes, pipeline_frames,
                             upstream, mediapipe_python, install, from_json, quick, rounds, json_file, md_file, plot_file)
    if from_json is not None:
        report = load_report(from_json)
    else:
        policy = TimingPolicy.quick() if quick else TimingPolicy()
        if min_runs is not None:
            policy.min_runs = max(1, min_runs)
        if min_seconds is not None:
            policy.min_seconds = max(0.0, min_seconds)
        if warmup is not None:
            policy.warmup = max(0, warmup)
        opts = BenchOptions(
            models=split_values(models), variants=split_values(variants), threads=thread_counts(threads), runtimes=split_values(runtimes),
            detector_size=parse_size(detector_size), policy=policy, isolate=not in_process, pipeline=pipeline,
            pipeline_variants=split_values(pipeline_variants), pipeline_threads=pipeline_threads,
            pipeline_frames=(pipeline_frames if pipeline_frames else (40 if quick else None)),
            dense=dense, dense_policy=TimingPolicy.quick() if quick else TimingPolicy.dense(),
            dense_budgets=int_values(dense_vertices, "--dense-vertices", "0,12000,4000"),
        )
        with progress_bar(console, "planning") as progress:
            report = run_bench(opts, progress=progress).to_dict()
    for t in bench_report.bench_tables(report):
        wide_out.print(t)
    if report.get("results"):
        for line in threads_lines(report, resolve_target("auto").profile):
            wide_out.print(f"threads per stage: {line}", highlight=False)
    if report.get("skipped"):
        for s in report["skipped"]:
            console.print(f"[yellow]skipped[/] {s['model']} {s['variant']}: {s['reason']}", soft_wrap=True)  # one line each, also in a log
    write_report_files(report, json_file, md_file, bench_report.bench_markdown, plot_file, plots.plot_bench)
