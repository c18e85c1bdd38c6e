"""edgeface as a peer: the public API (`edgeface.FaceAligner`, VIDEO mode) over pre-decoded frames.

    python -m edgeface.bench.peers_edgeface --frames F.npy --out R.json -- PRECISION TRACKING INTERVAL [ROOT]

TRACKING is `track` (crop from the previous landmarks, scans for new faces every INTERVAL frames;
`profile` takes the target profile's interval) or `detect` (detector on every frame). Everything
else is the aligner's default for this board (`target="auto"`: threads capped at the cores the
process may use, smoothing on), i.e. what a user's program gets.
"""

from __future__ import annotations

import sys


def _build(extra):
    import edgeface

    precision, tracking, interval = extra[0], extra[1], extra[2]
    root = extra[3] if len(extra) > 3 and extra[3] else None
    opts = dict(precision=precision, running_mode="video", tracking=tracking == "track", cache_root=root)
    if tracking == "track" and interval != "profile":
        opts["detect_interval"] = int(interval)
    aligner = edgeface.FaceAligner.create(**opts)
    clock = {"ts": 0.0}

    def process(frame):
        clock["ts"] += 40.0  # 25 fps
        return len(aligner.detect_for_video(frame, clock["ts"]).faces)

    d = aligner.describe()
    info = {"runtime": d.get("runtime"), "threads": d.get("threads"), "detect_interval": d.get("detect_interval"),
            "target": d.get("target")}
    return process, aligner.reset, info


def main(argv=None) -> int:
    from edgeface.bench.peer_timing import worker_main

    return worker_main(_build, argv)


if __name__ == "__main__":
    sys.exit(main())
