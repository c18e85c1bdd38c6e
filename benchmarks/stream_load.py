#!/usr/bin/env python3
"""Does watching the stream slow the pipeline? Side by side in one run: the real pipeline (FaceAligner,
VIDEO mode, the sample video looped, overlay drawn, MJPEG published) with

  A. one client reading the stream (the baseline: someone watching), and
  B. 20 clients reading the stream + one that reads 1 KB/s,

alternating A and B blocks (`--rounds`) so that background load hits both alike. Prints and writes
the pipeline fps of each and the ratio B/A (target: >= 0.90), with the machine's load average.

    benchmarks/stream_load.py [--frames 300] [--rounds 3] [--out benchmarks/stream-load-x86_64.json]
"""

from __future__ import annotations

import argparse
import http.client
import platform
import socket
import sys
import threading
import time
from pathlib import Path

from edgeface.boards.machine import load_avg
from edgeface.hub.atomic import write_json_atomic


def reader(port, stop, slow=False):
    if slow:
        s = socket.create_connection(("127.0.0.1", port), timeout=3)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"GET /stream.mjpg HTTP/1.0\r\n\r\n")
        try:
            while not stop.is_set():
                s.recv(100)
                time.sleep(0.1)  # ~1 KB/s
        except OSError:
            pass
        s.close()
        return
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
    try:
        c.request("GET", "/stream.mjpg")
        r = c.getresponse()
        while not stop.is_set() and r.read1(65536):
            pass
        r.close()
    except OSError:  # the block ended: no more frames
        pass
    c.close()


def block(aligner, frames, server, clients, slow):
    from edgeface.app.run_loop import run
    from edgeface.tools.bench.soak import LoopedVideo
    from edgeface.hub.assets import sample_path

    stop = threading.Event()
    threads = [threading.Thread(target=reader, args=(server.port, stop), daemon=True) for _ in range(clients)]
    if slow:
        threads.append(threading.Thread(target=reader, args=(server.port, stop, True), daemon=True))
    for t in threads:
        t.start()
    time.sleep(0.5)
    summary = run(LoopedVideo(sample_path("obama"), frames), [], aligner, server=server)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    return summary.fps


def main() -> int:
    from edgeface.aligner import FaceAligner
    from edgeface.options import FaceAlignerOptions, RunningMode
    from edgeface.sinks.mjpeg import MjpegServer

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / f"stream-load-{platform.machine()}.json")
    a = ap.parse_args()
    load0 = load_avg()
    res = {"A_one_client": [], "B_20_clients_plus_slow": []}
    with FaceAligner.create_from_options(FaceAlignerOptions.from_keywords(precision=a.precision, running_mode=RunningMode.VIDEO)) as al, \
            MjpegServer("127.0.0.1", 0, max_clients=32) as server:
        block(al, 50, server, 1, False)  # warm-up
        for _ in range(a.rounds):
            res["A_one_client"].append(round(block(al, a.frames, server, 1, False), 2))
            res["B_20_clients_plus_slow"].append(round(block(al, a.frames, server, 20, True), 2))
    fa, fb = (sum(v) / len(v) for v in res.values())
    out = {"frames_per_block": a.frames, "rounds": a.rounds, "precision": a.precision, "fps": res,
           "mean_fps": {"A": round(fa, 2), "B": round(fb, 2)}, "ratio_B_over_A": round(fb / fa, 3),
           "target_ratio": 0.9, "load_avg_before_after": [load0, load_avg()], "machine": platform.machine()}
    write_json_atomic(a.out, out)
    print(out)
    return 0 if fb / fa >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
