"""The timed loop every peer-benchmark worker shares (stdlib + numpy only).

This module imports nothing from edgeface: the MediaPipe worker runs it from MediaPipe's own venv
(where edgeface is not installed) by putting this folder on `sys.path`.

A worker is `worker_main(build)`: it loads the pre-decoded frames (`.npy`, N x H x W x 3 uint8 BGR),
calls `build(args)` -> `(process, reset, info)` (model loading is not timed), then runs one untimed
warm-up pass over every frame and `--passes` timed passes; before each pass `reset()` starts a
new sequence (tracks forgotten). Only the `process(frame)` calls are timed, with the garbage
collector off; fps of a pass = frames / summed `process` time. The worker writes one JSON object
to `--out`: fps (median over passes), every pass's fps, per-frame ms (median, p90, p99 over all
timed frames), faces per frame, cores it was allowed to run on, and whatever `info` holds.

Two systems that cannot share a process (two edgeface checkouts: the same package names) are timed as a pair
(`peers.paired`): each worker (`paired_worker.py`) builds and warms up, then runs one timed pass per request
(`serve_passes`), and the parent asks each in turn, so a slow spell of a shared machine falls on both alike.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time


def _percentile(sorted_values, q):
    if not sorted_values:
        return 0.0
    r = q / 100.0 * (len(sorted_values) - 1)
    lo = int(r)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (r - lo)


def time_passes(process, reset, frames, passes: int) -> dict:
    """One warm-up pass, then `passes` timed passes of `process(frame) -> faces found` over `frames`."""
    return time_alternating({"only": (process, reset)}, frames, passes)["only"]


def time_alternating(loops: dict, frames, passes: int) -> dict:
    """`time_passes` of several loops ({name: (process, reset)}) in one process, their passes taken in turn: one
    warm-up pass of each, then `passes` rounds of one timed pass of each. A slow spell of a shared machine then
    falls on the loops alike, so the ratio of their fps is steadier than across processes. {name: result}."""
    for process, reset in loops.values():
        _warm_up(process, reset, frames)
    pass_fps = {name: [] for name in loops}
    per_frame = {name: [] for name in loops}  # ms
    faces = dict.fromkeys(loops, 0)
    gc.collect()
    gc.disable()
    try:
        for _ in range(max(1, passes)):
            for name, (process, reset) in loops.items():
                fps, found = _timed_pass(process, reset, frames, per_frame[name])
                pass_fps[name].append(fps)
                faces[name] += found
    finally:
        gc.enable()
    return {name: summarize(pass_fps[name], per_frame[name], faces[name], len(frames)) for name in loops}


def serve_passes(process, reset, frames, requests, answer, info: dict) -> None:
    """Timed passes on request, for a pair of processes taking their passes in turn (`peers.paired`): one untimed
    warm-up pass, then `answer({"ready": True, "info": info})`; for each line of `requests` that reads `pass`, one timed pass
    (garbage collector off) answered as {"fps", "faces", "per_frame" (ms)}; returns at the end of `requests`."""
    _warm_up(process, reset, frames)
    answer({"ready": True, "info": info})
    for line in requests:
        if line.strip() != "pass":
            answer({"error": f"unknown request {line.strip()!r} (expected: pass)"})
            return
        per_frame: list = []
        gc.collect()
        gc.disable()
        try:
            fps, faces = _timed_pass(process, reset, frames, per_frame)
        finally:
            gc.enable()
        answer({"fps": fps, "faces": faces, "per_frame": per_frame})


def _warm_up(process, reset, frames) -> None:
    """The untimed pass before the timed ones (a new sequence): caches, lazy loads and the arena settle."""
    reset()
    for f in frames:
        process(f)


def _timed_pass(process, reset, frames, per_frame: list) -> tuple:
    """One timed pass (a new sequence): (fps of the summed `process` time, faces found); per-frame ms appended."""
    clock = time.perf_counter
    reset()
    busy, faces = 0.0, 0
    for f in frames:
        t0 = clock()
        faces += process(f)
        dt = clock() - t0
        busy += dt
        per_frame.append(dt * 1000.0)
    return (len(frames) / busy if busy > 0 else 0.0), faces


def summarize(pass_fps: list, per_frame: list, faces: int, frames: int) -> dict:
    """A result from its parts: every timed pass's fps, every timed frame's ms, the faces found in all the timed
    passes, the frames of one pass."""
    per_frame = sorted(per_frame)
    ordered = sorted(pass_fps)
    return {
        "fps": round(ordered[len(ordered) // 2], 2),
        "pass_fps": [round(v, 2) for v in pass_fps],
        "frames": frames,
        "ms_median": round(_percentile(per_frame, 50), 3),
        "ms_p90": round(_percentile(per_frame, 90), 3),
        "ms_p99": round(_percentile(per_frame, 99), 3),
        "faces_per_frame": round(faces / max(1, len(per_frame)), 3),
    }


def load_system(frames_file: str, build, extra: list, rgb: bool = False) -> tuple:
    """What a worker times: (process, reset, frames, info) from the pre-decoded frames (`.npy`, N x H x W x 3 BGR;
    `rgb`: converted once, like decoding, outside the timed loop) and `build(extra)` (model loading, not timed);
    `info` gets the number of cores the process may use."""
    import numpy as np

    frames = np.load(frames_file)
    if rgb:
        frames = np.ascontiguousarray(frames[..., ::-1])
    frames = [frames[i] for i in range(frames.shape[0])]
    process, reset, info = build(extra)
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count()
    return process, reset, frames, dict(info, cores=cores)


def worker_main(build, argv=None) -> int:
    """Command line of a worker: --frames FILE.npy --out FILE.json [--passes N] [--rgb] plus `build`'s own
    options after `--` (`build(extra_args)` -> (process, reset, info))."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--rgb", action="store_true", help="convert the BGR frames to RGB before timing")
    args, extra = ap.parse_known_args(argv)
    if extra and extra[0] == "--":
        extra = extra[1:]
    args.out = os.path.abspath(args.out)  # `build` may change the working directory (upstream does)
    try:
        process, reset, frames, info = load_system(args.frames, build, extra, args.rgb)
        result = time_passes(process, reset, frames, args.passes)
        result.update(info)
    except Exception as e:  # reported to the parent as one line, never a traceback
        result = {"error": f"{type(e).__name__}: {e}"}
    tmp = args.out + ".part"
    with open(tmp, "w") as fh:
        json.dump(result, fh)
    os.replace(tmp, args.out)
    return 0 if "error" not in result else 1


if __name__ == "__main__":  # pragma: no cover - imported by workers
    sys.exit("timing is imported by the peer workers, not run")
