"""Fleet commands: `edgeface collect`, `edgeface mqtt flush`, `edgeface pack` / `unpack`, `edgeface service`,
and the `--mqtt` / `--bundle` helpers `edgeface run` calls. Thin layers over io.mqtt_*, fleet.bundle, fleet.service.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from edgeface.errors import EdgefaceError

console = Console(stderr=True)
out = Console(soft_wrap=True)

mqtt_app = typer.Typer(help="The on-disk MQTT queue: send what runs left queued.", no_args_is_help=True)
service_app = typer.Typer(help="Run edgeface as a systemd service.", no_args_is_help=True)


# ---- edgeface run --mqtt / --bundle ---------------------------------------------------------------
def run_mqtt_sink(url: Optional[str], ca: Optional[str], qos: int, every_frame: bool, queue: Optional[Path],
                  queue_size: str, board: Optional[str], describe: dict):
    """The MQTT sink for `edgeface run --mqtt URL` (None without --mqtt); prints how the broker answered."""
    if url is None:
        if ca is not None:
            raise EdgefaceError("--mqtt-ca needs --mqtt mqtts://HOST/prefix")
        return None
    from edgeface.fleet.mqtt_sink import MqttOptions, MqttSink, parse_bytes

    opts = MqttOptions(url=url, ca=ca, board=board, qos=qos, every_frame=every_frame, queue_dir=queue,
                       queue_bytes=parse_bytes(queue_size))
    sink = MqttSink(opts, describe)
    warning = sink.check_connection()
    topic = f"{opts.target.address}/{sink.topic}"
    if sink.waiting_before:
        console.print(f"MQTT: {sink.waiting_before} results from earlier runs are queued; they go first", highlight=False)
    if warning:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    else:
        console.print(f"MQTT: publishing to {topic} (QoS {qos}), status on {opts.target.topic(opts.board, 'status')}",
                      highlight=False, soft_wrap=True)
    return sink


def run_bundle(bundle: Optional[Path], precision: Optional[str], detector_size: Optional[str]) -> tuple:
    """For `edgeface run --bundle FILE`: (model cache = the verified, unpacked bundle, precision, detector
    precision, detector size), the bundle's unless given; (None, precision, None, detector_size) without it."""
    if bundle is None:
        return None, precision, None, detector_size
    from edgeface.fleet.bundle import open_for_run

    from edgeface.vocab import Precision, parse_size

    root, info = open_for_run(bundle)
    size = f"{info.detector_size[0]}x{info.detector_size[1]}"
    if precision is not None and Precision.parse(precision).value != info.precision:
        raise EdgefaceError(f"bundle {bundle.name} holds {info.precision} models, not {precision}: drop --precision, "
                            f"or pack one with `edgeface pack --precision {precision}`")
    if detector_size is not None and tuple(parse_size(detector_size)) != tuple(info.detector_size):
        raise EdgefaceError(f"bundle {bundle.name} holds FaceBoxes {size}, not {detector_size}: drop --detector-size, "
                            f"or pack one with `edgeface pack --detector-size {detector_size}`")
    det = "" if info.detector_precision_used == info.precision else f", detector {info.detector_precision_used}"
    console.print(f"bundle {bundle.name}: {len(info.files)} files verified ({info.regressor} + faceboxes "
                  f"{info.detector_size[0]}x{info.detector_size[1]}, {info.precision}{det}, packed for {info.target})",
                  highlight=False, soft_wrap=True)
    return root, info.precision, info.detector_precision_used, size


# ---- edgeface pack / unpack -------------------------------------------------------------------------
def pack_command(
    out_path: Path = typer.Option(..., "--out", "-o", help="The bundle to write, e.g. face.edgeface."),
    precision: Optional[str] = typer.Option(None, "--precision", "-p", help="fp32 | fp16 | int8 | int8_floatio (default: the target's, else int8)."),
    target: Optional[str] = typer.Option(None, "--target", "-t", help="Board profile the bundle is for (rpi4, rpi5, ...): its precision and detector size."),
    detector_size: Optional[str] = typer.Option(None, "--detector-size", help="FaceBoxes input WxH (default: the target's, else 640x480)."),
    regressor: str = typer.Option("mb05", "--regressor", help="mb05 or mb1."),
):
    """Pack converted models, manifests and runtime assets into one verified file for the boards."""
    from edgeface.fleet.bundle import pack
    from edgeface.vocab import parse_size

    size = parse_size(detector_size) if detector_size else None
    path, info, digest = pack(out_path, precision=precision, target=target, detector_size=size, regressor=regressor)
    total = sum(f["size"] for f in info.files)
    for f in info.files:
        out.print(f"  {f['path']:48s} {f['size'] / 1e6:6.2f} MB  sha256 {f['sha256'][:16]}", highlight=False)
    det = "" if info.detector_precision_used == info.precision else f", detector {info.detector_precision_used}"
    out.print(f"[green]ok[/] {path}: {len(info.files)} files, {total / 1e6:.2f} MB ({info.precision}{det}, faceboxes "
              f"{info.detector_size[0]}x{info.detector_size[1]}, for {info.target}); sha256 {digest}", highlight=False)


def unpack_command(
    bundle: Path = typer.Argument(..., help="A bundle made by `edgeface pack`."),
    dest: Optional[Path] = typer.Option(None, "--to", help="Model cache to unpack into (default: $EDGEFACE_HOME or ~/.cache/edgeface)."),
):
    """Verify every file of a bundle, then put the models into the cache (nothing is changed if any check fails)."""
    from edgeface.fleet.bundle import unpack

    info = unpack(bundle, dest)
    from edgeface.hub import paths

    # a bundle packed for a profile runs with that profile (which may give the detector its own precision)
    how = (f"--target {info.target}" if info.target != "any" else
           f"--precision {info.precision}" if info.detector_precision_used == info.precision else
           f"--precision {info.precision} (detector {info.detector_precision_used})")
    out.print(f"[green]ok[/] {len(info.files)} files verified and unpacked into {dest or paths.home()} "
              f"({info.precision}, packed for {info.target}); run: edgeface run --camera {how}",
              highlight=False)


# ---- edgeface collect ----------------------------------------------------------------------------
def collect_command(
    url: str = typer.Argument(..., help="mqtt://[user:pass@]host[:port]/prefix (mqtts:// for TLS)."),
    json_path: Path = typer.Option(..., "--json", help="Write every board's records here (JSONL with board and run)."),
    ca: Optional[str] = typer.Option(None, "--mqtt-ca", help="CA certificate (PEM) of the broker, for mqtts://."),
    count: Optional[int] = typer.Option(None, "--count", min=1, help="Stop after this many records."),
    idle: Optional[float] = typer.Option(None, "--idle", min=0.1, help="Stop after this many seconds without a record."),
    duration: Optional[float] = typer.Option(None, "--duration", min=0.1, help="Stop after this many seconds."),
    client_id: Optional[str] = typer.Option(None, "--client-id", help="MQTT client id (the broker keeps this session; default edgeface-collect-<host>)."),
):
    """Collect every board's results from a broker into one JSONL file (Ctrl-C stops)."""
    from edgeface.fleet.collect import collect

    def on_status(board: str, st: dict) -> None:
        extra = "" if st.get("state") != "online" else (
            f", {st.get('fps', 0)} fps, {st.get('queued', 0)} queued, {st.get('dropped', 0)} dropped")
        console.print(f"board {board}: {st.get('state', '?')}{extra}", highlight=False)

    console.print(f"collecting from {url.split('@')[-1]} into {json_path} (Ctrl-C stops)", highlight=False)
    rep = collect(url, json_path, ca=ca, client_id=client_id, count=count, idle_timeout=idle, duration=duration,
                  on_status=on_status)
    boards = ", ".join(f"{b} {n}" for b, n in sorted(rep.boards.items())) or "none"
    out.print(f"{rep.records} records from {len(rep.boards)} boards ({boards}); {rep.duplicates} repeats skipped; "
              f"stopped: {rep.stopped}; wrote {rep.path}", highlight=False)


# ---- edgeface mqtt flush ----------------------------------------------------------------------------
@mqtt_app.command("flush")
def flush_command(
    url: str = typer.Argument(..., help="The --mqtt URL the runs used."),
    ca: Optional[str] = typer.Option(None, "--mqtt-ca", help="CA certificate (PEM), for mqtts://."),
    board: Optional[str] = typer.Option(None, "--board-id", help="The board id the runs used (default: host name)."),
    queue: Optional[Path] = typer.Option(None, "--mqtt-queue", help="The queue folder (default: the one for this URL and board)."),
    timeout: float = typer.Option(60.0, "--timeout", min=0.1, help="Give up after this many seconds."),
):
    """Send the results earlier runs left queued on disk (broker away, run ended) to the broker."""
    from edgeface.fleet.mqtt_sink import MqttOptions, flush

    opts = MqttOptions(url=url, ca=ca, board=board, queue_dir=queue)
    rep = flush(opts, timeout)
    if rep.sent == 0 and rep.waiting == 0:
        out.print(f"nothing queued in {rep.queue_dir}", highlight=False)
        return
    out.print(f"{rep.sent} results sent to {opts.target.address}/{opts.target.topic(opts.board, 'faces')}; "
              f"{rep.waiting} still waiting in {rep.queue_dir}" + (f" ({rep.problem})" if rep.problem else ""),
              highlight=False)
    if rep.waiting:
        raise EdgefaceError(f"{rep.waiting} results could not be sent within {timeout:g} s: "
                            "start the broker (or fix the URL) and run `edgeface mqtt flush` again", exit_code=1)


# ---- edgeface service ----------------------------------------------------------------------------
def _check_run_args(args: List[str]) -> None:
    """Parse `run ...` as the CLI would (without running it): a typo fails now, not in the journal."""
    from typer.main import get_command

    from edgeface.cli.main import app

    group = get_command(app)
    cmd = group.commands["run"]
    try:
        cmd.make_context("edgeface run", list(args[1:]), resilient_parsing=False)
    except Exception as e:  # typer bundles its own click: match its exceptions by shape
        if hasattr(e, "format_message"):
            raise EdgefaceError(f"the service command does not parse: {e.format_message()} "
                                "(check the arguments after --)") from None
        if type(e).__name__ != "Exit":  # --help inside the arguments
            raise


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
    import os

    from edgeface.fleet.service import ServiceSpec, install, systemd_version

    args = list(ctx.args)
    _check_run_args(args)
    env = {k: os.environ[k] for k in ("EDGEFACE_HOME",) if os.environ.get(k)}
    spec = ServiceSpec(args=args, user_mode=user, name=name, run_as=run_as, environment=env, systemd=systemd_version())
    rep = install(spec, directory=unit_dir, start=not no_start)
    out.print(f"[green]ok[/] wrote {rep.unit}" + (f" and {rep.env_file} (0600: the MQTT password)" if rep.env_file else ""),
              highlight=False)
    for note in rep.notes:
        out.print(f"  {note}", highlight=False)
    if rep.started:
        out.print(f"  started; logs: journalctl {'--user ' if user else ''}-u {name} -f", highlight=False)


@service_app.command("status")
def service_status(
    user: bool = typer.Option(False, "--user", help="The user service."),
    name: str = typer.Option("edgeface", "--name", help="Service name."),
    unit_dir: Optional[Path] = typer.Option(None, "--unit-dir", help="Where the unit was written with --unit-dir."),
):
    """Show the service's unit and state."""
    from edgeface.fleet.service import status

    out.print(status(name, user, unit_dir), highlight=False)


@service_app.command("uninstall")
def service_uninstall(
    user: bool = typer.Option(False, "--user", help="The user service."),
    name: str = typer.Option("edgeface", "--name", help="Service name."),
    unit_dir: Optional[Path] = typer.Option(None, "--unit-dir", help="Where the unit was written with --unit-dir."),
):
    """Stop, disable and remove the service."""
    from edgeface.fleet.service import uninstall

    removed = uninstall(name, user, unit_dir)
    out.print("[green]ok[/] removed " + ", ".join(str(p) for p in removed), highlight=False)


def register(app: typer.Typer) -> None:
    """Add collect, mqtt, pack, unpack and service to the edgeface CLI."""
    app.command("collect")(collect_command)
    app.add_typer(mqtt_app, name="mqtt")
    app.command("pack")(pack_command)
    app.command("unpack")(unpack_command)
    app.add_typer(service_app, name="service")
