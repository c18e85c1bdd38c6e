"""The consoles every command prints to: `console` (stderr: progress, notes, warnings, errors),
`out` (stdout: results) and `wide_out` (stdout for the wide benchmark tables)."""

from __future__ import annotations

import sys

from rich.console import Console

console = Console(stderr=True)
out = Console(soft_wrap=True)
# tables are wide: do not squeeze them to 80 columns when the output is a file or a pipe
wide_out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)


def status(message: str):
    """A spinner on stderr while a long step runs (`with status("converting") as st: st.update(...)`)."""
    return console.status(message, spinner="dots")
