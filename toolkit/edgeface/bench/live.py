"""Live-camera latency: a simulated camera (`io.sim_camera`, the sample video on a real clock at 30
or 60 fps) read by the capture thread (`io.capture.LatestFrameCapture`) into a LIVE_STREAM
`FaceAligner` (`detect_async`, results to a callback).

Capture-to-result latency = the moment the callback has the result minus the moment the frame
became available from the camera (both `time.monotonic()`). Dropped frames = frames the camera
delivered that never reached a result: replaced in the capture slot, dropped by `detect_async`
because the aligner was busy, or passed by while the reader was busy (the camera's own count).

    python -m edgeface.bench.live --fps 30 --out R.json [--precision int8] [--frames N]
(`edgeface bench --peers` runs it pinned to 1 and 2 cores.)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def live_run(fps: float, precision: str = "int8", frames=None, root=None) -> dict:
    import edgeface
    from edgeface.io.capture import LatestFrameCapture
    from edgeface.io.sim_camera import open_sim_camera

    lat = []

    def on_result(result, image, timestamp_ms):
        lat.append(time.monotonic() * 1000.0 - timestamp_ms)

    cam = open_sim_camera(f"sim:samples:obama@{fps:g}", max_frames=frames)
    with edgeface.FaceAligner.create(precision=precision, running_mode="live_stream", result_callback=on_result,
                                     cache_root=root) as aligner:
        # warm-up outside the clock: first detection, interpreters' first runs
        aligner.detect_async(cam._images[0], 0.0)
        aligner._live.wait_idle()
        aligner.reset()
        lat.clear()
        with LatestFrameCapture(cam) as cap:
            for f in cap:
                aligner.detect_async(f.image, f.timestamp_s * 1000.0)
            aligner._live.wait_idle()
        busy_drops = aligner.dropped_frames
        threads = aligner.describe().get("regressor_threads")
    delivered = len(cam._images) if frames is None else min(frames, len(cam._images))
    s = sorted(lat)

    def pct(q):
        if not s:
            return None
        r = q / 100 * (len(s) - 1)
        lo = int(r)
        hi = min(lo + 1, len(s) - 1)
        return round(s[lo] + (s[hi] - s[lo]) * (r - lo), 2)

    return {"fps": fps, "period_ms": round(1000.0 / fps, 2), "precision": precision, "frames": delivered,
            "results": len(lat), "dropped": delivered - len(lat), "dropped_capture": cap.dropped,
            "dropped_busy": busy_drops, "missed_by_reader": cam.missed, "latency_p50_ms": pct(50),
            "latency_p99_ms": pct(99), "latency_max_ms": round(s[-1], 2) if s else None,
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
    os.replace(a.out + ".part", a.out)
    return 0 if "error" not in res else 1


if __name__ == "__main__":
    sys.exit(main())
