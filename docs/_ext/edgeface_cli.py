"""Sphinx extension: the `edgeface` command reference, generated from the Typer app.

`{edgeface-cli} run` renders `edgeface run` (its help, usage, arguments and options as `--help` gives them)
and, for a group (`bench`, `mqtt`, `service`), each of its subcommands under an anchor
`cli-edgeface-bench-latency`. sphinx-click cannot read this app: Typer 0.22+ carries its own copy of
Click (`typer._click`), whose classes are not the `click` package's that sphinx-click checks for, so this
walks the same tree (`typer.main.get_command`) through the few methods both share.
"""

from __future__ import annotations

import re

import typer.main
from docutils import nodes
from sphinx.util.docutils import SphinxDirective

from edgeface.cli.main import app


def command_tree():
    """The root Click-like command of the app."""
    return typer.main.get_command(app)


def _context(command, name: str, parent=None):
    return command.context_class(command, info_name=name, parent=parent)


def walk(command, path=("edgeface",), parent=None):
    """(path, command, ctx) for `command` and every visible subcommand below it, depth first."""
    ctx = _context(command, path[-1], parent)
    yield path, command, ctx
    for name, sub in getattr(command, "commands", {}).items():
        if not getattr(sub, "hidden", False):
            yield from walk(sub, (*path, name), ctx)


def anchor(path) -> str:
    return "cli-" + "-".join(path)


def _inline(text: str) -> list:
    parts = re.split(r"`([^`]+)`", text)
    return [nodes.literal(p, p) if i % 2 else nodes.Text(p) for i, p in enumerate(parts) if p]


def _paragraphs(text: str) -> list:
    return [nodes.paragraph("", "", *_inline(" ".join(block.split())))
            for block in re.split(r"\n\s*\n", text or "") if block.strip()]


def render(path, command, ctx, heading: bool) -> list:
    out = []
    target = nodes.target("", "", ids=[anchor(path)])
    out.append(target)
    if heading:
        out.append(nodes.rubric("", " ".join(path)))
    out.extend(_paragraphs(command.help or ""))
    out.append(nodes.literal_block("", command.get_usage(ctx).strip(), language="text"))
    items = nodes.definition_list()
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if not record or getattr(param, "hidden", False):
            continue
        names, help_text = record
        items.append(nodes.definition_list_item(
            "", nodes.term("", "", nodes.literal(names, names)),
            nodes.definition("", nodes.paragraph("", "", *_inline(" ".join(help_text.split()))))))
    if len(items):
        out.append(items)
    subs = {n: c for n, c in getattr(command, "commands", {}).items() if not getattr(c, "hidden", False)}
    if subs:
        listing = nodes.bullet_list()
        for name, sub in subs.items():
            ref = nodes.reference("", "", nodes.literal(name, " ".join((*path, name))), refid=anchor((*path, name)))
            listing.append(nodes.list_item("", nodes.paragraph("", "", ref, nodes.Text(": " + (sub.get_short_help_str(90))))))
        out.append(listing)
    return out


class CliDirective(SphinxDirective):
    """`{edgeface-cli} NAME`: the reference of `edgeface NAME` and its subcommands."""

    required_arguments = 1
    final_argument_whitespace = True

    def run(self):
        wanted = tuple(["edgeface", *self.arguments[0].split()])
        found = [(p, c, x) for p, c, x in walk(command_tree()) if p[:len(wanted)] == wanted]
        if not found:
            raise self.error(f"no command {' '.join(wanted)!r} in the edgeface app")
        out = []
        for path, command, ctx in found:
            out.extend(render(path, command, ctx, heading=path != wanted))
        return out


def setup(app_):
    app_.add_directive("edgeface-cli", CliDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
