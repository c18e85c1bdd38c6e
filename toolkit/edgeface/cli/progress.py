"""Progress bars on the stderr console, transient and silent when it is not a terminal.

    with progress_bar(console, "planning") as progress:
        report = run_bench(opts, progress=progress)     # progress(label, done, total)

`progress_bar`: one bar for the long commands (bench, bench --peers, bench --stability);
`download_bars`: one bar per file for `edgeface fetch`.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

from rich.progress import (BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

from edgeface.cli.consoles import plain


@contextlib.contextmanager
def progress_bar(console, first_label: str) -> Iterator[Callable[[str, int, int], None]]:
    """A `progress(label, done, total)` callback drawing one bar with the step label and elapsed time."""
    with Progress(TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True, disable=not console.is_terminal) as prog:
        task = prog.add_task(first_label, total=None)

        def progress(label: str, done: int, total: int) -> None:
            prog.update(task, description=plain(label), completed=done, total=total)

        yield progress


@contextlib.contextmanager
def download_bars(console) -> Iterator[Callable[[str, int, int], None]]:
    """A `progress(label, done, total)` callback drawing one download bar (bytes, time left) per label."""
    with Progress(TextColumn("{task.description}", markup=False), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                  console=console, transient=True, disable=not console.is_terminal) as prog:
        tasks: dict = {}

        def progress(label: str, done: int, total: int) -> None:
            if label not in tasks:
                tasks[label] = prog.add_task(plain(label), total=total)
            prog.update(tasks[label], completed=done, total=total)

        yield progress
