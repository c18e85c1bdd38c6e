"""One progress bar for the long commands (bench, bench --peers, bench --stability).

    with progress_bar(console, "planning") as progress:
        report = run_bench(opts, progress=progress)     # progress(label, done, total)

Transient, on stderr's console, and silent when that console is not a terminal.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator


@contextlib.contextmanager
def progress_bar(console, first_label: str) -> Iterator[Callable[[str, int, int], None]]:
    """A `progress(label, done, total)` callback drawing one bar with the step label and elapsed time."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True, disable=not console.is_terminal) as prog:
        task = prog.add_task(first_label, total=None)

        def progress(label: str, done: int, total: int) -> None:
            prog.update(task, description=label, completed=done, total=total)

        yield progress
