"""`edgeface bench peers`: edgeface beside upstream 3DDFA_V2 and MediaPipe FaceMesh on the same frames (thin over
`edgeface.tools.bench.peers.compare`: options, progress, outputs)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from edgeface.cli.consoles import console, say, wide_out
from edgeface.cli.option_lists import int_values, split_values
from edgeface.cli.progress import progress_bar
from edgeface.cli.report_files import from_json_option, json_option, markdown_option, plot_option, write_report_files
from edgeface.tools.bench.peers import report as peers_report
from edgeface.tools.bench.peers.compare import FORMAT, PeerOptions, run_peers
from edgeface.tools.bench.report import read_report

NAME = "peers"


def command(
    systems: Optional[List[str]] = typer.Option(
        None, "--peer", metavar="LIST", help="Systems to run (default: all), e.g. upstream-video, mediapipe, edgeface-int8-track."),
    cores: Optional[List[str]] = typer.Option(
        None, "--cores", metavar="LIST", help="Core counts to pin each process to (default 1,2)."),
    passes: Optional[int] = typer.Option(
        None, "--passes", metavar="N", help="Timed passes over the frames per system (default 3; --quick: 1)."),
    rounds: int = typer.Option(
        1, "--rounds", metavar="N", min=1,
        help="Run every system N times round-robin (fresh processes), keep each one's median round: steadier ratios on a shared machine."),
    frames: Optional[int] = typer.Option(
        None, "--frames", metavar="N", help="Frames of the sample video (default: all; --quick: 40)."),
    quick: bool = typer.Option(False, "--quick", help="CI-size runs (1 pass, 40 frames; indicative numbers only)."),
    upstream: Optional[Path] = typer.Option(
        None, "--upstream", metavar="DIR", help="Upstream 3DDFA_V2 sources (default: $EDGEFACE_MIRROR/3ddfa_v2)."),
    mediapipe_python: Optional[Path] = typer.Option(
        None, "--mediapipe-python", metavar="FILE",
        help="A python with mediapipe==0.10.18 (default: a venv made once in ~/.cache/edgeface-peers)."),
    no_install: bool = typer.Option(False, "--no-install", help="Do not create the MediaPipe venv when it is missing."),
    baseline: Optional[Path] = typer.Option(
        None, "--baseline", metavar="DIR",
        help="An earlier edgeface checkout (e.g. a git worktree of an older commit): its INT8 tracking row timed as a pair with this one's (each in its own process on the same cores, their passes in turn)."),
    json_file: Optional[Path] = json_option(),
    md_file: Optional[Path] = markdown_option(),
    plot_file: Optional[Path] = plot_option(),
    from_json: Optional[Path] = from_json_option("peer report"),
) -> None:
    """edgeface vs upstream 3DDFA_V2 and MediaPipe FaceMesh on the same frames, 1 and 2 cores; live latency."""
    if from_json is not None:
        report = read_report(from_json, FORMAT, "peer benchmark")
    else:
        opts = PeerOptions(systems=split_values(systems), cores=int_values(cores, "--cores", "1,2") or [1, 2],
                           passes=passes or (1 if quick else 3), rounds=rounds, frames=frames or (40 if quick else None),
                           upstream=upstream, mediapipe_python=mediapipe_python, install_mediapipe=not no_install,
                           baseline=baseline)
        with progress_bar(console, "decoding the video") as progress:
            report = run_peers(opts, progress=progress, log=lambda m: say(m, style="dim"))
    wide_out.print(peers_report.peers_table(report))
    if peers_report.live_rows(report):
        wide_out.print(peers_report.live_table(report))
    for s in report.get("skipped", []):
        say(f"{s['system']}: {s['reason']}", "skipped", "yellow")
    write_report_files(report, json_file, md_file, peers_report.peers_markdown, plot_file, peers_report.plot_peers)
