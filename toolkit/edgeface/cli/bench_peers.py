"""`edgeface bench --peers`: the thin command layer over `edgeface.tools.bench.peers.compare` (options, progress, outputs)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

from edgeface.cli.consoles import console, wide_out
from edgeface.cli.progress import progress_bar
from edgeface.cli.report_files import write_report_files
from edgeface.tools.bench.peers import report as peers_report
from edgeface.tools.bench.peers.compare import FORMAT, PeerOptions, run_peers
from edgeface.tools.bench.report import read_report


def peers_command(systems: Optional[List[str]], cores: Optional[List[int]], passes: Optional[int], frames: Optional[int],
                  upstream: Optional[Path], mediapipe_python: Optional[Path], install: bool, from_json: Optional[Path],
                  quick: bool, rounds: int, json_file: Optional[Path], md_file: Optional[Path],
                  plot_file: Optional[Path]) -> None:
    """Measure (or re-render `from_json`) edgeface against its peers, print the tables, write the report files."""
    if from_json is not None:
        report = read_report(from_json, FORMAT, "peer benchmark")
    else:
        opts = PeerOptions(systems=systems, cores=cores or [1, 2], passes=passes or (1 if quick else 3), rounds=rounds,
                           frames=frames or (40 if quick else None), upstream=upstream,
                           mediapipe_python=mediapipe_python, install_mediapipe=install)
        with progress_bar(console, "decoding the video") as progress:
            report = run_peers(opts, progress=progress, log=lambda m: console.print(f"[dim]{m}[/]"))
    wide_out.print(peers_report.peers_table(report))
    if peers_report.live_rows(report):
        wide_out.print(peers_report.live_table(report))
    for s in report.get("skipped", []):
        console.print(f"[yellow]skipped[/] {s['system']}: {s['reason']}")
    write_report_files(report, json_file, md_file, peers_report.peers_markdown, plot_file, peers_report.plot_peers)
