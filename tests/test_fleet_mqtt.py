"""Results over MQTT with a real Mosquitto broker (tests/mosquitto.py): every record of obama.mp4
arrives once and in order with the JSONL schema, also with the broker stopped mid-run; a run without
a broker keeps its results queued for the next run or `edgeface mqtt flush`; a wrong password is one line.
Every record the boards publish (faces, status, last will) and `collect` writes validates against its
published schema (tests/record_schemas.py); `collect` reads version-1 boards and skips newer versions."""

from __future__ import annotations

import json
import threading
import time

import pytest

from edgeface.records import COLLECTED, FRAME, STATUS
from inprocess_cli import cli
from mosquitto import Broker
from paced import PacedVideo
from record_schemas import check

pytest.importorskip("paho.mqtt.client")

FRAMES = 158  # obama.mp4, every frame has a face


class Collector:
    """`edgeface.fleet.collect.collect` on a thread, subscribed before the test publishes."""

    def __init__(self, url, out, count, timeout=90.0, client_id="test-collector", ca=None):
        from edgeface.fleet.collect import collect

        self.out, self.ready, self.stop, self.result = out, threading.Event(), threading.Event(), {}

        def go():
            try:
                self.result["report"] = collect(url, out, ca=ca, count=count, duration=timeout, stop=self.stop,
                                                ready=self.ready, client_id=client_id)
            except BaseException as e:  # reported by join()
                self.result["error"] = e

        self.thread = threading.Thread(target=go, daemon=True)
        self.thread.start()
        assert self.ready.wait(10), "collector did not subscribe"

    def join(self, timeout=120.0):
        """(CollectReport, the records written): every one validated against its published schema."""
        self.thread.join(timeout)
        if "error" in self.result:
            raise self.result["error"]
        written = [json.loads(line) for line in self.out.read_text().splitlines()]
        for rec in written:
            check(rec, COLLECTED)
        for status in self.result["report"].status.values():
            check(status, STATUS)
        return self.result["report"], written


@pytest.fixture()
def broker(tmp_path):
    b = Broker(tmp_path / "broker").start()
    yield b
    b.stop()


def _check_records(collected, jsonl_path, board):
    """Every JSONL line arrived once, in order, and the payload is exactly the JSONL record; the lines
    and the collected records validate against their schemas."""
    lines = [json.loads(x) for x in jsonl_path.read_text().splitlines()]
    assert len(lines) == FRAMES
    assert [r["frame"] for r in collected] == list(range(FRAMES))
    assert all(r["board"] == board for r in collected)
    assert len({r["run"] for r in collected}) == 1
    for line, rec in zip(lines, collected):
        check(line, FRAME)
        check(rec, COLLECTED)
        assert list(rec)[:3] == ["schema", "board", "run"]
        assert {k: v for k, v in rec.items() if k not in ("board", "run")} == {**line, "schema": rec["schema"]}


@pytest.mark.system
def test_obama_every_record_once_in_order(broker, converted_home, tmp_path, capsys):
    col = Collector(broker.url(), tmp_path / "fleet.jsonl", FRAMES)
    code, out, err = cli(capsys, "run", "--source", "samples:obama", "--precision", "int8", "--quiet",
                         "--json", tmp_path / "obama.jsonl", "--mqtt", broker.url(), "--board-id", "pi-test",
                         "--mqtt-queue", tmp_path / "queue")
    assert code == 0, err
    assert f"{FRAMES} results queued this run, {FRAMES} delivered" in out
    assert "waiting" not in out
    report, records = col.join()
    assert report.records == FRAMES and report.duplicates == 0
    _check_records(records, tmp_path / "obama.jsonl", "pi-test")
    late, _ = Collector(broker.url(), tmp_path / "late.jsonl", None, timeout=1.5, client_id="late").join()
    status = late.status["pi-test"]  # the retained status: offline at the end, with the run's figures
    check(status, STATUS)
    assert status["state"] == "offline" and status["frames"] == FRAMES and status["queued"] == 0
    assert status["target"] and status["models"]["regressor_model"] == "mb05_int8.tflite"


@pytest.mark.system
def test_broker_stopped_mid_run_loses_nothing(broker, converted_home, tmp_path):
    import edgeface
    from edgeface.fleet.mqtt_sink import MqttOptions, MqttSink
    from edgeface.app.run_loop import run
    from edgeface.sinks.jsonl import JsonlSink
    from edgeface.sources.spec import open_source

    col = Collector(broker.url(), tmp_path / "fleet.jsonl", FRAMES)
    outage = {}

    def on_frame(i):
        if i == 40:
            outage["stop"] = time.monotonic()
            broker.stop()
        elif i == 40 + 110 and "stop" in outage:  # 110 frames at 30 fps: 3.7 s without a broker
            outage["down_s"] = time.monotonic() - outage["stop"]
            outage["queued_while_down"] = sink.queue.pending
            broker.start()

    with edgeface.FaceAligner.create(precision="int8", running_mode="video") as aligner, \
            open_source("samples:obama") as video:
        sink = MqttSink(MqttOptions(url=broker.url(), board="pi-outage", queue_dir=tmp_path / "queue",
                                    drain_timeout=30.0), aligner.describe())
        assert sink.check_connection() is None
        summary = run(PacedVideo(video, on_frame=on_frame), [JsonlSink(tmp_path / "obama.jsonl"), sink], aligner)
    assert summary.frames == FRAMES
    assert outage["down_s"] >= 3.0
    # the pipeline never waited for the broker: results piled up on disk while it was away
    assert outage["queued_while_down"] >= 100
    assert sink.publisher.connects >= 2 and sink.queue.pending == 0
    report, records = col.join()
    assert report.records == FRAMES
    _check_records(records, tmp_path / "obama.jsonl", "pi-outage")


@pytest.mark.system
def test_no_broker_keeps_results_then_next_run_and_flush_deliver(tmp_path, converted_home, capsys):
    broker = Broker(tmp_path / "broker")  # configured, not started: nothing listens on its port
    queue = tmp_path / "queue"
    args = ["run", "--source", "samples:obama", "--precision", "int8", "--quiet", "--mqtt", broker.url(),
            "--board-id", "pi-away", "--mqtt-queue", queue]
    code, out, err = cli(capsys, *args, "--json", tmp_path / "first.jsonl")
    assert code == 0, err
    assert "not reachable" in err
    assert f"MQTT: {FRAMES} results waiting in {queue}" in " ".join(out.split())
    assert "mqtt flush" in out

    broker.start()
    try:
        # the next run sends the queued results first, then its own
        col = Collector(broker.url(), tmp_path / "fleet.jsonl", 2 * FRAMES)
        code, out, err = cli(capsys, *args, "--json", tmp_path / "second.jsonl")
        assert code == 0, err
        assert f"(+{FRAMES} from earlier runs), {2 * FRAMES} delivered" in out
        report, records = col.join()
        runs = list(dict.fromkeys(r["run"] for r in records))
        assert len(runs) == 2 and report.records == 2 * FRAMES
        assert [r["frame"] for r in records] == list(range(FRAMES)) * 2
        assert [r["run"] for r in records[:FRAMES]] == [runs[0]] * FRAMES  # the older run first

        # nothing left: flush says so
        code, out, err = cli(capsys, "mqtt", "flush", broker.url(), "--board-id", "pi-away", "--mqtt-queue", queue)
        assert code == 0 and "nothing queued" in out
    finally:
        broker.stop()

    # a queued run delivered by `edgeface mqtt flush` once the broker is back
    code, out, err = cli(capsys, *args[:-2], "--mqtt-queue", tmp_path / "queue2", "--max-frames", "20")
    assert code == 0 and "20 results waiting" in " ".join(out.split())
    broker.start()
    try:
        col = Collector(broker.url(), tmp_path / "flushed.jsonl", 20, client_id="test-collector-2")
        code, out, err = cli(capsys, "mqtt", "flush", broker.url(), "--board-id", "pi-away",
                             "--mqtt-queue", tmp_path / "queue2")
        assert code == 0, err
        assert "20 results sent" in out and "0 still waiting" in out
        report, records = col.join()
        assert [r["frame"] for r in records] == list(range(20))
    finally:
        broker.stop()


@pytest.mark.system
def test_wrong_password_is_one_line(tmp_path, converted_home, capsys):
    broker = Broker(tmp_path / "broker", users={"board": "s3cret"}).start()
    try:
        code, out, err = cli(capsys, "run", "--source", "samples:emma", "--precision", "int8", "--quiet",
                             "--mqtt", broker.url(user="board:wrong"), "--mqtt-queue", tmp_path / "q")
        assert code == 2
        errors = [x for x in err.strip().splitlines() if x.startswith("error:")]
        assert len(errors) == 1 and "refused the login for user 'board'" in errors[0]
        assert err.strip().splitlines()[-1] == errors[0]
        assert "Traceback" not in err
        code, out, err = cli(capsys, "collect", broker.url(user="board:nope"), "--json", tmp_path / "x.jsonl",
                             "--duration", "2")
        assert code == 2 and "refused the login for user 'board'" in err
        assert not (tmp_path / "x.jsonl").exists() and not (tmp_path / "x.jsonl.part").exists()
        # the right password works
        col = Collector(broker.url(user="board:s3cret"), tmp_path / "ok.jsonl", 1)
        code, out, err = cli(capsys, "run", "--source", "samples:emma", "--precision", "int8", "--quiet",
                             "--mqtt", broker.url(user="board:s3cret"), "--mqtt-queue", tmp_path / "q2")
        assert code == 0, err
        report, records = col.join()
        assert len(records) == 1 and records[0]["faces"]
    finally:
        broker.stop()


@pytest.mark.system
def test_tls_with_the_brokers_ca(tmp_path, converted_home, capsys):
    broker = Broker(tmp_path / "broker", tls=True).start()
    try:
        col = Collector(broker.url(), tmp_path / "tls.jsonl", 1, ca=broker.ca)
        code, out, err = cli(capsys, "run", "--source", "samples:emma", "--precision", "int8", "--quiet",
                             "--mqtt", broker.url(), "--mqtt-ca", broker.ca, "--mqtt-queue", tmp_path / "q")
        assert code == 0, err
        assert "1 results queued this run, 1 delivered" in out
        report, records = col.join()
        assert len(records) == 1 and len(records[0]["faces"]) == 3
        # without the broker's CA the certificate is not trusted: queued, and said why
        code, out, err = cli(capsys, "run", "--source", "samples:emma", "--precision", "int8", "--quiet",
                             "--mqtt", broker.url(), "--mqtt-queue", tmp_path / "q2")
        assert code == 0 and "TLS failed" in " ".join((err + out).split()) and "1 results waiting" in out
    finally:
        broker.stop()
    code, out, err = cli(capsys, "run", "--source", "samples:emma", "--mqtt", broker.url(), "--mqtt-ca", tmp_path / "none.pem")
    assert code == 2 and "CA certificate" in err and "does not exist" in err


@pytest.mark.parametrize("url, message", [
    ("http://host/x", "must start with mqtt:// or mqtts://"),
    ("mqtt:///x", "has no host"),
    ("mqtt://host:99999/x", "bad port"),
    ("mqtt://host/a/+/b", "may not contain"),
])
def test_bad_urls(url, message, capsys):
    code, out, err = cli(capsys, "mqtt", "flush", url)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


@pytest.mark.system
def test_full_queue_drops_oldest_and_says_so(tmp_path, converted_home, capsys):
    """No broker and a 128 KiB queue: the newest results are kept, the drops are counted in the summary."""
    broker = Broker(tmp_path / "broker")  # not started
    code, out, err = cli(capsys, "run", "--source", "samples:obama", "--precision", "int8", "--quiet",
                         "--mqtt", broker.url(), "--board-id", "pi-small", "--mqtt-queue", tmp_path / "q",
                         "--mqtt-queue-size", "128K")
    assert code == 0, err
    text = " ".join(out.split())
    dropped = int(text.split("oldest results dropped")[0].split(":")[-1].strip().split()[0])
    waiting = int(text.split(" results waiting")[0].split("MQTT: ")[-1])
    assert dropped > 0 and dropped + waiting == FRAMES and 40 <= waiting <= 55  # 128 KiB / ~2.4 kB records
    broker.start()
    try:
        col = Collector(broker.url(), tmp_path / "fleet.jsonl", waiting)
        code, out, err = cli(capsys, "mqtt", "flush", broker.url(), "--board-id", "pi-small", "--mqtt-queue", tmp_path / "q")
        assert code == 0, err
        report, records = col.join()
        assert [r["frame"] for r in records] == list(range(FRAMES - waiting, FRAMES))  # the newest, in order
    finally:
        broker.stop()


LIVE_BOARD = """
import sys, time
from edgeface.fleet.mqtt_sink import MqttOptions, MqttSink
sink = MqttSink(MqttOptions(url=sys.argv[1], board="pi-live", queue_dir=sys.argv[2], status_interval=0.5),
                {"target": "rpi4", "precision": "int8"})
assert sink.check_connection() is None
print("connected", flush=True)
time.sleep(60)
"""


@pytest.mark.system
def test_status_online_then_last_will_offline(broker, tmp_path):
    """A board's retained status is online while it runs; killed (no clean exit), the broker's last will says offline."""
    import subprocess
    import sys

    seen = []
    from edgeface.fleet.collect import collect

    stop = threading.Event()
    ready = threading.Event()
    t = threading.Thread(target=collect, args=(broker.url(), tmp_path / "s.jsonl"), daemon=True,
                         kwargs=dict(stop=stop, ready=ready, client_id="status-watch", duration=60,
                                     on_status=lambda board, st: seen.append((board, st))))
    t.start()
    assert ready.wait(10)
    board = subprocess.Popen([sys.executable, "-c", LIVE_BOARD, broker.url(), str(tmp_path / "q")],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert board.stdout.readline().strip() == "connected"
        deadline = time.monotonic() + 10
        while not any(st.get("state") == "online" for _, st in seen) and time.monotonic() < deadline:
            time.sleep(0.05)
        online = [st for b, st in seen if b == "pi-live" and st.get("state") == "online"]
        assert online and online[-1]["target"] == "rpi4" and online[-1]["edgeface_version"] and "queued" in online[-1]
        for st in online:
            check(st, STATUS)
        board.kill()  # SIGKILL: no DISCONNECT, so the broker publishes the will
        board.wait()
        deadline = time.monotonic() + 15
        while not (seen and seen[-1][1].get("state") == "offline") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert seen[-1] == ("pi-live", {"schema": "edgeface.status/2", "state": "offline", "board": "pi-live",
                                        "reason": "lost"})
        check(seen[-1][1], STATUS)
    finally:
        board.kill()
        stop.set()
        t.join(10)


@pytest.mark.system
def test_collect_reads_version_1_boards_and_skips_newer_ones(broker, converted_home, tmp_path, capsys, caplog):
    """A fleet of mixed versions: a board of edgeface 0.1.0 (untagged version-1 records: what `run --json`
    wrote then, i.e. today's lines without their tag, and its status with `time` in seconds) and a board
    newer than this collector (`edgeface.frame/3`), sent through a real publisher and broker."""
    from edgeface.fleet.disk_queue import DiskQueue
    from edgeface.fleet.mqtt_link import parse_url
    from edgeface.fleet.mqtt_publisher import MqttPublisher

    code, out, err = cli(capsys, "run", "--source", "samples:obama", "--precision", "int8", "--quiet",
                         "--max-frames", "5", "--json", tmp_path / "obama.jsonl")
    assert code == 0, err
    current = [json.loads(x) for x in (tmp_path / "obama.jsonl").read_text().splitlines()]
    version_1 = [{k: v for k, v in r.items() if k != "schema"} for r in current]
    for r in version_1:
        check(r, FRAME, 1)
    status_1 = {"state": "online", "board": "pi-old", "version": "0.1.0", "run": "old-run", "target": "rpi4",
                "precision": "int8", "models": {}, "frames": 5, "fps": 9.5, "queued": 0, "dropped": 0, "sent": 5,
                "time": 1764900000.25}
    check(status_1, STATUS, 1)

    target = parse_url(broker.url())
    col = Collector(broker.url(), tmp_path / "fleet.jsonl", len(version_1))
    publisher = MqttPublisher(target, "sender", DiskQueue(tmp_path / "queue")).start()
    newer = {**current[0], "schema": "edgeface.frame/3"}
    publisher.enqueue(target.topic("pi-new", "faces"), json.dumps(newer).encode(), run="new-run", frame=0)
    publisher.enqueue(target.topic("pi-old", "status"), json.dumps(status_1).encode())
    for r in version_1:
        publisher.enqueue(target.topic("pi-old", "faces"), json.dumps(r).encode(), run="old-run", frame=r["frame"])
    publisher.close(30.0)
    report, written = col.join()  # validates every record written, and every status, against version 2
    assert report.records == len(version_1) and report.upgraded == len(version_1)
    assert report.unsupported == 1 and set(report.boards) == {"pi-old"}
    assert [{k: v for k, v in r.items() if k not in ("schema", "board", "run")} for r in written] == version_1
    assert all(r["schema"] == "edgeface.collected/2" and r["run"] == "old-run" for r in written)
    old_status = report.status["pi-old"]
    assert old_status["unix_time_ms"] == 1764900000250 and old_status["edgeface_version"] == "0.1.0"
    assert "board pi-new: edgeface.frame/3 is newer than this edgeface reads" in caplog.text
