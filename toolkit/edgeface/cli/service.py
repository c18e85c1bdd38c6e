"""`edgeface service install | status | uninstall`: `edgeface run ...` as a systemd service (`edgeface.fleet.service`)."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import List, Optional

import typer
from typer.main import get_command

from edgeface.cli.consoles import out, say
from edgeface.cli.run import run_command
from edgeface.errors import EdgefaceError
from edgeface.fleet.service import (ServiceSpec, install, status, stored_token, systemd_version, token_path,
                                    unit_args, uninstall)
from edgeface.sinks.mjpeg import parse_bind
from edgeface.sinks.stream_access import is_loopback

service_app = typer.Typer(help="Run edgeface as a systemd service.", no_args_is_help=True, rich_markup_mode=None)


def _check_run_args(args: List[str]) -> None:
    """Parse `run ...` as the CLI would (without running it): a typo fails now, not in the journal."""
    probe = typer.Typer()  # `run` alone, registered as in the edgeface app: one command, no group around it
    probe.command("run")(run_command)
    cmd = get_command(probe)
    try:
        cmd.make_context("edgeface run", list(args[1:]), resilient_parsing=False)
    except Exception as e:  # typer bundles its own click: match its exceptions by shape
        if hasattr(e, "format_message"):
            raise EdgefaceError(f"the service command does not parse: {e.format_message()} "
                                "(check the arguments after --)") from None
        if type(e).__name__ != "Exit":  # --help inside the arguments
            raise


def _serve_value(args: List[str]) -> Optional[str]:
    """The `--serve [HOST:]PORT` value among `run` arguments, None without one."""
    for i, a in enumerate(args):
        key, eq, inline = a.partition("=")
        if key == "--serve":
            return inline if eq else (args[i + 1] if i + 1 < len(args) else None)
    return None


def _needs_token(args: List[str]) -> bool:
    """A `--serve` on a non-loopback address without --serve-insecure: the stream needs a token."""
    serve = _serve_value(args)
    if serve is None or "--serve-insecure" in args:
        return False
    host, _port = parse_bind(serve)
    return not is_loopback(host)


def stream_url(name: str, user: bool, unit_dir: Optional[Path]) -> Optional[str]:
    """The stream's URL for an installed service with --serve (with its kept token), None without --serve."""
    serve = _serve_value(unit_args(name, user, unit_dir))
    if serve is None:
        return None
    host, port = parse_bind(serve)
    shown = socket.gethostname() if host in ("0.0.0.0", "::", "") else host
    base = f"http://{f'[{shown}]' if ':' in shown else shown}:{port}/"
    tp = token_path(name, user, unit_dir)
    if is_loopback(host) or "--serve-insecure" in unit_args(name, user, unit_dir):
        return base
    token = stored_token(tp)
    if token is None:
        return f"{base}?token=... (the token is in {tp}, readable by the service's owner: run this with sudo)"
    return f"{base}?token={token}"


@service_app.command("install", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def service_install(
    ctx: typer.Context,
    user: bool = typer.Option(False, "--user", help="A user service (~/.config/systemd/user), no root needed."),
    name: str = typer.Option("edgeface", "--name", help="Service name (several services: one per camera)."),
    run_as: Optional[str] = typer.Option(None, "--run-as", help="System service: the account it runs as (default: $SUDO_USER, else you)."),
    unit_dir: Optional[Path] = typer.Option(None, "--unit-dir", help="Write the unit (and its env file) here and touch nothing else."),
    no_start: bool = typer.Option(False, "--no-start", help="Write and check the unit, do not enable or start it."),
):
    """Install `edgeface run ...` as a systemd service: edgeface service install [--user] -- run --camera --mqtt URL."""
    args = list(ctx.args)
    _check_run_args(args)
    env = {k: os.environ[k] for k in ("EDGEFACE_HOME",) if os.environ.get(k)}
    spec = ServiceSpec(args=args, user_mode=user, name=name, run_as=run_as, environment=env, systemd=systemd_version(),
                       stream_token=_needs_token(args))
    rep = install(spec, directory=unit_dir, start=not no_start)
    say(f"wrote {rep.unit}" + (f" and {rep.env_file} (0600: the secrets, passed by environment)" if rep.env_file else ""),
        "ok", "green", to=out)
    if rep.token_file is not None:
        say(f"  the stream token is kept in {rep.token_file} (0600); the URL: edgeface service status"
            + (" --user" if user else "") + (f" --name {name}" if name != "edgeface" else ""), to=out)
    for note in rep.notes:
        say(f"  {note}", to=out)
    if rep.started:
        say(f"  started; logs: journalctl {'--user ' if user else ''}-u {name} -f", to=out)


@service_app.command("status")
def service_status(
    user: bool = typer.Option(False, "--user", help="The user service."),
    name: str = typer.Option("edgeface", "--name", help="Service name."),
    unit_dir: Optional[Path] = typer.Option(None, "--unit-dir", help="Where the unit was written with --unit-dir."),
):
    """Show the service's unit and state."""
    say(status(name, user, unit_dir), to=out, multiline=True)
    url = stream_url(name, user, unit_dir)
    if url is not None:
        say(f"stream: {url}", to=out)


@service_app.command("uninstall")
def service_uninstall(
    user: bool = typer.Option(False, "--user", help="The user service."),
    name: str = typer.Option("edgeface", "--name", help="Service name."),
    unit_dir: Optional[Path] = typer.Option(None, "--unit-dir", help="Where the unit was written with --unit-dir."),
):
    """Stop, disable and remove the service."""
    removed = uninstall(name, user, unit_dir)
    say("removed " + ", ".join(str(p) for p in removed), "ok", "green", to=out)
