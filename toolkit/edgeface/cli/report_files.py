"""The report files every `edgeface bench` subcommand shares: the `--json`, `--markdown`, `--plot` and
`--from-json` options (one wording everywhere) and `write_report_files`, which writes them."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import typer

from edgeface.cli.consoles import say, wide_out
from edgeface.errors import EdgefaceError
from edgeface.hub.atomic import write_json_atomic, write_text_atomic
from edgeface.hub.output_guard import FILE, Output, check_outputs

_OUTPUTS = ("--json", "--markdown", "--plot")
_INPUT = "--from-json"


def _report_paths(ctx: typer.Context) -> dict:
    """{option: path} of the report options already read from this command line."""
    found = {}
    for param in ctx.command.params:
        opt = next((o for o in param.opts if o in _OUTPUTS + (_INPUT,)), None)
        if opt is not None and ctx.params.get(param.name) is not None:
            found[opt] = Path(ctx.params[param.name])
    return found


def _checked(option: str):
    """A typer callback: the report file of `option` checked when the command line is read, before any work
    (`hub.output_guard`), together with the report options read before it: two options naming one file,
    or an output naming the --from-json report, write nothing."""
    def callback(ctx: typer.Context, value: Optional[Path]) -> Optional[Path]:
        if value is None:
            return value
        seen = _report_paths(ctx)
        outs = [Output(p, o, FILE) for o, p in seen.items() if o != _INPUT]
        if option == _INPUT:
            check_outputs(outs, inputs=[value])
        else:
            check_outputs(outs + [Output(value, option, FILE)], inputs=[seen[_INPUT]] if _INPUT in seen else [])
        return value
    return callback


def json_option(what: str = "the report"):
    """`--json FILE`: write `what` as JSON."""
    return typer.Option(None, "--json", metavar="FILE", help=f"Write {what} as JSON.", callback=_checked("--json"))


def markdown_option(what: str = "the tables"):
    """`--markdown FILE`: write `what` as Markdown."""
    return typer.Option(None, "--markdown", metavar="FILE", help=f"Write {what} as Markdown.",
                        callback=_checked("--markdown"))


def plot_option(what: str = "the chart"):
    """`--plot FILE.png`: write `what` as a PNG (needs matplotlib)."""
    return typer.Option(None, "--plot", metavar="FILE.png", help=f"Write {what} as a PNG (needs matplotlib).",
                        callback=_checked("--plot"))


def from_json_option(what: str = "report", note: str = ""):
    """`--from-json FILE`: re-render a saved report instead of measuring (`note` ends the help)."""
    return typer.Option(None, "--from-json", metavar="FILE", callback=_checked(_INPUT),
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
