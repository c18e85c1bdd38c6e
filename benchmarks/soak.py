#!/usr/bin/env python3
"""Soak benchmark: 10,000 frames (the sample video looped) through the whole run loop (FaceAligner,
JSONL sink, MJPEG server with a client), RSS and open fds sampled every 100 frames.

    benchmarks/soak.py                       # 10,000 frames -> benchmarks/soak-$(uname -m).{json,png}
    benchmarks/soak.py --frames 1000 --out /tmp/soak   # the size the test suite runs

Passes when RSS grows by <= 5 MB after the warm-up (first 10%) and no descriptor is leaked.
Needs the models converted (`edgeface convert`) and the samples fetched.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

from edgeface.boards.machine import load_avg
from edgeface.tools.bench.soak import plot_soak, soak
from edgeface.hub.assets import sample_path
from edgeface.hub.atomic import write_json_atomic


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=10_000)
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / f"soak-{platform.machine()}")
    a = ap.parse_args()
    t0 = time.time()

    def progress(n, rss, fds):
        if n % 1000 == 0:
            print(f"  {n:6d} frames  RSS {rss:7.1f} MB  fds {fds}  ({time.time() - t0:.0f} s)", flush=True)

    with tempfile.TemporaryDirectory() as d:
        rep = soak(a.frames, sample_path("obama"), Path(d) / "soak.jsonl", precision=a.precision, progress=progress)
    out = rep.to_dict()
    out.update(precision=a.precision, machine=platform.machine(), load_avg_end=load_avg(), seconds=round(time.time() - t0, 1))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(a.out.with_suffix(".json"), out)
    plot_soak(out, a.out.with_suffix(".png"))
    print(json.dumps({k: out[k] for k in ("frames", "passes", "fps", "rss_growth_mb", "fd_growth", "ok")}))
    return 0 if rep.ok() else 1


if __name__ == "__main__":
    sys.exit(main())
