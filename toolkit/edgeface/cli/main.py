"""The `edgeface` command line: builds the Typer app from the command modules (one per command, all thin
over the library) and maps errors to exit codes (`main`)."""

from __future__ import annotations

import errno
import sys
from typing import Optional

import typer

from edgeface.cli import bench_eval, verbosity
from edgeface.cli.bench import bench_app
from edgeface.cli.bench_legacy import deprecated_alias
from edgeface.cli.calibrate import calibrate_command
from edgeface.cli.collect import collect_command
from edgeface.cli.consoles import say
from edgeface.cli.convert import convert_command
from edgeface.cli.doctor import doctor_command
from edgeface.cli.tune import tune_command
from edgeface.cli.report import report_command
from edgeface.cli.export import export_command
from edgeface.cli.fetch import fetch_command
from edgeface.cli.info import info_command
from edgeface.cli.mqtt import mqtt_app
from edgeface.cli.pack import pack_command
from edgeface.cli.run import run_command
from edgeface.cli.service import service_app
from edgeface.cli.unpack import unpack_command
from edgeface.cli.verify import verify_command
from edgeface.errors import EdgefaceError, write_error
from edgeface.redact import redact

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: wraps at the terminal width, never cuts an option name
    help="3DDFA_V2 3D dense face alignment on ARM boards: fetch, export, convert, run, bench.",
)


@app.callback()
def _options(verbose: bool = typer.Option(False, "--verbose", help=verbosity.HELP + " Also `run --verbose`.")) -> None:
    """3DDFA_V2 3D dense face alignment on ARM boards: fetch, export, convert, run, bench."""
    if verbose:
        verbosity.verbose_logging()


# in this order in `edgeface --help`
app.command("fetch")(fetch_command)
app.command("info")(info_command)
app.command("export")(export_command)
app.command("calibrate")(calibrate_command)
app.command("convert")(convert_command)
app.command("verify")(verify_command)
app.command("run")(run_command)
app.command("doctor")(doctor_command)
app.command("tune")(tune_command)
app.command("report")(report_command)
app.add_typer(bench_app, name="bench")
app.command("eval", hidden=True)(deprecated_alias(bench_eval.command, "edgeface eval", "edgeface bench eval"))
app.command("collect")(collect_command)
app.add_typer(mqtt_app, name="mqtt")
app.command("pack")(pack_command)
app.command("unpack")(unpack_command)
app.add_typer(service_app, name="service")


def main(argv: Optional[list] = None) -> None:
    try:
        app(args=argv, standalone_mode=False)
    except EdgefaceError as e:
        say(redact(e), "error:", "red")  # plain text, no secret
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        say("interrupted")
        sys.exit(130)
    except OSError as e:  # a safety net: a file system error the command did not word (full disk...)
        msg = write_error(e.filename or "a file", e) if e.errno == errno.ENOSPC else (
            f"{e.filename or 'a file'}: {e.strerror or e} (check the path and its permissions)")
        say(redact(msg), "error:", "red")
        sys.exit(2)
    except SystemExit:
        raise
    except Exception as e:  # usage errors: click exceptions (typer bundles its own click; match by shape)
        if hasattr(e, "show") and isinstance(getattr(e, "exit_code", None), int):
            e.show()
            sys.exit(e.exit_code)
        if type(e).__name__ == "Abort":
            sys.exit(1)
        raise


if __name__ == "__main__":
    main()
