"""One measurement of the scaling benchmark, in its own process pinned to the first cores.

    python -m edgeface.tools.bench.scaling.worker --frames F.npy --out R.json -- PRECISION WORKERS

The parent starts it already pinned (`sched_setaffinity` before exec: numpy's BLAS and every
interpreter size their thread pools from the cores they see).

Two loops over the frames, on one VIDEO-mode `FaceAligner` (the board profile's options, threads capped at
the cores, `regressor_workers` WORKERS): `pipeline`, the aligner itself; `floor`, the models alone: per
frame, the crops the pipeline made (recorded in a first pass) regressed on the aligner's own regressor(s)
(its pool when WORKERS > 1), and a scan every `detect_interval` frames on the aligner's scan path: what any
pipeline on these models needs, nothing else. Timing: `peers.timing.time_alternating` (a warm-up pass of
each, then `--passes` timed passes of each in turn, median): the two are measured side by side, so their
ratio does not carry the drift of a shared machine between two processes. The single regressor Invoke is
timed too (median of 200 on one crop), for the per-extra-face criterion. Writes {"pipeline": result,
"floor": result} with the Invoke and the run's settings in each.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from edgeface.aligner import FaceAligner
from edgeface.tools.bench.peers.timing import time_alternating


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--cache-root")
    ap.add_argument("rest", nargs="*")
    a = ap.parse_args(argv)
    used = sorted(os.sched_getaffinity(0))
    precision, workers = a.rest[0], int(a.rest[1])
    frames = np.load(a.frames)
    al = FaceAligner.create(precision=precision, running_mode="video", regressor_workers=workers,
                            cache_root=a.cache_root)
    pipe = al.pipeline
    clock = {"ts": 0.0}

    def pipeline(frame):
        clock["ts"] += 33.0
        return len(al.detect_for_video(frame, clock["ts"]).faces)

    rois = []
    for f in frames:  # the crops the tracking makes
        clock["ts"] += 33.0
        rois.append([face.roi for face in al.detect_for_video(f, clock["ts"]).faces])
    interval = int(pipe.options.detect_interval)
    state = {"i": 0}

    def floor(frame):
        i = state["i"] % len(frames)
        state["i"] += 1
        if interval and i % interval == 0:
            if pipe.scanner is None:
                pipe.detector(frame)
            else:
                if pipe.scanner.poll() is None and pipe.scanner.pending_since is not None:
                    pipe.scanner.wait()
                pipe.scanner.submit(frame, i)
        r = rois[i]
        if pipe.pool is not None and len(r) > 1:
            pipe.pool.map(lambda roi, reg: reg(frame, roi), r, pipe.regressor)
        else:
            for roi in r:
                pipe.regressor(frame, roi)
        if pipe.scanner is not None:
            pipe.scanner.release()  # as the pipeline at the end of a frame: the worker has letterboxed it
        return len(r)

    def floor_reset():
        state["i"] = 0
        if pipe.scanner is not None:
            pipe.scanner.reset()  # a scan the pipeline's pass left in flight is not the floor's

    res = time_alternating({"pipeline": (pipeline, al.reset), "floor": (floor, floor_reset)}, list(frames), a.passes)
    crop = pipe.regressor.crop(frames[0], np.array([100.0, 100.0, 200.0, 200.0]))
    inv = []
    for _ in range(200):
        t0 = time.perf_counter()
        pipe.regressor.backend.run(crop)
        inv.append((time.perf_counter() - t0) * 1000.0)
    inv.sort()
    d = al.describe()
    for mode, r in res.items():
        r.update(mode=mode, precision=precision, workers=workers, cores=used, invoke_ms=round(inv[len(inv) // 2], 4),
                 threads=d.get("threads"), regressor_workers=d.get("regressor_workers"), scan=d.get("scan"),
                 detect_interval=d.get("detect_interval"), load_avg=os.getloadavg()[0])
    al.close()
    with open(a.out, "w") as fh:
        json.dump(res, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
