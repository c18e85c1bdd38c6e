#!/usr/bin/env python3
"""Is working memory a property of the program, where peak RSS is not? The same `edgeface report` row, run
under different page-cache states, and the spread of each memory measure.

The row: `edgeface report --target rpi-zero2w --precision profile --frames 30` (a real `edgeface run` of the
Zero 2 W profile in a fresh Python; app/board_report.py). Conditions, `trials` runs each, interleaved:

    warm    the venv's files in the page cache from the run before (the first, priming run is discarded)
    cold    `sync; echo 1 > /proc/sys/vm/drop_caches` before the run: every library page read from disk
    fresh   a fresh copy of the venv, each file written in one call, then run from the copy: its files sit in
            the page cache as just written, in large folios that a page fault maps whole (how a fresh install
            or CI finds them: importing cv2 + av + numpy maps 80 MB of files instead of 37 MB)

Measures per run: working memory (peak RssAnon + RssShmem, plus the file pages touched after warm-up),
its two parts, peak RSS (VmHWM), peak RssFile, peak PSS. Written: STEM.json (every run) and STEM.md (min,
max, spread per condition and over all runs). Needs root for drop_caches (says so in one line otherwise).

    sudo benchmarks/memory_stability.py --venv VENV [--trials 3] [--out benchmarks/memory/stability-x86_64]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from edgeface.hub.atomic import write_json_atomic, write_text_atomic

DROP_CACHES = Path("/proc/sys/vm/drop_caches")
MEASURES = (("working_mb", "working memory"), ("anon_peak_mb", "anon + shmem peak"),
            ("file_referenced_mb", "file pages referenced"), ("peak_rss_mb", "peak RSS (VmHWM)"),
            ("rss_file_peak_mb", "peak RssFile"), ("pss_peak_mb", "peak PSS"))


def _write_whole(src, dst, follow_symlinks=True) -> None:
    """Copy a file in one write (large writes fill the page cache with large folios, as a fresh install does)."""
    with open(src, "rb") as f:
        data = f.read()
    with open(dst, "wb") as g:
        g.write(data)
    shutil.copystat(src, dst)


def one_row(python: str, workdir: Path, frames: int) -> dict:
    out = workdir / "rep"
    r = subprocess.run([python, "-m", "edgeface", "report", "--target", "rpi-zero2w", "--precision", "profile",
                        "--frames", str(frames), "--out", str(out), "--name", "row"], capture_output=True, text=True,
                       env=dict(os.environ, COLUMNS="200", NO_COLOR="1"), timeout=600)
    if r.returncode != 0:
        raise SystemExit(f"error: edgeface report failed: {(r.stdout + r.stderr).strip().splitlines()[-1:]}")
    row = json.loads((out / "row.json").read_text())["runs"][0]
    if row["error"]:
        raise SystemExit(f"error: the report row failed: {row['error']}")
    mem = row.get("memory") or {}
    return {k: (row.get(k) if k in row else mem.get(k)) for k, _ in MEASURES}


def spread(values: list) -> dict:
    v = [x for x in values if x is not None]
    return {"n": len(v), "min": min(v), "max": max(v), "spread": round(max(v) - min(v), 1)} if v else {"n": 0}


def markdown(rep: dict) -> str:
    conds = list(rep["conditions"])
    lines = ["# Memory measures under different page-cache states", "",
             f"The `edgeface report` row of the Zero 2 W profile ({rep['frames']} frames of samples:obama, a fresh Python "
             f"per run), {rep['trials']} runs per condition, interleaved; venv `{rep['venv']}` (Python {rep['python']}); "
             f"load {rep['load_before']} before, {rep['load_after']} after. MB: min-max (spread).", "",
             "| measure | " + " | ".join(conds) + " | all runs |", "| --- |" + " --- |" * (len(conds) + 1)]
    for key, name in MEASURES:
        cells = []
        for c in conds + ["all"]:
            s = rep["spread"][c][key]
            cells.append(f"{s['min']}-{s['max']} ({s['spread']})" if s.get("n") else "-")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "warm: files cached by the run before; cold: page cache dropped before the run; fresh: run from a "
              "copy of the venv made just before, each file written in one call (its files all in the page cache as written, in large folios).", "",
              "Made by `sudo benchmarks/memory_stability.py` (docs/reference/memory.md)."]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--venv", required=True, help="the venv whose Python runs edgeface (it is copied for 'fresh')")
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--out", default=f"benchmarks/memory/stability-{platform.machine()}", help="path stem (.json, .md)")
    a = ap.parse_args()
    venv = Path(a.venv).resolve()
    if not (venv / "bin" / "python").exists():
        print(f"error: {venv} is not a venv (no bin/python): give --venv a venv with edgeface[video] installed", file=sys.stderr)
        return 2
    if not os.access(DROP_CACHES, os.W_OK):
        print(f"error: cannot write {DROP_CACHES} (the cold condition drops the page cache): run as root", file=sys.stderr)
        return 2
    if a.trials < 1:
        print("error: --trials must be >= 1", file=sys.stderr)
        return 2
    load_before = os.getloadavg()[0]
    runs = {"warm": [], "cold": [], "fresh": []}
    with tempfile.TemporaryDirectory(prefix="edgeface-memstab-") as tmp:
        tmp = Path(tmp)
        one_row(str(venv / "bin" / "python"), tmp, a.frames)  # priming: the 'warm' runs find the files cached
        for t in range(a.trials):
            one = one_row(str(venv / "bin" / "python"), tmp, a.frames)
            runs["warm"].append(one)
            os.sync()
            DROP_CACHES.write_text("1\n")
            runs["cold"].append(one_row(str(venv / "bin" / "python"), tmp, a.frames))
            copy = tmp / "venv-copy"
            shutil.copytree(venv, copy, symlinks=True, copy_function=_write_whole)
            runs["fresh"].append(one_row(str(copy / "bin" / "python"), tmp, a.frames))
            shutil.rmtree(copy)
            print(f"trial {t}: " + "; ".join(f"{c} working {runs[c][-1]['working_mb']} / peak RSS {runs[c][-1]['peak_rss_mb']} MB"
                                            for c in runs), file=sys.stderr)
    allruns = [r for c in runs.values() for r in c]
    rep = {"benchmark": "memory-stability-1", "machine": platform.machine(), "python": platform.python_version(),
           "venv": str(venv), "frames": a.frames, "trials": a.trials, "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
           "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2), "conditions": runs,
           "spread": {c: {k: spread([r[k] for r in rs]) for k, _ in MEASURES} for c, rs in list(runs.items()) + [("all", allruns)]}}
    stem = Path(a.out)
    stem.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(Path(f"{stem}.json"), rep)
    write_text_atomic(Path(f"{stem}.md"), markdown(rep))
    print(f"wrote {stem}.json and {stem}.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
