"""The report files every `edgeface bench` subcommand shares: the `--json`, `--markdown`, `--plot` and
`--from-json` options (one wording everywhere) and `write_report_files`, which writes them."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import typer

from edgeface.cli.consoles import say, wide_out
from edgeface.errors import EdgefaceError
from edgeface.hub.atomic import write_json_atomic, write_text_atomic


def json_option(what: str = "the report"):
    """`--json FILE`: write `what` as JSON."""
    return typer.Option(None, "--json", metavar="FILE", help=f"Write {what} as JSON.")


def markdown_option(what: str = "the tables"):
    """`--markdown FILE`: write `what` as Markdown."""
    return typer.Option(None, "--markdown", metavar="FILE", help=f"Write {what} as Markdown.")


def plot_option(what: str = "the chart"):
    """`--plot FILE.png`: write `what` as a PNG (needs matplotlib)."""
    return typer.Option(None, "--plot", metavar="FILE.png", help=f"Write {what} as a PNG (needs matplotlib).")


def from_json_option(what: str = "report", note: str = ""):
    """`--from-json FILE`: re-render a saved report instead of measuring (`note` ends the help)."""
    return typer.Option(None, "--from-json", metavar="FILE",
                        help=f"Re-render a saved {what} (its --json file) instead of measuring{note}.")


def write_report_files(report: dict, json_file: Optional[Path], md_file: Optional[Path],
                       md_text: Optional[Callable[[dict], str]], plot_file: Optional[Path],
                       plot_fn: Callable[[dict, Path], object]) -> None:
    """Write the report as JSON, its Markdown (`md_text(report)`; None: the command has no `--markdown`)
    and its PNG chart (`plot_fn(report, path)`), each only when its file is given; one `ok wrote FILE`
    line each."""
    if json_file:
        write_json_atomic(json_file, report)
        say(f"wrote {json_file}", "ok", "green", to=wide_out)
    if md_file and md_text is not None:
        write_text_atomic(md_file, md_text(report))
        say(f"wrote {md_file}", "ok", "green", to=wide_out)
    if plot_file:
        if plot_file.suffix.lower() != ".png":
            raise EdgefaceError(f"--plot writes a PNG: give a file name ending in .png, not {plot_file.name}")
        plot_fn(report, plot_file)
        say(f"wrote {plot_file}", "ok", "green", to=wide_out)
