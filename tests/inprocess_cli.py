"""Run the `edgeface` CLI in-process in tests (shared by the run tests)."""

from __future__ import annotations

from edgeface.cli.main import main


def cli(capsys, *args) -> tuple:
    """(exit code, stdout, stderr) of `edgeface ARGS` run in-process."""
    code = 0
    try:
        main([str(a) for a in args])
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    cap = capsys.readouterr()
    return code, cap.out, cap.err
