"""The report files of `edgeface bench` and `edgeface eval` (--json, --markdown, --plot)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from edgeface.cli.consoles import wide_out
from edgeface.errors import EdgefaceError
from edgeface.hub.atomic import write_json_atomic, write_text_atomic


def write_report_files(report: dict, json_file: Optional[Path], md_file: Optional[Path], md_text: Callable[[dict], str],
                       plot_file: Optional[Path], plot_fn: Callable[[dict, Path], object]) -> None:
    """Write the report as JSON, its Markdown (`md_text(report)`) and its PNG chart (`plot_fn(report, path)`),
    each only when its file is given; one `ok wrote FILE` line each."""
    if json_file:
        write_json_atomic(json_file, report)
        wide_out.print(f"[green]ok[/] wrote {json_file}")
    if md_file:
        write_text_atomic(md_file, md_text(report))
        wide_out.print(f"[green]ok[/] wrote {md_file}")
    if plot_file:
        if plot_file.suffix.lower() != ".png":
            raise EdgefaceError(f"--plot writes a PNG: give a file name ending in .png, not {plot_file.name}")
        plot_fn(report, plot_file)
        wide_out.print(f"[green]ok[/] wrote {plot_file}")
