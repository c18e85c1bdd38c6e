"""`edgeface mqtt`: the on-disk MQTT queue (`edgeface mqtt flush`, over `edgeface.fleet.mqtt_sink`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from edgeface.cli.consoles import out, say
from edgeface.cli.run_fleet import mqtt_url
from edgeface.errors import EdgefaceError
from edgeface.fleet.mqtt_sink import MqttOptions, flush

mqtt_app = typer.Typer(help="The on-disk MQTT queue: send what runs left queued.", no_args_is_help=True, rich_markup_mode=None)


@mqtt_app.command("flush")
def flush_command(
    url: str = typer.Argument(..., help="The --mqtt URL the runs used."),
    ca: Optional[str] = typer.Option(None, "--mqtt-ca", help="CA certificate (PEM), for mqtts://."),
    board: Optional[str] = typer.Option(None, "--board-id", help="The board id the runs used (default: host name)."),
    queue: Optional[Path] = typer.Option(None, "--mqtt-queue", help="The queue folder (default: the one for this URL and board)."),
    timeout: float = typer.Option(60.0, "--timeout", min=0.1, help="Give up after this many seconds."),
):
    """Send the results earlier runs left queued on disk (broker away, run ended) to the broker."""
    opts = MqttOptions(url=mqtt_url(url), ca=ca, board=board, queue_dir=queue)
    rep = flush(opts, timeout)
    lost = f"; {rep.lost} damaged records lost (skipped; the others are intact)" if rep.lost else ""
    if rep.sent == 0 and rep.waiting == 0:
        say(f"nothing queued in {rep.queue_dir}{lost}", to=out)
        return
    say(f"{rep.sent} results sent to {opts.target.address}/{opts.target.topic(opts.board, 'faces')}; "
              f"{rep.waiting} still waiting in {rep.queue_dir}{lost}" + (f" ({rep.problem})" if rep.problem else ""), to=out)
    if rep.waiting:
        raise EdgefaceError(f"{rep.waiting} results could not be sent within {timeout:g} s: "
                            "start the broker (or fix the URL) and run `edgeface mqtt flush` again", exit_code=1)
