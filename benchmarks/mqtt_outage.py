"""The broker goes away mid-run: what the disk queue does, as a plot.

    .venv/bin/python benchmarks/mqtt_outage.py [--out benchmarks/mqtt-outage] [--down 3.7]

Starts a real Mosquitto (tests/mosquitto.py: 127.0.0.1, a free port, its own config), a collector
(`edgeface.fleet.collect.collect`), and `edgeface run`'s loop over obama.mp4 (INT8) at camera
pace (30 fps) with the MQTT sink; stops the broker at frame 40 for `--down` seconds, then starts
it again. Samples the sink's queue depth and the records the collector has every 50 ms and writes
`<out>.png` (queued on disk and received, against time, the outage shaded) and `<out>.json`.
Needs the converted INT8 models in the cache and mosquitto installed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "mqtt-outage"))
    ap.add_argument("--down", type=float, default=3.7, help="seconds without a broker")
    args = ap.parse_args(argv)

    import edgeface
    from edgeface.fleet.collect import collect
    from edgeface.fleet.mqtt_sink import MqttOptions, MqttSink
    from edgeface.app.run_loop import run
    from edgeface.sources.spec import open_source
    from mosquitto import Broker
    from paced import PacedVideo

    tmp = Path(tempfile.mkdtemp(prefix="edgeface-outage-"))
    broker = Broker(tmp / "broker").start()
    ready, stop, got = threading.Event(), threading.Event(), []
    t0 = time.monotonic()
    col = threading.Thread(target=collect, args=(broker.url(), tmp / "fleet.jsonl"), daemon=True,
                           kwargs=dict(ready=ready, stop=stop, client_id="outage-collector",
                                       on_record=lambda r: got.append(time.monotonic() - t0)))
    col.start()
    ready.wait(10)
    samples, events = [], {}
    with edgeface.FaceAligner.create(precision="int8", running_mode="video") as aligner, \
            open_source("samples:obama") as video:
        sink = MqttSink(MqttOptions(url=broker.url(), board="outage", queue_dir=tmp / "queue", drain_timeout=30.0),
                        aligner.describe())
        sink.check_connection()
        sampling = threading.Event()

        def sample():
            while not sampling.is_set():
                samples.append((time.monotonic() - t0, sink.queue.pending, len(got)))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()

        def restart():
            broker.start()
            events["up"] = time.monotonic() - t0

        def on_frame(i):
            if i == 40:
                events["down"] = time.monotonic() - t0
                threading.Timer(args.down, restart).start()
                broker.stop()

        run(PacedVideo(video, on_frame=on_frame), [sink], aligner)
        events["run_end"] = time.monotonic() - t0
    deadline = time.monotonic() + 30
    while "up" not in events and time.monotonic() < deadline:
        time.sleep(0.05)
    if sink.queue.pending:  # the run ended before the broker came back: what a board's next start would send
        from edgeface.fleet.mqtt_sink import flush

        events["flush"] = time.monotonic() - t0
        flush(sink.options, timeout=30)
    while len(got) < 158 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    sampling.set()
    stop.set()
    broker.stop()
    result = {"frames": 158, "received": len(got), "broker_down_s": round(events["up"] - events["down"], 2),
              "max_queued": max(q for _, q, _ in samples), "events_s": {k: round(v, 2) for k, v in events.items()},
              "delivered_by_s": round(max(got), 2) if got else None, "reconnects": sink.publisher.connects - 1}
    Path(args.out + ".json").write_text(json.dumps({**result, "samples": samples}, indent=1))
    _plot(samples, events, Path(args.out + ".png"))
    print(json.dumps(result))
    return 0 if len(got) == 158 else 1


def _plot(samples, events, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s[0] for s in samples]
    fig, ax = plt.subplots(figsize=(7.5, 3.4), dpi=110)
    ax.axvspan(events["down"], events["up"], color="0.88", label="broker stopped")
    ax.plot(t, [s[1] for s in samples], color="tab:red", label="results queued on disk")
    ax.step(t, [s[2] for s in samples], where="post", color="tab:blue", label="records received by collect")
    ax.axvline(events["run_end"], color="0.4", lw=0.8, ls="--")
    ax.text(events["run_end"], 150, " run ends", fontsize=8, color="0.3", va="top")
    ax.set_xlabel("time since start (s); obama.mp4 at 30 fps, INT8")
    ax.set_ylabel("records")
    ax.set_ylim(0, 165)
    ax.set_title("edgeface run --mqtt: the broker away for %.1f s, nothing lost" % (events["up"] - events["down"]), fontsize=10)
    ax.legend(loc="center left", fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    try:  # compact palette PNG, as the other plots
        from PIL import Image

        Image.open(path).convert("RGB").quantize(64).save(path, optimize=True)
    except ImportError:
        pass


if __name__ == "__main__":
    sys.exit(main())
