"""`python -m edgeface.tools.dist [--out dist] [--repo .]`: what `make dist` runs (see `build`)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from edgeface.errors import EdgefaceError
from edgeface.tools.dist.build import build_all


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m edgeface.tools.dist", description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("dist"), help="output folder (default: dist)")
    ap.add_argument("--repo", type=Path, default=Path("."), help="the clone to build (default: .)")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    try:
        arts = build_all(args.repo, args.out, say=lambda s: print(f"dist: {s}", flush=True))
    except EdgefaceError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    for a in arts:
        print(f"{a.path}  {a.size_bytes / 1e6:.2f} MB  sha256 {a.sha256}")
    print(f"dist: done in {(time.monotonic() - t0) * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
