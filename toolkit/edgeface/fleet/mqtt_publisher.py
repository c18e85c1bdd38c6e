"""The MQTT sender: messages from a `DiskQueue` to a broker, in order, on its own thread.

`enqueue()` only appends to the disk queue (no network: the pipeline never waits for the broker).
The sender thread connects (reconnecting with backoff 0.5 s doubling to 15 s), publishes up to
`window` messages at a time (QoS 1 by default) and acknowledges a message in the queue only
when the broker has acknowledged it; after a lost connection it resends from the oldest
unacknowledged message with a fresh client, so nothing is lost and a repeat carries the same
(`run`, `frame`) for the subscriber to de-duplicate. While connected it keeps the retained status
topic up to date every `status_interval` seconds (`edgeface.status/2` records, `edgeface.records`);
the last will sets it to "offline" with `"reason": "lost"`.
A login the broker refuses (bad user or password) stops the sender: `error` holds the one line.
"""

from __future__ import annotations

import json
import logging
import queue as queue_mod
import threading
import time
from typing import Callable, Optional

from edgeface.errors import EdgefaceError
from edgeface.fleet.disk_queue import DiskQueue
from edgeface.fleet.mqtt_link import (MqttTarget, connect_error_text, is_permanent_refusal, make_client, refusal_error,
                                   user_properties)
from edgeface.records import status_record

log = logging.getLogger(__name__)
#: MQTT v5 DISCONNECT reason: another connection with this client id took the session
SESSION_TAKEN_OVER = 142
#: a broker that closes the socket instead: this many accepted connections in a row ended within QUICK_DROP_S
QUICK_DROPS, QUICK_DROP_S = 3, 10.0
BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 15.0
CONNACK_WAIT_S = 10.0


def pack_message(topic: str, payload: bytes, **props) -> bytes:
    """A queue record: one JSON header line (topic, user properties) then the payload."""
    return json.dumps({"topic": topic, "props": props}, separators=(",", ":")).encode() + b"\n" + payload


def unpack_message(record: bytes) -> tuple:
    head, _, payload = record.partition(b"\n")
    h = json.loads(head)
    return h["topic"], payload, h.get("props", {})


class MqttPublisher:
    """Publishes a disk queue's messages to `target` (see the module doc). `start()`, then `close()`."""

    def __init__(self, target: MqttTarget, board: str, disk_queue: DiskQueue, qos: int = 1,
                 status_fn: Optional[Callable[[], dict]] = None, status_interval: float = 5.0, window: int = 32):
        if qos not in (0, 1, 2):
            raise EdgefaceError(f"MQTT QoS {qos} does not exist: use 0, 1 or 2")
        self.target, self.board, self.queue, self.qos = target, board, disk_queue, qos
        self.status_fn = status_fn or (lambda: {})
        self.status_interval = float(status_interval)
        self.window = int(window)
        self.status_topic = target.topic(board, "status")
        self.sent = 0  # messages the broker acknowledged, this session
        self.rejected = 0  # messages the broker refused (e.g. not allowed on that topic); not retried
        self.connects = 0
        self.error: Optional[EdgefaceError] = None  # a refusal that retrying cannot fix
        self.last_problem = ""  # why the last connection attempt failed (retrying)
        self.taken_over = 0  # times the broker dropped us for another client with our client id
        self._quick_drops = 0  # accepted connections in a row the broker ended within QUICK_DROP_S
        self.connected = threading.Event()
        self._attempted = threading.Event()  # the first connection attempt has an outcome
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._deadline = 0.0
        self._events: queue_mod.Queue = queue_mod.Queue()
        self._client = None
        self._thread: Optional[threading.Thread] = None

    # ---- API ---------------------------------------------------------------------------------
    def start(self) -> "MqttPublisher":
        self._thread = threading.Thread(target=self._run, name="edgeface-mqtt", daemon=True)
        self._thread.start()
        return self

    def enqueue(self, topic: str, payload: bytes, **props) -> int:
        seq = self.queue.append(pack_message(topic, payload, **props))
        self._wake.set()
        return seq

    def wait_first_attempt(self, timeout: float) -> bool:
        """Wait until the first connection attempt succeeded or failed; True if connected."""
        self._attempted.wait(timeout)
        return self.connected.is_set()

    def close(self, drain_timeout: float = 5.0) -> None:
        """Send what is queued for up to `drain_timeout` s (less if the broker is away), publish the
        final status, disconnect and close the queue (what is left stays queued on disk)."""
        if self._thread is not None and self._thread.is_alive():
            if not self.connected.is_set():  # the broker is away: one short chance, then keep it queued
                drain_timeout = min(drain_timeout, 2.0)
            self._deadline = time.monotonic() + max(0.0, drain_timeout)
            self._stop.set()
            self._wake.set()
            self._thread.join(drain_timeout + CONNACK_WAIT_S + 5.0)
        self.queue.close()

    def status(self, state: str = "online") -> dict:
        """The `edgeface.status` record published now: state, board, time, the run's fields, the queue's figures."""
        return status_record(state, self.board, unix_time_ms=round(time.time() * 1000.0), **self.status_fn(),
                             queued=self.queue.pending, dropped=self.queue.dropped, sent=self.sent)

    # ---- the sender thread -------------------------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        self._events.put(("connack", reason_code))

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._events.put(("disconnect", reason_code))
        self._wake.set()

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        self._events.put(("puback", (mid, reason_code)))
        self._wake.set()

    def _connect(self) -> bool:
        while not self._events.empty():  # events of an earlier client
            self._events.get_nowait()
        client = make_client(self.target, client_id=f"edgeface-{self.board}")
        client.on_connect, client.on_disconnect, client.on_publish = self._on_connect, self._on_disconnect, self._on_publish
        client.max_inflight_messages_set(self.window)
        client.max_queued_messages_set(0)
        client.will_set(self.status_topic, json.dumps(status_record("offline", self.board, reason="lost")),
                        qos=1, retain=True)
        try:
            client.connect(self.target.host, self.target.port, keepalive=15, clean_start=True)
        except Exception as e:  # OSError, ssl.SSLError, socket.gaierror: retry with backoff
            self.last_problem = connect_error_text(self.target, e)
            return False
        client.loop_start()
        deadline = time.monotonic() + CONNACK_WAIT_S
        while time.monotonic() < deadline:
            try:
                kind, rc = self._events.get(timeout=0.1)
            except queue_mod.Empty:
                continue
            if kind != "connack":
                continue
            if not rc.is_failure:
                self._client = client
                self.connects += 1
                self.last_problem = self._takeover_note()  # kept: a reconnect does not explain the backlog
                self.connected.set()
                return True
            if is_permanent_refusal(rc):
                self.error = refusal_error(self.target, rc)
            else:
                self.last_problem = f"{self.target.address} refused the connection: {rc}"
            break
        else:
            self.last_problem = f"{self.target.address} sent no CONNACK within {CONNACK_WAIT_S:.0f} s"
        self._drop(client)
        return False

    def _drop(self, client) -> None:
        try:
            client.disconnect()
        except Exception:  # already gone
            pass
        client.loop_stop()
        if client is self._client:
            self._client = None
        self.connected.clear()

    def _publish_status(self, state: str = "online", wait_s: float = 0.0) -> None:
        try:
            info = self._client.publish(self.status_topic, json.dumps(self.status(state)), qos=1, retain=True)
            if wait_s > 0:  # the last status: a clean disconnect sends no will, so it must arrive
                info.wait_for_publish(wait_s)
        except Exception as e:  # the connection just went; the next status will do
            log.debug("status not published: %s", e)

    def _session(self) -> None:
        """Publish from the queue while connected; returns when the connection is lost or on stop."""
        inflight: dict = {}  # mid -> seq
        started = time.monotonic()
        acked: set = set()
        cursor = self.queue.head
        next_status = 0.0
        last_sync = time.monotonic()
        while True:
            while True:
                try:
                    kind, value = self._events.get_nowait()
                except queue_mod.Empty:
                    break
                if kind == "disconnect":
                    self._note_drop(getattr(value, "value", value), time.monotonic() - started)
                    self._drop(self._client)
                    return
                if kind == "puback":
                    mid, rc = value
                    seq = inflight.pop(mid, None)
                    if seq is None:
                        continue
                    if getattr(rc, "is_failure", False):
                        self.rejected += 1
                        log.warning("broker refused message %d: %s", seq, rc)
                    else:
                        self.sent += 1
                    acked.add(seq)
            head = self.queue.head
            while head in acked:
                acked.discard(head)
                head += 1
            if head > self.queue.head:
                self.queue.ack(head - 1)
            acked = {s for s in acked if s >= self.queue.head}
            if len(inflight) < self.window:
                for seq, record in self.queue.read(max(cursor, self.queue.head), self.window - len(inflight)):
                    topic, payload, props = unpack_message(record)
                    info = self._client.publish(topic, payload, qos=self.qos,
                                                properties=user_properties(**props, seq=seq) if props else None)
                    if info.rc != 0:  # not connected any more: the disconnect event follows
                        break
                    inflight[info.mid] = seq
                    cursor = seq + 1
            now = time.monotonic()
            if now >= next_status:
                self._publish_status()
                next_status = now + self.status_interval
            if now - last_sync >= 1.0:
                self.queue.sync()
                last_sync = now
            if self._stop.is_set() and ((not inflight and self.queue.pending == 0) or now >= self._deadline):
                self._publish_status("offline", wait_s=2.0)
                self._drop(self._client)
                return
            self._wake.wait(0.05)
            self._wake.clear()

    def _note_drop(self, reason: object, session_s: float) -> None:
        """A connection the broker ended: "session taken over" (MQTT v5), or (brokers that just close the
        socket, as Mosquitto 2.0 does) the third accepted connection in a row dropped within seconds, means
        another client uses this board's client id: two boards with one --board-id (the host name)."""
        self._quick_drops = self._quick_drops + 1 if session_s < QUICK_DROP_S else 0
        if reason == SESSION_TAKEN_OVER or self._quick_drops >= QUICK_DROPS:
            self.taken_over += 1
            self.last_problem = self._takeover_note()
            if self.taken_over == 1:
                log.warning("MQTT: %s", self.last_problem)

    def _takeover_note(self) -> str:
        if not self.taken_over:
            return ""
        return (f"the broker accepted this board and dropped it again within seconds, {self.taken_over} time(s): "
                f"is another board using the id '{self.board}' (client id edgeface-{self.board})? two boards with "
                "the same host name share the default id: give each its own --board-id")

    def _run(self) -> None:
        backoff = BACKOFF_START_S
        try:
            while self.error is None:
                if self._stop.is_set() and (time.monotonic() >= self._deadline or self.queue.pending == 0):
                    break
                if self._connect():
                    self._attempted.set()
                    backoff = BACKOFF_START_S
                    self._session()
                    if self._stop.is_set():
                        break
                    continue
                self._attempted.set()
                if self.error is not None:
                    break
                log.info("MQTT: %s; retrying in %.1f s", self.last_problem, backoff)
                wait_until = time.monotonic() + backoff
                while time.monotonic() < wait_until:
                    if self._stop.is_set():  # closing while the broker is away: give it one short chance
                        wait_until = min(wait_until, self._deadline)
                    time.sleep(0.05)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
        except Exception as e:  # never take the pipeline down from here; say why sending stopped
            self.error = EdgefaceError(f"MQTT sender stopped: {e}")
            log.exception("MQTT sender failed")
        finally:
            self._attempted.set()
            if self._client is not None:
                self._drop(self._client)
