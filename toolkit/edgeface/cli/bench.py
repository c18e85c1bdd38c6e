"""`edgeface bench`: the benchmarks, one subcommand per module (`SUBCOMMANDS`, in `edgeface bench --help` order).

To add one: write `cli/bench_<name>.py` with `NAME` (the subcommand) and `command` (a Typer command function:
its own options, its docstring the help), then add the module to `SUBCOMMANDS`. Bare `edgeface bench` lists
the subcommands; the old forms (`edgeface bench --peers`...) are translated by `cli.bench_legacy`.
"""

from __future__ import annotations

from typing import Dict, List, Set

import typer
from typer.core import TyperGroup

from edgeface.cli import bench_eval, bench_latency, bench_motion, bench_peers, bench_scaling, bench_soak, bench_stability
from edgeface.cli.bench_legacy import print_notice, translate

SUBCOMMANDS = (bench_latency, bench_peers, bench_stability, bench_eval, bench_soak, bench_motion, bench_scaling)


class BenchGroup(TyperGroup):
    """The `bench` group; an old-form call (options, no subcommand) runs its subcommand with a deprecation notice."""

    def parse_args(self, ctx, args: List[str]) -> List[str]:
        accepted: Dict[str, Set[str]] = {}
        for name, cmd in self.commands.items():
            accepted[name] = {"--help", *(o for p in cmd.params for o in (*p.opts, *p.secondary_opts))}
        legacy = translate(args, accepted)
        if legacy is not None:
            print_notice(legacy.notice)
            args = list(legacy.args)
        return super().parse_args(ctx, args)


bench_app = typer.Typer(
    cls=BenchGroup,
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Benchmarks, one subcommand each: latency, peers, stability, eval, soak, motion, scaling.\n\n"
         "The old forms work until the next release, with a notice: `edgeface bench OPTIONS` is now "
         "`edgeface bench latency`, `--peers` and `--stability` are `bench peers` and `bench stability`, "
         "`edgeface eval` is `bench eval`.",
)
for _module in SUBCOMMANDS:
    bench_app.command(_module.NAME)(_module.command)
