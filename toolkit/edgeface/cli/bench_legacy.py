"""The forms `edgeface bench` and `edgeface eval` took before `bench` had subcommands, kept working for one
release (0.1.x; they go in 0.2) with a one-line deprecation notice naming the new command.

    edgeface bench --quick --json b.json       -> edgeface bench latency --quick --json b.json
    edgeface bench --peers --pipeline-frames 40 -> edgeface bench peers --frames 40
    edgeface bench --stability --variant int8  -> edgeface bench stability --precision int8
    edgeface eval DIR                          -> edgeface bench eval DIR   (`deprecated_alias`)

`translate` maps an old argument list onto the new one: the subcommand `--peers`/`--stability` chose
(else `latency`), options renamed where the subcommand names them differently, and options the old command
accepted (and ignored) in a mode that has no use for them left out and named in the notice; an option the old
command did not have either is passed on, for the subcommand to refuse.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Sequence, Set, Tuple

from edgeface.cli.consoles import say

MODES = {"--peers": "peers", "--stability": "stability"}
# the old command's options that take no value, and those that take one (31 in all, with --help)
FLAGS = frozenset({"--quick", "--in-process", "--pipeline", "--no-pipeline", "--dense", "--no-dense", "--install",
                   "--no-install", "--help", *MODES})
VALUED = frozenset({"--model", "-m", "--variant", "-v", "--threads", "-t", "--runtime", "--detector-size", "--min-runs",
                    "--min-seconds", "--warmup", "--pipeline-variant", "--pipeline-threads", "--pipeline-frames",
                    "--dense-vertices", "--json", "--markdown", "--plot", "--from-json", "--photo", "--target", "--peer",
                    "--cores", "--passes", "--rounds", "--upstream", "--mediapipe-python"})
RENAMES = {
    "latency": {"--min-seconds": "--min-ms"},
    "peers": {"--pipeline-frames": "--frames"},
    "stability": {"--variant": "--precision", "-v": "--precision"},
}
SCALES = {"--min-seconds": 1000.0}  # seconds -> milliseconds
DEFAULTS = frozenset({"--pipeline", "--dense", "--install"})  # what the subcommands do anyway: dropped


@dataclass(frozen=True)
class LegacyCall:
    """An old `edgeface bench` call in the new form: `args` (the subcommand first) and the notice to print."""

    args: Tuple[str, ...]
    notice: str


def translate(args: Sequence[str], accepted: Mapping[str, Set[str]]) -> Optional[LegacyCall]:
    """The new form of `edgeface bench ARGS` when ARGS is an old form (options without a subcommand), else None.
    `accepted`: each subcommand's option names."""
    if not args or not args[0].startswith("-") or args[0] == "--help":
        return None
    if not any(a.partition("=")[0] in (FLAGS | VALUED) - {"--help"} for a in args):
        return None  # not an old form either: the group words the error
    mode = next((MODES[a] for a in args if a in MODES), "latency")
    new, ignored, i = [mode], [], 0
    while i < len(args):
        token, i = args[i], i + 1
        if token in MODES:
            continue
        if not token.startswith("-"):
            new.append(token)  # the old command took no argument: the subcommand will say what is wrong
            continue
        name, eq, value = token.partition("=")
        if name not in FLAGS | VALUED:
            new.append(token)  # never an option of the old command: the subcommand refuses it
            continue
        takes_value = name in VALUED
        if takes_value and not eq and i < len(args):
            value, i = args[i], i + 1
        if name in DEFAULTS:
            continue
        renamed = RENAMES.get(mode, {}).get(name, name)
        if renamed not in accepted.get(mode, set()):
            ignored.append(name)
            continue
        if name in SCALES:
            try:
                value = f"{float(value) * SCALES[name]:g}"
            except ValueError:
                pass  # the subcommand's own check words the error
        new += [renamed, value] if takes_value else [renamed]
    old = f"edgeface bench --{mode} OPTIONS" if mode != "latency" else "edgeface bench OPTIONS"
    notice = f"`{old}` is now `edgeface bench {mode} OPTIONS`; the old form goes in the next release"
    if ignored:
        notice += f" (ignored here: {', '.join(ignored)}, not options of bench {mode})"
    return LegacyCall(tuple(new), notice)


def print_notice(notice: str) -> None:
    """One `deprecated ...` line on stderr."""
    say(notice, "deprecated", "yellow")


def deprecated_alias(command: Callable, old: str, new: str) -> Callable:
    """`command` (a Typer command function: same options) that first prints that `old` is now `new`."""

    @functools.wraps(command)
    def alias(*args, **kwargs):
        print_notice(f"`{old}` is now `{new}`; the old name goes in the next release")
        return command(*args, **kwargs)

    return alias
