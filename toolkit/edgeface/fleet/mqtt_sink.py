"""`edgeface run --mqtt URL`: results to an MQTT broker, with nothing lost while it is away.

`MqttSink` is a sink like the others (`write(frame, result, annotated)`, `close()`): each frame
with faces (every frame with `every_frame`) becomes one message on `<prefix>/<board>/faces` whose
payload is exactly the JSONL record (`edgeface.frame/2`, `edgeface.records`), with MQTT 5 user properties `run` (this run's id) and `seq`
(its place in the queue). `write` only appends to a bounded disk queue; an `MqttPublisher` thread
sends from it (see `fleet/mqtt_publisher.py`), so the pipeline never waits for the network. On
`close()` it sends what it can for up to `drain_timeout` s; what is left stays queued on disk for the
next run with the same broker, prefix and board, or for `flush()` (`edgeface mqtt flush URL`).
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from edgeface import __version__
from edgeface.errors import OptionsError
from edgeface.hub import paths
from edgeface.fleet.disk_queue import DEFAULT_MAX_BYTES, DiskQueue
from edgeface.fleet.mqtt_link import MqttTarget, board_id, parse_url
from edgeface.fleet.mqtt_publisher import MqttPublisher
from edgeface.records import frame_record
from edgeface.sink import BaseSink


@dataclass
class MqttOptions:
    """Options of the MQTT sink (and of `flush`); checked at creation."""

    url: str
    ca: Optional[Union[str, Path]] = None  # CA certificate (PEM) for mqtts://
    board: Optional[str] = None  # board id in the topics (default: the host name)
    qos: int = 1
    every_frame: bool = False  # also frames without faces
    queue_dir: Optional[Union[str, Path]] = None  # default: <cache>/mqtt-queue/<host>_<port>_<prefix>_<board>
    queue_bytes: int = DEFAULT_MAX_BYTES
    status_interval: float = 5.0
    drain_timeout: float = 10.0  # on close, seconds to keep sending what is queued

    def __post_init__(self):
        self.target: MqttTarget = parse_url(self.url, None if self.ca is None else str(self.ca))
        self.board = board_id(self.board)
        if self.qos not in (0, 1, 2):
            raise OptionsError(f"--mqtt-qos {self.qos}: use 0, 1 or 2")
        if self.status_interval <= 0 or self.drain_timeout < 0:
            raise OptionsError("the status interval must be > 0 s and the drain timeout >= 0 s")
        try:
            self.queue_bytes = int(self.queue_bytes)
        except (TypeError, ValueError, OverflowError):
            raise OptionsError(f"queue size {plain_text(self.queue_bytes)}: give a number of bytes, e.g. 33554432") from None
        if not 0 < self.queue_bytes <= MAX_QUEUE_BYTES:
            raise OptionsError(f"queue size {self.queue_bytes} bytes: give 128 KiB .. 1 TiB")
        if self.queue_dir is None:
            self.queue_dir = paths.home() / "mqtt-queue" / self.target.queue_name(self.board)
        self.queue_dir = Path(self.queue_dir).expanduser()


MAX_QUEUE_BYTES = 1 << 40  # 1 TiB: more is a typo


def parse_bytes(text: str) -> int:
    """'32M' / '512k' / '1G' / '1000000' -> bytes (the --mqtt-queue-size option); 'inf', 'nan', negative
    or absurd sizes are one OptionsError line."""
    t = str(text).strip().upper().removesuffix("B").removesuffix("I")
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(t[-1:], 1)
    bad = OptionsError(f"bad size '{plain_text(text)}': use bytes or K/M/G up to 1024G, e.g. 32M")
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)?", t[:-1] if mult > 1 else t):
        raise bad
    value = int(float(t[:-1] if mult > 1 else t) * mult)
    if not 0 < value <= MAX_QUEUE_BYTES:
        raise bad
    return value


def plain_text(value: object) -> str:
    return repr(str(value)[:40])[1:-1]


class MqttSink(BaseSink):
    """Each result to `<prefix>/<board>/faces` through a disk queue; retained status (see the module doc)."""

    needs_picture = False

    def __init__(self, options: MqttOptions, describe: Optional[dict] = None):
        self.options = options
        self.target = options.target
        self.board = options.board
        self.topic = self.target.topic(self.board, "faces")
        self.run_id = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:6]}"
        self.describe = dict(describe or {})
        self.queue = DiskQueue(options.queue_dir, options.queue_bytes)
        self.waiting_before = self.queue.pending
        self.dropped_before = self.queue.dropped
        self.frames = 0
        self.messages = 0
        self._t0 = time.monotonic()
        self.publisher = MqttPublisher(self.target, self.board, self.queue, qos=options.qos, status_fn=self._status,
                                       status_interval=options.status_interval).start()

    def _status(self) -> dict:
        """This run's fields of the `edgeface.status` record (the publisher adds state, board, time, queue figures)."""
        d = self.describe
        elapsed = time.monotonic() - self._t0
        return {"edgeface_version": __version__, "run": self.run_id, "target": d.get("target"), "precision": d.get("precision"),
                "models": {k: os.path.basename(str(d[k])) for k in ("detector_model", "regressor_model") if d.get(k)},
                "frames": self.frames, "fps": round(self.frames / elapsed, 2) if elapsed > 0 else 0.0}

    def check_connection(self, timeout: float = 3.0) -> Optional[str]:
        """Wait for the first connection attempt: raises a refused login; returns a warning line if the
        broker cannot be reached (results are queued), None when connected."""
        if self.publisher.wait_first_attempt(timeout):
            return None
        if self.publisher.error is not None:
            self.abort()
            raise self.publisher.error
        return (f"MQTT broker not reachable yet ({self.publisher.last_problem or 'connecting'}): results are queued "
                f"in {self.queue.dir} and sent when it is")

    def write(self, frame, result, annotated=None) -> None:
        if self.publisher.error is not None:
            raise self.publisher.error
        self.frames += 1
        obj = frame_record(result)
        if obj.get("faces") or self.options.every_frame:
            payload = json.dumps(obj, separators=(",", ":")).encode()
            self.publisher.enqueue(self.topic, payload, run=self.run_id, frame=obj["frame"] if "frame" in obj else frame.index)
            self.messages += 1

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.publisher.close(self.options.drain_timeout)

    def abort(self) -> None:  # what is queued is complete: keep it for the next run
        if not self.closed:
            self.closed = True
            self.publisher.close(0.0)

    def flush_command(self) -> str:
        """The `edgeface mqtt flush` command line that sends this sink's queue (no password in it)."""
        o = self.options
        cmd = f"edgeface mqtt flush {o.url if not self.target.password else '<URL>'}"
        if o.board != board_id(None):
            cmd += f" --board-id {o.board}"
        if o.queue_dir != paths.home() / "mqtt-queue" / self.target.queue_name(o.board):
            cmd += f" --mqtt-queue {o.queue_dir}"
        return cmd

    def summary_lines(self) -> list:
        q, p = self.queue, self.publisher
        lines = [f"MQTT {self.target.address}/{self.topic}: {self.messages} results queued this run"
                 + (f" (+{self.waiting_before} from earlier runs)" if self.waiting_before else "")
                 + f", {p.sent} delivered"]
        if p.rejected:
            lines.append(f"MQTT: the broker refused {p.rejected} messages (not allowed on {self.topic}?)")
        if q.lost or q.state_problem:
            lines.append(f"MQTT: the queue {q.dir} was damaged: {q.lost} records lost, the others kept"
                         + (f" ({q.state_problem})" if q.state_problem else ""))
        dropped = q.dropped - self.dropped_before
        if dropped:
            lines.append(f"MQTT: queue full ({self.options.queue_bytes} bytes): {dropped} oldest results dropped")
        if q.pending:
            why = p.last_problem or "broker slower than the run"
            lines.append(f"MQTT: {q.pending} results waiting in {q.dir} ({why}); the next run with this --mqtt, "
                         f"or `{self.flush_command()}`, sends them")
        return lines


@dataclass(frozen=True)
class FlushReport:
    sent: int
    waiting: int
    dropped: int
    queue_dir: Path
    problem: str
    lost: int = 0  # damaged records found in the queue (skipped: the others are sent)


def flush(options: MqttOptions, timeout: float = 30.0) -> FlushReport:
    """Send what earlier runs left queued for `options` (broker, prefix, board), for up to `timeout` s."""
    queue = DiskQueue(options.queue_dir, options.queue_bytes)
    pub = MqttPublisher(options.target, options.board, queue, qos=options.qos)
    lost, problem = queue.lost, queue.state_problem
    if queue.pending == 0:
        queue.close()
        return FlushReport(0, 0, queue.dropped, queue.dir, problem, lost)
    pub.start()
    pub.wait_first_attempt(min(timeout, 10.0))
    if pub.error is not None:
        pub.close(0.0)
        raise pub.error
    pub.close(timeout)
    if pub.error is not None:
        raise pub.error
    return FlushReport(pub.sent, queue.pending, queue.dropped, queue.dir,
                       "; ".join(p for p in (problem, pub.last_problem) if p), lost)
