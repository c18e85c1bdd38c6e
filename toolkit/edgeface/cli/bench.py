"""`edgeface bench` and `edgeface eval`: thin commands over `edgeface.tools.bench` (runner, evaluate, report, plots).

`register(app)` adds both commands to the main Typer app (`edgeface.cli.main`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from edgeface.errors import EdgefaceError
from edgeface.vocab import PRECISIONS, check_regressor, parse_size

console = Console(stderr=True)
# tables are wide: do not squeeze them to 80 columns when the output is a file or a pipe
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)


def _split(values: Optional[List[str]]) -> Optional[List[str]]:
    if not values:
        return None
    return [p.strip() for v in values for p in v.split(",") if p.strip()]


def _ints(values: Optional[List[str]], option: str, example: str) -> Optional[List[int]]:
    parts = _split(values)
    if not parts:
        return None
    try:
        return [int(p) for p in parts]
    except ValueError:
        raise EdgefaceError(f"{option} takes whole numbers (e.g. {option} {example}), got {','.join(parts)}") from None


def _threads(values: Optional[List[str]]) -> Optional[List[int]]:
    return _ints(values, "--threads", "1,2,4")


def _write_outputs(json_obj: dict, json_file: Optional[Path], md_file: Optional[Path], md_text, plot_file: Optional[Path], plot_fn) -> None:
    from edgeface.hub.atomic import write_json_atomic, write_text_atomic

    if json_file:
        write_json_atomic(json_file, json_obj)
        out.print(f"[green]ok[/] wrote {json_file}")
    if md_file:
        write_text_atomic(md_file, md_text(json_obj))
        out.print(f"[green]ok[/] wrote {md_file}")
    if plot_file:
        if plot_file.suffix.lower() != ".png":
            raise EdgefaceError(f"--plot writes a PNG: give a file name ending in .png, not {plot_file.name}")
        plot_fn(json_obj, plot_file)
        out.print(f"[green]ok[/] wrote {plot_file}")


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
        from edgeface.cli.stability import stability_command

        return stability_command(variants=_split(variants) or ["fp32", "int8"], photos=_split(photos), target=target,
                                 threads=(_threads(threads) or [1])[0], json_file=json_file, md_file=md_file,
                                 plot_file=plot_file, from_json=from_json, write_outputs=_write_outputs)
    if peers:
        from edgeface.cli.peers import run_peers_command

        return run_peers_command(
            console, out, _split(peer_systems), _ints(cores, "--cores", "1,2"), passes, pipeline_frames, upstream,
            mediapipe_python, install, from_json, quick, rounds,
            lambda report, md, plot: _write_outputs(report, json_file, md_file, md, plot_file, plot))
    from edgeface.tools.bench import plots
    from edgeface.tools.bench import report as bench_report
    from edgeface.tools.bench.latency.cases import BenchOptions
    from edgeface.tools.bench.latency.runner import load_report, run_bench
    from edgeface.tools.bench.stats import TimingPolicy

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
            models=_split(models), variants=_split(variants), threads=_threads(threads), runtimes=_split(runtimes),
            detector_size=parse_size(detector_size), policy=policy, isolate=not in_process, pipeline=pipeline,
            pipeline_variants=_split(pipeline_variants), pipeline_threads=pipeline_threads,
            pipeline_frames=(pipeline_frames if pipeline_frames else (40 if quick else None)),
            dense=dense, dense_policy=TimingPolicy.quick() if quick else TimingPolicy.dense(),
            dense_budgets=_ints(dense_vertices, "--dense-vertices", "0,12000,4000"),
        )
        from edgeface.cli.progress import progress_bar

        with progress_bar(console, "planning") as progress:
            report = run_bench(opts, progress=progress).to_dict()
    for t in bench_report.bench_tables(report):
        out.print(t)
    if report.get("results"):
        from edgeface.tools.bench.latency.threads import threads_lines
        from edgeface.boards.profiles import resolve_target

        for line in threads_lines(report, resolve_target("auto").profile):
            out.print(f"threads per stage: {line}", highlight=False)
    if report.get("skipped"):
        for s in report["skipped"]:
            console.print(f"[yellow]skipped[/] {s['model']} {s['variant']}: {s['reason']}", soft_wrap=True)  # one line each, also in a log
    _write_outputs(report, json_file, md_file, bench_report.bench_markdown, plot_file, plots.plot_bench)


def eval_command(
    folder: Optional[Path] = typer.Argument(None, help="Folder of images with iBUG .pts files (<stem>.pts or <stem>_<k>.pts)."),
    precisions: Optional[List[str]] = typer.Option(None, "--precision", "-p", help="fp32, fp16, int8, int8_floatio, onnx (default: fp32,int8)."),
    regressor: str = typer.Option("mb05", "--model", "-m", help="Regressor: mb05 | mb1."),
    detector_size: Optional[str] = typer.Option(None, "--detector-size", help="Video detector input WIDTHxHEIGHT (default: the target profile's, as edgeface run)."),
    roi: str = typer.Option("detector", "--roi", help="detector (the pipeline) | landmarks (ROI from the ground truth: regressor only)."),
    threads: int = typer.Option(1, "--threads", "-t", help="Threads per model."),
    json_file: Optional[Path] = typer.Option(None, "--json", help="Write the report (with per-face errors) as JSON."),
    md_file: Optional[Path] = typer.Option(None, "--markdown", help="Write the table as Markdown."),
    plot_file: Optional[Path] = typer.Option(None, "--plot", help="Write the NME cumulative distribution as PNG."),
    from_json: Optional[Path] = typer.Option(None, "--from-json", help="Re-render a saved eval report (FOLDER is then ignored)."),
    target: str = typer.Option("auto", "--target", help="Board profile, as edgeface run (auto, x86_64, rpi4, ...)."),
    still_detector: Optional[str] = typer.Option(None, "--still-detector", help="Photos: native (upstream's scale, 1088x736 detector; default) | letterbox (as video)."),
    still_recrops: Optional[int] = typer.Option(None, "--still-recrops", min=0, max=5, help="Photos: landmark re-crops per face (default: 1 float, 2 INT8)."),
    still_flip: Optional[bool] = typer.Option(None, "--still-flip/--no-still-flip", help="Photos: horizontal-flip test-time augmentation (default on)."),
):
    """68-landmark NME (bbox and inter-ocular normalized), failure rate and detector recall per precision."""
    from edgeface.tools.bench.eval import evaluate
    from edgeface.tools.bench import plots
    from edgeface.tools.bench import report as bench_report

    if from_json is not None:
        report = evaluate.load_report(from_json)
        out.print(bench_report.eval_table(report))
        _write_outputs(report, json_file, md_file, bench_report.eval_markdown, plot_file, plots.plot_eval)
        return
    if folder is None:
        raise EdgefaceError("give the folder of annotated images: edgeface eval DIR (or --from-json REPORT)")
    precs = _split(precisions) or ["fp32", "int8"]
    allowed = PRECISIONS + ("onnx",)
    for p in precs:
        if p not in allowed:
            raise EdgefaceError(f"unknown precision '{p}': use {', '.join(allowed)}")
    check_regressor(regressor)
    if threads < 1:
        raise EdgefaceError(f"--threads must be >= 1, got {threads}")
    with console.status("evaluating", spinner="dots"):
        from edgeface.runtime.still import from_flags

        report = evaluate.evaluate(folder, precs, regressor=regressor, detector_size=parse_size(detector_size) if detector_size else None, roi=roi,
                                   threads=threads, target=target,
                                   still=from_flags(still_detector, still_recrops, still_flip)).to_dict()
    out.print(bench_report.eval_table(report))
    if report["orphan_annotations"]:
        console.print(f"[yellow]note[/] .pts files without an image: {', '.join(report['orphan_annotations'][:5])}")
    _write_outputs(report, json_file, md_file, bench_report.eval_markdown, plot_file, plots.plot_eval)


def register(app: typer.Typer) -> None:
    """Add `bench` and `eval` to the edgeface CLI."""
    app.command("bench")(bench_command)
    app.command("eval")(eval_command)
