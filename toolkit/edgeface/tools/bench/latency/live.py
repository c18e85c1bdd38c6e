"""Live-camera latency: a simulated camera (`sources.sim_camera`, the sample video on a real clock at 30
or 60 fps) through exactly the path of `edgeface run --camera` / `edgeface run sim:...`: the
capture thread (`sources.capture.LatestFrameCapture`), a LIVE_STREAM `FaceAligner` fed by
`app.live_feed.LiveFeed`, and `app.run_loop.run` (here with no sinks).

Capture-to-result latency = the moment the result callback has the result minus the moment the
frame became available from the camera (both `time.monotonic()`). Dropped frames = frames the
camera delivered that never reached a result: replaced in the capture slot, dropped by
`detect_async` because the aligner was busy, or passed by while the reader was busy (the
camera's own count). One warm-up frame (first detection, the interpreters' first runs) is
processed before the camera starts.

    python -m edgeface.tools.bench.latency.live --fps 30 --out R.json [--precision int8] [--frames N]
(`edgeface bench peers` runs it pinned to 1 and 2 cores.)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import edgeface
from edgeface.app.live_feed import LiveFeed
from edgeface.app.run_loop import run
from edgeface.hub.output_guard import commit
from edgeface.sources.capture import LatestFrameCapture
from edgeface.sources.sim_camera import open_sim_camera


def live_run(fps: float, precision: str = "int8", frames=None, root=None, sinks=()) -> dict:
    feed = LiveFeed()
    cam = open_sim_camera(f"sim:samples:obama@{fps:g}", max_frames=frames)
    with edgeface.FaceAligner.create(precision=precision, running_mode="live_stream", result_callback=feed,
                                     cache_root=root) as aligner:
        aligner.detect_async(cam.first_image, 0.0)  # warm-up outside the clock
        aligner.wait_until_idle()
        with LatestFrameCapture(cam) as cap:
            summary = run(cap, list(sinks), aligner)
        threads = aligner.describe().get("regressor_threads")
    live = summary.live
    return {"fps": fps, "period_ms": round(1000.0 / fps, 2), "precision": precision, "frames": live["delivered"],
            **{k: live[k] for k in ("results", "dropped", "dropped_capture", "dropped_busy", "missed_by_reader",
                                    "latency_p50_ms", "latency_p99_ms", "latency_max_ms")},
            "max_wait_ms": round(max(feed.stats.wait_ms), 2) if feed.stats.wait_ms else None,
            "regressor_threads": threads, "cores": len(os.sched_getaffinity(0))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--precision", default="int8")
    ap.add_argument("--frames", type=int, default=None)
    ap.add_argument("--root", default=None)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    try:
        res = live_run(a.fps, a.precision, a.frames, a.root or None)
    except Exception as e:  # one line to the parent
        res = {"error": f"{type(e).__name__}: {e}"}
    with open(a.out + ".part", "w") as fh:
        json.dump(res, fh)
    commit(a.out + ".part", a.out)
    return 0 if "error" not in res else 1


if __name__ == "__main__":
    sys.exit(main())
