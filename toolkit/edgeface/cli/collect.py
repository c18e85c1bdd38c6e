"""`edgeface collect`: every board's results from an MQTT broker into one JSONL file (`edgeface.fleet.collect`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from edgeface.cli.consoles import out, say
from edgeface.fleet.collect import collect
from edgeface.fleet.mqtt_link import parse_url
from edgeface.hub.output_guard import check_output
from edgeface.redact import redact_url


def collect_command(
    url: str = typer.Argument(..., help="mqtt://[user:pass@]host[:port]/prefix (mqtts:// for TLS)."),
    json_path: Path = typer.Option(..., "--json", help="Write every board's records here (JSONL: edgeface.collected/2 records, with board and run; reads boards' version 1 and 2 records)."),
    ca: Optional[str] = typer.Option(None, "--mqtt-ca", help="CA certificate (PEM) of the broker, for mqtts://."),
    count: Optional[int] = typer.Option(None, "--count", min=1, help="Stop after this many records."),
    idle: Optional[float] = typer.Option(None, "--idle", min=0.1, help="Stop after this many seconds without a record."),
    duration: Optional[float] = typer.Option(None, "--duration", min=0.1, help="Stop after this many seconds."),
    client_id: Optional[str] = typer.Option(None, "--client-id", help="MQTT client id (the broker keeps this session; default edgeface-collect-<host>)."),
):
    """Collect every board's results from a broker into one JSONL file (Ctrl-C stops).

    Writes edgeface.collected/2 records (docs/reference/records.md).
    Reads boards writing version 2 or version 1 (0.1.0, untagged records).
    Skips and counts newer versions: upgrade the collector first.
    """
    check_output(json_path, "--json")  # before connecting: not a folder, device, FIFO or symlink; writable

    def on_status(board: str, st: dict) -> None:
        extra = "" if st.get("state") != "online" else (
            f", {st.get('fps', 0)} fps, {st.get('queued', 0)} queued, {st.get('dropped', 0)} dropped")
        say(f"board {board}: {st.get('state', '?')}{extra}")

    parse_url(url, ca)  # a bad URL is one line, before anything is printed or opened
    say(f"collecting from {redact_url(url)} into {json_path} (Ctrl-C stops)")
    rep = collect(url, json_path, ca=ca, client_id=client_id, count=count, idle_timeout=idle, duration=duration,
                  on_status=on_status)
    boards = ", ".join(f"{b} {n}" for b, n in sorted(rep.boards.items())) or "none"
    versions = (f"; {rep.upgraded} version-1 records read" if rep.upgraded else "") + (
        f"; {rep.unsupported} records of a newer version skipped (upgrade edgeface here)" if rep.unsupported else "") + (
        f"; {rep.invalid} invalid messages skipped" if rep.invalid else "")
    say(f"{rep.records} records from {len(rep.boards)} boards ({boards}); {rep.duplicates} repeats skipped"
              f"{versions}; stopped: {rep.stopped}; wrote {rep.path}", to=out)
