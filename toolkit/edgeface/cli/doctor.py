"""`edgeface doctor`: check this machine for edgeface (`edgeface.app.doctor`)."""

from __future__ import annotations

import json

import typer

from edgeface.app.doctor import diagnose, render
from edgeface.cli.consoles import out, safe_text


def doctor_command(
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
):
    """Check this machine: board, CPU features, TFLite runtime and XNNPACK, cameras, cached models, profile."""
    report = diagnose()
    if as_json:
        out.print_json(json.dumps(report.to_dict()))
    else:
        out.print(render(report, text=lambda s: safe_text(s, multiline=True)))
