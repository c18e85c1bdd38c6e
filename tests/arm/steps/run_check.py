"""Sanity-check the JSONL files of step "run" on one side (tests/arm/run.sh), before any comparison.

    python run_check.py [--expect NAME=N]... [--frames F] FILE.jsonl  [--expect ...] FILE2.jsonl ...

The options before each FILE apply to that file: every frame whose source basename is NAME must
hold exactly N faces, every NAME must appear, and with --frames the file must hold F frames per
source. It also requires finite landmarks (68 x 3), bbox (4) and params (62) per face. Prints one
line per file (with the mean per-frame time, informational) and writes FILE's summary beside it as
FILE-stem.meta.json (printed as info by compare.py); exit 1 when a check failed. Standard library
only, so it runs in the board venv as is.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections import defaultdict
from pathlib import Path

USAGE = "usage: run_check.py [--expect NAME=N]... [--frames F] FILE.jsonl [...]"


def parse(argv: list) -> list:
    """[(path, {name: n}, frames or None)], options applying to the next file."""
    jobs, expect, frames = [], {}, None
    it = iter(argv)
    for a in it:
        if a == "--expect":
            spec = next(it, "")
            name, _, n = spec.partition("=")
            if not name or not n.isdigit():
                raise SystemExit(f"bad --expect {spec!r}: expected NAME=N, e.g. emma.jpg=3\n{USAGE}")
            expect[name] = int(n)
        elif a == "--frames":
            f = next(it, "")
            if not f.isdigit():
                raise SystemExit(f"bad --frames {f!r}: expected a frame count\n{USAGE}")
            frames = int(f)
        elif a.startswith("-"):
            raise SystemExit(f"unknown option {a}\n{USAGE}")
        else:
            jobs.append((Path(a), expect, frames))
            expect, frames = {}, None
    if not jobs:
        raise SystemExit(USAGE)
    return jobs


def _finite(values, n: int) -> bool:
    try:
        flat = [float(v) for v in values]
    except (TypeError, ValueError):
        return False
    return len(flat) == n and all(math.isfinite(v) for v in flat)


def check_file(path: Path, expect: dict, frames) -> list:
    """Problems found in one JSONL file (empty: fine)."""
    problems = []
    if not path.is_file():
        return [f"{path.name}: missing (edgeface run wrote nothing)"]
    per_source = defaultdict(list)  # basename -> [face count per frame]
    totals = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                name, faces = os.path.basename(str(rec["source"])), rec["faces"]
            except (ValueError, KeyError, TypeError) as e:
                return [f"{path.name}:{lineno}: not an edgeface JSONL record ({e})"]
            per_source[name].append(len(faces))
            totals.append(float((rec.get("time_ms") or {}).get("total", float("nan"))))
            for face in faces:
                lm = [v for p in face.get("landmarks", []) for v in p]
                if not (_finite(face.get("bbox", []), 4) and _finite(lm, 68 * 3) and _finite(face.get("params", []), 62)):
                    problems.append(f"{path.name}:{lineno}: face {face.get('id')} lacks finite bbox/68x3 landmarks/62 params")
    for name, n in expect.items():
        counts = per_source.get(name)
        if not counts:
            problems.append(f"{path.name}: no frame of {name}")
        elif any(c != n for c in counts):
            problems.append(f"{path.name}: {name}: faces per frame {counts}, expected {n} on every frame")
    if frames is not None:
        for name, counts in per_source.items():
            if len(counts) != frames:
                problems.append(f"{path.name}: {name}: {len(counts)} frame(s), expected {frames}")
    summary = {"frames": sum(len(c) for c in per_source.values()), "faces": sum(sum(c) for c in per_source.values()),
               "faces_per_source": {k: v if len(set(v)) > 1 else v[0] for k, v in sorted(per_source.items())},
               "mean_total_ms": round(sum(totals) / len(totals), 1) if totals else None}
    path.with_name(path.stem + ".meta.json").write_text(json.dumps(summary) + "\n")
    print(f"{path.name}: {summary['frames']} frame(s), {summary['faces']} face(s), {summary['faces_per_source']}, "
          f"mean {summary['mean_total_ms']} ms per frame")
    return problems


def main(argv=None) -> int:
    jobs = parse(list(sys.argv[1:] if argv is None else argv))
    problems = [p for path, expect, frames in jobs for p in check_file(path, expect, frames)]
    for p in problems:
        print(f"error: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
