"""`edgeface collect URL --json fleet.jsonl`: every board's records from a broker into one JSONL file.

Subscribes to `<prefix>/+/faces` and `<prefix>/+/status` (QoS 1) with a persistent session (a
fixed client id, MQTT 5 session expiry), so the broker keeps messages for the collector while it
reconnects. Each record is written as an `edgeface.collected/2` record (`edgeface.records`): the
board's frame record with `"board"` and `"run"` put first; a message the boards send again after a
lost connection is recognised by (board, run, frame) and written once. Boards one version behind
(version 1: edgeface 0.1.0, untagged records) are read and written as the current version; records
of a version newer than this edgeface are skipped, counted and logged (upgrade the collector first).
The file is written as `<out>.part` (a complete line per record, flushed) and renamed to `<out>`
when collecting stops (count reached, idle, duration, `stop` set or Ctrl-C).

A broker is a shared place: any client allowed to publish there can send anything. Every message
is checked against the record's shape (`check_frame`, `check_status`: the fields the collector and
its readers use, with their types) before it is used; a bad one is counted (`invalid`), logged once
per board (its text escaped, never printed raw) and acknowledged, so it is not redelivered to the
next collect. Nothing a message holds can stop the network thread; if that thread dies anyway,
`collect` raises an error instead of waiting for messages that can no longer arrive.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Union

from edgeface.errors import EdgefaceError
from edgeface.fleet.mqtt_link import (connect_error_text, is_permanent_refusal, make_client, parse_url,
                                   read_user_properties, refusal_error, safe_name)
from edgeface.hub.output_guard import commit
from edgeface.records import FRAME, STATUS, RecordVersionError, collected_record, upgrade

log = logging.getLogger(__name__)
MAX_PAYLOAD = 4 << 20  # a frame record with a dense mesh's params is a few KB; far above that is not a record


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_frame(obj: dict) -> Optional[str]:
    """What is wrong with a frame record's shape (None when fine): `frame` a non-negative integer,
    `faces` a list of objects, `source` a string, `time_ms` an object of numbers."""
    if not _is_int(obj.get("frame")) or obj["frame"] < 0:
        return "'frame' is not a non-negative integer"
    faces = obj.get("faces", [])
    if not isinstance(faces, list) or not all(isinstance(f, dict) for f in faces):
        return "'faces' is not a list of objects"
    if "source" in obj and not isinstance(obj["source"], str):
        return "'source' is not a string"
    t = obj.get("time_ms", {})
    if t is not None and (not isinstance(t, dict) or not all(_is_num(v) or v is None for v in t.values())):
        return "'time_ms' is not an object of numbers"
    return None


def check_status(obj: dict) -> Optional[str]:
    """What is wrong with a status record's shape (None when fine)."""
    if not isinstance(obj.get("state"), str) or not 0 < len(obj["state"]) <= 32:
        return "'state' is not a short string"
    for key in ("fps",):
        if key in obj and not (_is_num(obj[key]) or obj[key] is None):
            return f"'{key}' is not a number"
    for key in ("queued", "dropped", "sent", "frames", "unix_time_ms"):
        if key in obj and not (_is_int(obj[key]) or obj[key] is None):
            return f"'{key}' is not an integer"
    return None


@dataclass
class CollectReport:
    path: Path
    records: int = 0  # written (unique)
    duplicates: int = 0  # repeats recognised by (board, run, frame) and skipped
    invalid: int = 0  # payloads that were not a JSON record
    upgraded: int = 0  # version-1 frame records read (written as the current version)
    unsupported: int = 0  # records of a version this edgeface cannot read (newer boards), skipped
    boards: dict = field(default_factory=dict)  # board -> records written
    status: dict = field(default_factory=dict)  # board -> last status record (current version)
    stopped: str = ""


def collect(url: str, out: Union[str, Path], ca: Optional[str] = None, client_id: Optional[str] = None,
            count: Optional[int] = None, idle_timeout: Optional[float] = None, duration: Optional[float] = None,
            session_expiry: int = 86400, stop: Optional[threading.Event] = None,
            ready: Optional[threading.Event] = None, on_record: Optional[Callable[[dict], None]] = None,
            on_status: Optional[Callable[[str, dict], None]] = None) -> CollectReport:
    """Collect every board's records under the URL's prefix into the JSONL file `out` (see the module doc):
    `edgeface.collected/2` records, from boards writing `edgeface.frame/2` or version 1.

    Stops after `count` unique records, after `idle_timeout` s without a record (counted from the
    last record, or from the start), after `duration` s, or when `stop` is set; `ready` is set once
    subscribed. `on_record` gets each record written, `on_status` each board's status record
    (current version). A refused login or an unreachable broker at the start is an EdgefaceError.
    """
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    target = parse_url(url, ca)
    out = Path(out).expanduser()
    part = out.with_name(out.name + ".part")
    report = CollectReport(path=out)
    seen: set = set()
    lock = threading.Lock()
    events = {"connack": threading.Event(), "subscribed": ready or threading.Event(), "last": time.monotonic()}
    failure: list = []
    warned: set = set()  # (board, schema) of unreadable records already logged
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fh = open(part, "w", encoding="utf-8", newline="\n")
    except OSError as e:
        raise EdgefaceError(f"cannot write {out}: {e.strerror or e} (pick another --json path)") from None

    faces_topic, status_topic = target.topic("+", "faces"), target.topic("+", "status")

    def on_connect(client, userdata, flags, rc, properties):
        if rc.is_failure:
            failure.append(refusal_error(target, rc) if is_permanent_refusal(rc)
                           else EdgefaceError(f"{target.address} refused the connection: {rc}"))
        else:
            client.subscribe([(faces_topic, 1), (status_topic, 1)])
        events["connack"].set()

    def on_subscribe(client, userdata, mid, reason_codes, properties):
        bad = [str(r) for r in reason_codes if r.is_failure]
        if bad:
            failure.append(EdgefaceError(f"{target.address} refused the subscription to {target.prefix}/+/...: "
                                         f"{bad[0]} (check the broker's ACL for this user)"))
        events["subscribed"].set()

    def readable(board: str, obj, kind: str) -> Optional[dict]:
        """`obj` as a current record of `kind`, None (counted, logged once) if its version is unreadable."""
        try:
            return upgrade(obj, kind)
        except RecordVersionError as e:
            with lock:
                report.unsupported += 1
                first = (board, str(obj.get("schema"))) not in warned
                warned.add((board, str(obj.get("schema"))))
            if first:
                log.warning("board %s: %s; its records are skipped", ascii(board)[1:-1], ascii(str(e))[1:-1])
            return None

    def invalid(board: str, why: str) -> None:
        with lock:
            report.invalid += 1
            first = (board, "invalid") not in warned
            warned.add((board, "invalid"))
        if first:  # escaped: a board name or a message can hold control characters
            log.warning("board %s: a message is not a valid record (%s); such messages are skipped and counted",
                        ascii(board)[1:-1], ascii(why)[1:-1])

    def on_message(client, userdata, msg):
        """Any message, however hostile, is used, or counted as invalid; nothing escapes to paho's thread
        (which would stop receiving), and the message is acknowledged either way."""
        board = "?"
        try:
            parts = msg.topic.split("/")
            board = parts[-2]
            handle(board, parts[-1], msg)
        except Exception as e:  # a message this code did not foresee (RecursionError too): counted, never fatal
            invalid(board, f"{type(e).__name__}: {e}")

    def handle(board: str, kind: str, msg) -> None:
        if len(msg.payload) > MAX_PAYLOAD:
            return invalid(board, f"{len(msg.payload)} bytes")
        try:
            obj = json.loads(msg.payload)
        except (ValueError, RecursionError):
            return invalid(board, "not JSON")
        if not isinstance(obj, dict):
            return invalid(board, "not a JSON object")
        if kind == "status":
            status = readable(board, obj, STATUS)
            if status is not None:
                why = check_status(status)
                if why is not None:
                    return invalid(board, why)
                report.status[board] = status
                if on_status is not None:
                    on_status(board, status)
            return
        if "frame" not in obj:
            return invalid(board, "no 'frame'")
        untagged = "schema" not in obj  # version 1
        frame = readable(board, obj, FRAME)
        if frame is None:
            return
        why = check_frame(frame)
        if why is not None:
            return invalid(board, why)
        run = read_user_properties(msg).get("run")
        if run is not None and not isinstance(run, str):
            run = str(run)
        key = (board, run, frame["frame"])
        with lock:
            if key in seen:
                report.duplicates += 1
                return
            seen.add(key)
            report.upgraded += untagged
            rec = collected_record(board, run, frame)
            fh.write(json.dumps(rec, separators=(",", ":")) + "\n")
            fh.flush()
            report.records += 1
            report.boards[board] = report.boards.get(board, 0) + 1
            events["last"] = time.monotonic()
        if on_record is not None:
            on_record(rec)

    client = make_client(target, client_id or f"edgeface-collect-{safe_name(socket.gethostname())}")
    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    client.reconnect_delay_set(1, 5)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = int(session_expiry)
    ok = False
    try:
        try:
            client.connect(target.host, target.port, keepalive=15, clean_start=False, properties=props)
        except Exception as e:
            raise EdgefaceError(f"cannot collect: {connect_error_text(target, e)}; start the broker or fix the URL") from None
        client.loop_start()
        net_thread = getattr(client, "_thread", None)  # paho sets its attribute back to None when the thread ends
        if not events["connack"].wait(10.0):
            raise EdgefaceError(f"cannot collect: {target.address} sent no CONNACK within 10 s")
        t0 = time.monotonic()
        while True:
            if failure:
                raise failure[0]
            if net_thread is not None and not net_thread.is_alive():
                raise EdgefaceError(f"collecting stopped: the MQTT network thread died ({report.records} records "
                                    f"written to {part}); run collect again (the broker keeps the session)")
            now = time.monotonic()
            if count is not None and report.records >= count:
                report.stopped = f"{count} records"
                break
            if duration is not None and now - t0 >= duration:
                report.stopped = f"{duration:g} s"
                break
            if idle_timeout is not None and now - events["last"] >= idle_timeout:
                report.stopped = f"idle {idle_timeout:g} s"
                break
            if stop is not None and stop.is_set():
                report.stopped = "stopped"
                break
            time.sleep(0.05)
        ok = True
    except KeyboardInterrupt:
        report.stopped = "interrupted"
        ok = True
    finally:
        client.disconnect()
        client.loop_stop()
        fh.close()
        if ok:
            commit(part, out)
        elif report.records == 0:
            part.unlink(missing_ok=True)
    return report
