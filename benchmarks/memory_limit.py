#!/usr/bin/env python3
"""Does the Zero 2 W profile fit its memory budget? Its `edgeface run` inside a cgroup v1 memory limit.

For each limit (default 80, 100, 120, 130, 150, 175, 200, 250 MB and unlimited), `trials` times in rotating
order: drop the page cache (`sync; echo 1 > /proc/sys/vm/drop_caches`: every library page is read from disk
as on a board after boot), make a memory cgroup (/sys/fs/cgroup/memory/edgeface-memlimit-PID, limit in
`memory.limit_in_bytes`; it charges anonymous memory AND the page cache the run reads), and run in it

    python -m edgeface run --source samples:obama --target rpi-zero2w --max-frames N -q --json F

then record: did it finish (or was it OOM-killed: exit signal 9, the cgroup's `oom_kill` count), its fps
(frames / summed per-frame pipeline time, as `edgeface report`) and end-to-end fps relative to the unlimited
runs of the same invocation, its major page faults (pages read back from disk: the sign of a limit that
evicts what the loop needs) and the cgroup's peak usage. The cgroup is removed after each run.

The smallest limit at which the run finishes at full speed with no more major faults than unlimited is what
it needs resident, page cache included: direct evidence for or against the 250 MB budget (on x86: the
board's libraries are aarch64 builds of the same packages; docs/reference/memory.md). Needs root and a
writable cgroup v1 memory hierarchy; says so in one line otherwise (exit 2).

    sudo benchmarks/memory_limit.py [--limits 80,100,120,130,150,175,200,250,0] [--frames 150] [--trials 2]
                                    [--out benchmarks/memory/memory-limit-x86_64]   (.json, .md, .png)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from edgeface.hub.atomic import write_json_atomic, write_text_atomic

CGROUP_ROOT = Path("/sys/fs/cgroup/memory")
DROP_CACHES = Path("/proc/sys/vm/drop_caches")


def cgroups_writable() -> str:
    """'' when a memory cgroup can be made and caches dropped here, else why not (one line)."""
    if not (CGROUP_ROOT / "cgroup.procs").exists():
        return f"no cgroup v1 memory hierarchy at {CGROUP_ROOT} (cgroup v2 only, or not mounted)"
    probe = CGROUP_ROOT / f"edgeface-memlimit-probe-{os.getpid()}"
    try:
        probe.mkdir()
        probe.rmdir()
    except OSError as e:
        return f"cannot create a memory cgroup under {CGROUP_ROOT} ({e.strerror}): run as root"
    if not os.access(DROP_CACHES, os.W_OK):
        return f"cannot write {DROP_CACHES}: run as root"
    return ""


def drop_caches() -> None:
    os.sync()
    DROP_CACHES.write_text("1\n")


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def run_limited(limit_mb: int, frames: int, workdir: Path, python: str, timeout_s: float) -> dict:
    """One `edgeface run` of the Zero 2 W profile in a fresh memory cgroup limited to limit_mb (0: unlimited);
    killed (SIGKILL) when it is still running after timeout_s: a limit that makes it thrash."""
    cg = CGROUP_ROOT / f"edgeface-memlimit-{os.getpid()}"
    cg.mkdir()
    try:
        if limit_mb:
            (cg / "memory.limit_in_bytes").write_text(str(limit_mb << 20))
        jsonl = workdir / f"run-{limit_mb}.jsonl"
        jsonl.unlink(missing_ok=True)
        procs = str(cg / "cgroup.procs")
        drop_caches()
        log = workdir / "run.log"
        t0 = time.perf_counter()
        with open(log, "w") as logf:
            p = subprocess.Popen([python, "-m", "edgeface", "run", "--source", "samples:obama", "--target", "rpi-zero2w",
                                  "--max-frames", str(frames), "-q", "--json", str(jsonl)],
                                 stdout=logf, stderr=subprocess.STDOUT, env=dict(os.environ, COLUMNS="200", NO_COLOR="1"),
                                 preexec_fn=lambda: Path(procs).write_text(str(os.getpid())))  # joins before exec
        timed_out = False
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - t0 > timeout_s and not timed_out:
                timed_out = True
                os.kill(p.pid, 9)
            time.sleep(0.05)
        p.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - t0
        out = log.read_text(errors="replace")
        oom = re.search(r"oom_kill (\d+)", _read(cg / "memory.oom_control"))
        totals = []
        done = jsonl if jsonl.exists() else Path(f"{jsonl}.part")
        if done.exists():
            for line in done.read_text().splitlines():
                t = (json.loads(line).get("time_ms") or {}).get("total")
                if isinstance(t, (int, float)):
                    totals.append(float(t))
        m = re.search(r"([\d.]+) fps over", out)
        return {"limit_mb": limit_mb, "exit": p.returncode, "finished": p.returncode == 0 and len(totals) == frames,
                "timed_out": timed_out, "oom_killed": not timed_out and (p.returncode == -9 or bool(oom and int(oom.group(1)))),
                "frames": len(totals), "fps": round(len(totals) * 1000.0 / sum(totals), 1) if totals else None,
                "end_to_end_fps": float(m.group(1)) if m else None, "seconds": round(seconds, 2),
                "major_faults": ru.ru_majflt, "minor_faults": ru.ru_minflt, "max_rss_mb": round(ru.ru_maxrss / 1024.0, 1),
                "cgroup_peak_mb": round(int(_read(cg / "memory.max_usage_in_bytes") or 0) / 2**20, 1),
                "cgroup_failcnt": int(_read(cg / "memory.failcnt") or 0),
                "error": "" if p.returncode == 0 else f"thrashing: killed after {timeout_s:.0f} s" if timed_out else
                (out.strip().splitlines() or [f"exit {p.returncode}"])[-1][:200]}
    finally:
        for _ in range(50):  # the run has exited; its page cache charges move to the parent on rmdir
            try:
                cg.rmdir()
                break
            except OSError:
                time.sleep(0.1)


def summarize(runs: list) -> list:
    base = [r for r in runs if r["limit_mb"] == 0 and r["finished"]]
    ref_fps = statistics.median(r["fps"] for r in base) if base else None
    ref_e2e = statistics.median(r["end_to_end_fps"] for r in base if r["end_to_end_fps"]) if base else None
    rows = []
    for limit in sorted({r["limit_mb"] for r in runs}, key=lambda x: x or 1 << 30):
        rs = [r for r in runs if r["limit_mb"] == limit]
        ok = [r for r in rs if r["finished"]]
        fps = round(statistics.median(r["fps"] for r in ok), 1) if ok else None
        e2e = round(statistics.median(r["end_to_end_fps"] for r in ok if r["end_to_end_fps"]), 1) if ok else None
        rows.append({"limit_mb": limit, "trials": len(rs), "finished": len(ok), "oom_killed": sum(r["oom_killed"] for r in rs),
                     "timed_out": sum(r["timed_out"] for r in rs),
                     "frames_done": [r["frames"] for r in rs],
                     "fps": fps, "fps_rel": round(fps / ref_fps, 2) if fps and ref_fps else None,
                     "end_to_end_fps": e2e, "end_to_end_rel": round(e2e / ref_e2e, 2) if e2e and ref_e2e else None,
                     "major_faults": [r["major_faults"] for r in rs], "cgroup_peak_mb": max(r["cgroup_peak_mb"] for r in rs),
                     "max_rss_mb": [r["max_rss_mb"] for r in rs]})
    return rows


def markdown(rep: dict) -> str:
    lim = lambda v: "unlimited" if not v else f"{v} MB"  # noqa: E731
    lines = ["# Zero 2 W profile under a memory limit", "",
             f"`edgeface run --source samples:obama --target rpi-zero2w --max-frames {rep['frames']}` in a cgroup v1 memory "
             f"limit (anonymous memory and page cache charged), page cache dropped before each run; {rep['trials']} "
             f"trial(s) per limit, rotating order; {rep['machine']}, load {rep['load_before']} before, {rep['load_after']} after. "
             "fps: frames / summed pipeline time; relative to the unlimited runs (median). Major faults: pages read "
             "from disk (the unlimited run reads its libraries once, after the cache drop).", "",
             f"A run still going after {rep['timeout_s']:.0f} s (the unlimited one takes a few) was killed: thrashing "
             "(frames done by then shown).", "",
             "| limit | finished | OOM-killed | thrashing (frames done) | fps (rel.) | end-to-end fps (rel.) | major faults | cgroup peak MB | peak RSS MB |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rep["summary"]:
        thrash = f"{r['timed_out']} ({', '.join(map(str, r['frames_done']))})" if r["timed_out"] else "0"
        lines.append(f"| {lim(r['limit_mb'])} | {r['finished']}/{r['trials']} | {r['oom_killed']} | {thrash} | "
                     f"{r['fps'] if r['fps'] is not None else '-'} ({r['fps_rel'] if r['fps_rel'] is not None else '-'}) | "
                     f"{r['end_to_end_fps'] if r['end_to_end_fps'] is not None else '-'} "
                     f"({r['end_to_end_rel'] if r['end_to_end_rel'] is not None else '-'}) | "
                     f"{', '.join(map(str, r['major_faults']))} | {r['cgroup_peak_mb']} | {', '.join(map(str, r['max_rss_mb']))} |")
    done = [r for r in rep["summary"] if r["limit_mb"] and r["finished"] == r["trials"]]
    fails = [r["limit_mb"] for r in rep["summary"] if r["limit_mb"] and r["finished"] < r["trials"]]
    if done:
        r = min(done, key=lambda x: x["limit_mb"])
        lines += ["", f"Smallest limit at which every trial finished: {lim(r['limit_mb'])} (fps {r['fps_rel']}x, end-to-end "
                  f"{r['end_to_end_rel']}x the unlimited runs' median; major faults {', '.join(map(str, r['major_faults']))}). "
                  + (f"Largest limit at which a trial failed (OOM or thrashing): {lim(max(fails))}." if fails else "")]
    else:
        lines += ["", "No limit tried let every trial finish."]
    lines += ["", "Made by `sudo benchmarks/memory_limit.py` (docs/reference/memory.md)."]
    return "\n".join(lines) + "\n"


def plot(rep: dict, path: Path) -> None:
    import matplotlib  # lazy: only for the optional figure

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: as above

    rows = [r for r in rep["summary"] if r["limit_mb"]]
    xs = [r["limit_mb"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.plot(xs, [r["end_to_end_rel"] or 0 for r in rows], "o-", label="end-to-end fps / unlimited")
    ax.plot(xs, [r["fps_rel"] or 0 for r in rows], "s--", label="pipeline fps / unlimited")
    for r in rows:
        bad = (["OOM"] if r["oom_killed"] else []) + (["thrashing"] if r["timed_out"] else [])
        if bad:
            ax.annotate("\n".join(bad), (r["limit_mb"], 0.03), ha="center", color="red", fontsize=7)
    ax.axvline(250, color="gray", ls=":", label="rpi-zero2w budget 250 MB")
    ax.set_xlabel("cgroup memory limit (MB, page cache included)")
    ax.set_ylabel("speed relative to unlimited\n(median; noisy on a shared machine)")
    ax.set_ylim(0, 1.3)
    ax.set_title("rpi-zero2w profile, edgeface run under a memory limit (x86_64)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limits", default="80,100,120,130,150,175,200,250,0", help="MB, 0 = unlimited")
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--trials", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=40.0, help="seconds before a (thrashing) run is killed")
    ap.add_argument("--python", default=sys.executable, help="the Python whose edgeface runs")
    ap.add_argument("--out", default=f"benchmarks/memory/memory-limit-{platform.machine()}",
                    help="path stem: writes STEM.json, STEM.md and STEM.png")
    ap.add_argument("--no-plot", action="store_true")
    a = ap.parse_args()
    try:
        limits = [int(x) for x in a.limits.split(",") if x.strip()]
    except ValueError:
        print(f"error: --limits takes MB numbers separated by commas (0 = unlimited), not {a.limits!r}", file=sys.stderr)
        return 2
    if a.frames < 2 or a.trials < 1 or not limits or min(limits) < 0:
        print("error: --frames >= 2, --trials >= 1 and --limits >= 0 MB, please", file=sys.stderr)
        return 2
    why = cgroups_writable()
    if why:
        print(f"error: the memory-limit benchmark cannot run here: {why}", file=sys.stderr)
        return 2
    load_before = os.getloadavg()[0]
    runs = []
    with tempfile.TemporaryDirectory(prefix="edgeface-memlimit-") as tmp:
        for t in range(a.trials):
            order = limits[t % len(limits):] + limits[:t % len(limits)]  # rotate: background load hits all alike
            for limit in order:
                r = run_limited(limit, a.frames, Path(tmp), a.python, a.timeout)
                r["trial"] = t
                runs.append(r)
                print(f"limit {limit or 'none'} MB: {'finished' if r['finished'] else 'FAILED'}"
                      f"{' (OOM-killed)' if r['oom_killed'] else ''}{' (thrashing, killed)' if r['timed_out'] else ''}, fps {r['fps']}, end-to-end {r['end_to_end_fps']}, "
                      f"major faults {r['major_faults']}, cgroup peak {r['cgroup_peak_mb']} MB", file=sys.stderr)
    rep = {"benchmark": "memory-limit-1", "machine": f"{platform.machine()} {platform.node()}", "python": platform.python_version(),
           "frames": a.frames, "trials": a.trials, "timeout_s": a.timeout, "limits_mb": limits, "load_before": round(load_before, 2),
           "load_after": round(os.getloadavg()[0], 2), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "runs": runs,
           "summary": summarize(runs)}
    stem = Path(a.out)
    stem.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(Path(f"{stem}.json"), rep)
    write_text_atomic(Path(f"{stem}.md"), markdown(rep))
    if not a.no_plot:
        plot(rep, Path(f"{stem}.png"))
    print(f"wrote {stem}.json, {stem}.md" + ("" if a.no_plot else f", {stem}.png"), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
