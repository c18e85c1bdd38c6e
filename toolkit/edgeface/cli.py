"""The `edgeface` command line: thin commands over the library."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from .errors import EdgefaceError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="3DDFA_V2 3D dense face alignment on ARM boards: fetch, export, convert, run, bench.",
)
console = Console(stderr=True)
out = Console(soft_wrap=True)


def _progress():
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
        console=console, transient=True, disable=not console.is_terminal,
    )


@app.command()
def fetch(
    names: Optional[List[str]] = typer.Argument(None, help="Cards to fetch (see `edgeface info`), or `all` (default)."),
    mirror: Optional[Path] = typer.Option(None, "--mirror", envvar="EDGEFACE_MIRROR", help="Local mirror folder laid out as <repo alias>/<upstream path>."),
):
    """Download (or copy from a mirror) and verify upstream files into the cache."""
    from .fetch import fetch as do_fetch
    from .registry import load_cards

    cards = load_cards()
    with _progress() as prog:
        tasks: dict = {}

        def progress(label, done, total):
            if label not in tasks:
                tasks[label] = prog.add_task(label, total=total)
            prog.update(tasks[label], completed=done, total=total)

        def on_file(st):
            f = st.file
            if st.status in ("fetched", "cached"):
                out.print(f"[green]ok[/]      {f.card:13s} {f.path}  ({st.status}, {f.digest_label[:19]}...)")
            elif st.status == "missing":
                out.print(f"[yellow]missing[/] {f.card:13s} {st.message} (without it: {cards[f.card].without})")
            else:
                out.print(f"[red]{st.status:7s}[/] {f.card:13s} {st.message}")

        report = do_fetch(names or ["all"], mirror=mirror, progress=progress, on_file=on_file)
    for p in report.derived:
        out.print(f"[green]ok[/]      derived {p}")
    if report.refused:
        raise EdgefaceError(report.refused[0].message, exit_code=3)
    if not report.ok:
        missing = sorted({s.file.card for s in report.files if s.status not in ("cached", "fetched")})
        raise EdgefaceError(f"not obtained: {', '.join(missing)} (see above for where to get them)", exit_code=1)
    bfm = [s for s in report.files if s.file.card == "bfm" and s.status in ("fetched", "cached")]
    if bfm:
        out.print("[yellow]note[/]    the BFM is licensed for ACADEMIC USE ONLY (University of Basel); do not redistribute it.")


@app.command()
def info():
    """What is in the cache: files, sizes, digests, licences, and what is missing."""
    from .info import cache_table

    out.print(cache_table())


def main(argv: Optional[list] = None) -> None:
    try:
        app(args=argv, standalone_mode=False)
    except EdgefaceError as e:
        console.print(f"[red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        console.print("interrupted")
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as e:  # click usage errors come as click exceptions
        import click

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            sys.exit(e.exit_code)
        if isinstance(e, click.exceptions.Abort):
            sys.exit(1)
        raise


if __name__ == "__main__":
    main()
