"""`edgeface verify`: re-run a converted model's verification against its ONNX original (`edgeface.tools.convert.verify`)."""

from __future__ import annotations

from pathlib import Path

import typer

from edgeface.cli.consoles import out, safe_text, say, status
from edgeface.errors import EdgefaceError


def verify_command(
    model: Path = typer.Argument(..., help="A converted .tflite (its manifest .json beside it)."),
):
    """Re-run the verification of a converted model against its ONNX original on held-out data."""
    from edgeface.tools.convert import verify as ver  # lazy: onnxruntime (the [convert] extra)

    with status("verifying on held-out data"):
        rep, checks = ver.verify_model(model)

    for k, v in rep.items():
        if isinstance(v, (int, float)):
            say(f"  {k:28s} {v:.6g}", to=out)
    for c in checks:
        out.print(safe_text(c.line(), style="green" if c.ok else "red"), highlight=False)
    if not all(c.ok for c in checks):
        raise EdgefaceError(f"{model.name} fails verification", exit_code=3)
