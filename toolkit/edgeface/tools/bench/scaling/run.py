"""`edgeface bench scaling`: fps and ms per frame vs faces in view, at 1 and 2 cores.

    edgeface bench scaling --json s.json --md s.md --png s.png [--rounds 3]

For each precision (int8, fp32), core count (1, 2), regressor workers (1; and the core count when it
is more) and number of faces in view (1, 2, 4, 8, 16: `frames.grid_frames`), one fresh worker process
pinned to the first cores (`worker.py`) measures the VIDEO-mode pipeline (`pipeline`) and the models
alone on the same crops (`floor`), their timed passes taken in turn. Per (precision, cores, workers): the cost of each extra face is the
least-squares slope of ms per frame over the face counts, beside the median regressor Invoke. Per
(precision, faces): the 2-core / 1-core fps ratio of the pipeline (its best workers setting) and of the
floor, and their quotient (the issue's target: >= 0.9 with >= 4 faces). Rounds repeat everything;
ratios are taken within a round.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from edgeface.tools.bench.peers.paired import pinned_to
from edgeface.tools.bench.scaling import report as scaling_report
from edgeface.tools.bench.scaling.summary import slope, summarize
from edgeface.tools.bench.scaling.frames import FACE_COUNTS, face_sprites, grid_frames

FORMAT = "edgeface-scaling/1"


@dataclass(frozen=True)
class ScalingOptions:
    precisions: tuple = ("int8", "fp32")
    cores: tuple = (1, 2)
    faces: tuple = FACE_COUNTS
    frames: int = 60
    passes: int = 3
    rounds: int = 1
    cache_root: Optional[str] = None

    def __post_init__(self):
        if max(self.cores) > len(os.sched_getaffinity(0)):
            raise ValueError(f"asked for {max(self.cores)} cores, this process may use {len(os.sched_getaffinity(0))}")
        if min(self.faces) < 1 or max(self.faces) > 16:
            raise ValueError(f"faces in view must be within 1..16, got {self.faces}")
        if int(self.rounds) < 1 or int(self.passes) < 1 or int(self.frames) < 10:
            raise ValueError("rounds and passes must be >= 1, frames >= 10")


def _worker(frames_path: Path, cores: int, precision: str, workers: int, opts: ScalingOptions) -> dict:
    """{"pipeline": row, "floor": row} of one worker process pinned to the first `cores` cores (`worker.py`)."""
    use = sorted(os.sched_getaffinity(0))[:cores]
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "r.json"
        cmd = [sys.executable, "-m", "edgeface.tools.bench.scaling.worker", "--frames", str(frames_path), "--out", str(out),
               "--passes", str(opts.passes)] + (["--cache-root", opts.cache_root] if opts.cache_root else []) + [
               precision, str(workers)]
        proc = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=pinned_to(use))
        if proc.returncode != 0 or not out.is_file():
            raise RuntimeError(f"scaling worker {precision} {cores} cores failed: {proc.stderr.strip().splitlines()[-1:]}")
        return json.loads(out.read_text())


def run_scaling(opts: ScalingOptions, log=print) -> dict:
    load0 = os.getloadavg()[0]
    sprites = face_sprites(cache_root=opts.cache_root)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        paths = {}
        for n in opts.faces:
            paths[n] = Path(d) / f"faces{n}.npy"
            np.save(paths[n], grid_frames(sprites, n, opts.frames))
        for rnd in range(opts.rounds):
            for prec in opts.precisions:
                for cores in opts.cores:
                    for workers in sorted({1, cores}):
                        for n in opts.faces:
                            pair = _worker(paths[n], cores, prec, workers, opts)
                            for mode in ("pipeline", "floor"):
                                r = pair[mode]
                                r.update(round=rnd, faces=n, cores=cores, cores_used=r.pop("cores"))
                                rows.append(r)
                                log(scaling_report.row_line(r))
    rep = {"format": FORMAT, "date": time.strftime("%Y-%m-%d %H:%M:%S"),
           "machine": {"host": platform.node(), "cpu_count": os.cpu_count(), "cores": len(os.sched_getaffinity(0)),
                       "load_avg_start": load0, "load_avg_end": os.getloadavg()[0], "python": platform.python_version()},
           "options": {"precisions": list(opts.precisions), "cores": list(opts.cores), "faces": list(opts.faces),
                       "frames": opts.frames, "passes": opts.passes, "rounds": opts.rounds, "paired": True},
           "rows": rows}
    rep.update(summarize(rows))
    return rep


__all__ = ("FORMAT", "ScalingOptions", "run_scaling", "summarize", "slope")
