"""A peer worker whose timed passes are taken on request, for two systems timed in turn (`peers.paired`).

    python paired_worker.py --frames F.npy --module MODULE -- ARGS...

MODULE is a peer worker module of any edgeface checkout on `sys.path` (its `_build(ARGS)` ->
`(process, reset, info)`: `edgeface_loop` now, `edgeface.bench.peers_edgeface` in older trees). This
file is run by path, so `timing` (stdlib + numpy only) comes from the folder beside it, whichever
checkout's `edgeface` the interpreter imports. Requests come one per line on stdin (`pass`); answers
are JSON lines on the stdout the parent gave (anything the libraries print goes to stderr instead):
{"ready": true, "info": {...}} after the untimed warm-up pass, then one object per timed pass
(`timing.serve_passes`), or {"error": "..."} as the last line.
"""

import argparse
import importlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from timing import load_system, serve_passes  # noqa: E402  (stdlib + numpy only)


def main(argv=None) -> int:
    channel = os.fdopen(os.dup(1), "w", buffering=1)  # the answers' own channel ...
    os.dup2(2, 1)  # ... and every other write to stdout (native libraries too) goes to stderr

    def answer(obj: dict) -> None:
        channel.write(json.dumps(obj) + "\n")

    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", required=True)
    ap.add_argument("--module", required=True)
    args, extra = ap.parse_known_args(argv)
    if extra and extra[0] == "--":
        extra = extra[1:]
    try:
        process, reset, frames, info = load_system(args.frames, importlib.import_module(args.module)._build, extra)
        serve_passes(process, reset, frames, sys.stdin, answer, info)
    except Exception as e:  # reported to the parent as one line, never a traceback
        answer({"error": f"{type(e).__name__}: {e}"})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
