"""The consoles every command prints to, and the one way user text reaches the terminal.

`console` (stderr: progress, notes, warnings, errors), `out` (stdout: results) and `wide_out` (stdout
for the wide benchmark tables).

Text that a user, a file, a bundle, a board or a broker controls (paths, names, statuses, URLs,
messages) is printed through `say()` (or made safe with `plain()`): it is never read as rich markup
(`[bold]x.jpg` prints as itself), and control characters (ESC, OSC, CR, BEL...) are shown escaped
(`\\x1b`), so a name cannot move the cursor, retitle the terminal or hide a line. Only the fixed
label (`ok`, `error:`, `warning:`...) is styled. tests/test_hostile_fleet.py fails if a command
prints an f-string or a joined string any other way.
"""

from __future__ import annotations

import re
import sys
from typing import Optional

from rich.console import Console
from rich.text import Text

console = Console(stderr=True)
out = Console(soft_wrap=True)
# tables are wide: do not squeeze them to 80 columns when the output is a file or a pipe
wide_out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)

# C0 (but tab and newline, which `plain` handles), DEL, C1 (0x80-0x9f: CSI, OSC... on 8-bit terminals),
# and the Unicode line/paragraph separators and bidi overrides that reorder what a line shows
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(m: "re.Match[str]") -> str:
    c = m.group(0)
    return {"\r": "\\r", "\x1b": "\\x1b"}.get(c, f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")


def plain(text: object, multiline: bool = False) -> str:
    """`text` as a string safe to show: control characters escaped (`\\x1b`, `\\r`), and newlines too
    unless `multiline`. The result is still to be printed as plain text (`say`), never as markup."""
    s = _CONTROL.sub(_escape, str(text))
    s = s.replace("\t", "\\t") if not multiline else s
    return s if multiline else s.replace("\n", "\\n")


def safe_text(text: object, multiline: bool = False, style: str = "") -> Text:
    """A rich `Text` of `text` (escaped by `plain`): rich never parses it as markup."""
    return Text(plain(text, multiline), style=style)


def say(text: object, label: str = "", style: str = "", to: Optional[Console] = None, multiline: bool = False) -> None:
    """Print `text` as plain text (see the module doc) on `to` (default: stderr), after an optional
    fixed `label` in `style` (e.g. say(msg, "error:", "red")); with no label, `style` is the text's."""
    line = Text()
    if label:
        line.append(label, style=style)
        line.append(" ")
    line.append_text(safe_text(text, multiline, "" if label else style))
    (to or console).print(line, highlight=False, soft_wrap=True)


def status(message: str):
    """A spinner on stderr while a long step runs (`with status("converting") as st: st.update(...)`);
    the messages are plain text."""
    return _Status(console.status(safe_text(message), spinner="dots"))


class _Status:
    """`console.status` whose `update(message)` takes plain text (never markup)."""

    def __init__(self, inner):
        self._inner = inner

    def __enter__(self) -> "_Status":
        self._inner.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._inner.__exit__(*exc)

    def update(self, message: str) -> None:
        self._inner.update(safe_text(message))
