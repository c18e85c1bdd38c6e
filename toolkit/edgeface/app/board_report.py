"""`edgeface report`: a board report a user can share (JSON + Markdown), measured on the board itself.

What the machine is (`machine_facts`: board model, CPU and its features, cores, memory, governor and clock,
OS, Python, numpy, the TFLite runtime and whether XNNPACK applies, the camera stack as `edgeface doctor`
sees it) and what the pipeline does on it: for each profile (default: the one `--target auto` picks, the
shipped one it is based on when that is the local `edgeface tune` profile) and precision (default: the
profile's own per-stage precisions, then INT8 and fp32 for both networks), a real `edgeface run` on the
sample video in a fresh Python process (`measure_run`), so each row's memory is that run's own:

    fps            frames / summed per-frame pipeline time (`time_ms.total` of the JSONL: models, tracking,
                   decoding the 3DMM, smoothing; not the video decoding)
    p50 / p90 ms   per-frame pipeline time
    end-to-end fps what `edgeface run` printed (input decoding, models and output, the whole run)
    working MB     what must stay resident (`boards.process_memory`): the peak of anonymous + shared memory
                   (RssAnon + RssShmem, sampled every 0.1 s by `boards.memory_sampler` in the child) plus the
                   file pages (libraries, models) the run touched after its first WARMUP_FRAMES frames
                   (accessed bits cleared through /proc/self/clear_refs, then smaps' Referenced); a warning
                   when it is over the profile's `[memory] budget_mb` (rpi-zero2w: 250 MB)
    peak RSS MB    the kernel's VmHWM, for reference: it also counts library pages the page cache happened to
                   map (fault-around), so the same run gives 175 MB or 226 MB depending on the cache state
    PSS, RssAnon / RssFile / RssShmem peaks: beside them in the JSON

While each run goes, the SoC temperature, the CPU clock and a Raspberry Pi's firmware throttle flags
(`boards.machine.throttled`: sysfs or `vcgencmd get_throttled`) are sampled every 0.5 s; the report warns
when the board throttled, was under-voltage, or ran at 80 °C or more (numbers then understate it).
Times are milliseconds. `render_markdown` is pure (report dict in, text out).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

from edgeface import __version__
from edgeface.app.doctor import diagnose
from edgeface.boards.machine import (cpu_freq_mhz, describe_throttled, machine_info, thermal_c, throttled,
                                     usable_cores)
from edgeface.boards.profiles import LOCAL, get_target, resolve_target
from edgeface.errors import EdgefaceError, OptionsError
from edgeface.hub.atomic import write_json_atomic, write_text_atomic
from edgeface.vocab import PRECISIONS

REPORT_FORMAT = "edgeface-board-report-1"
HOT_C = 80.0  # a Raspberry Pi starts to throttle at 80-85 °C
SAMPLE_S = 0.5
PROFILE_PRECISION = "profile"  # the profile's own per-stage precisions

WARMUP_FRAMES = 3  # frames written before clear_refs: models loaded, weights packed, arenas and first detection done

# the child: the real `edgeface run` CLI with a memory sampler thread, then its memory on stderr (one JSON line)
_CHILD = """
import atexit, dataclasses, json, sys
from edgeface.boards.memory_sampler import MemorySampler, lines_at_least
jsonl, warm = sys.argv[sys.argv.index("--json") + 1], int(sys.argv.pop(1))
sampler = MemorySampler(lines_at_least((jsonl + ".part", jsonl), warm), warm).start()
def report():
    m = sampler.finish()
    sys.stderr.write("\\nEDGEFACE_PEAK_RSS_MB=%.1f\\n" % m.peak_rss_mb)
    sys.stderr.write("EDGEFACE_MEMORY=%s\\n" % json.dumps(dataclasses.asdict(m)))
atexit.register(report)
sys.argv = ["edgeface"] + sys.argv[1:]
import runpy
runpy.run_module("edgeface", run_name="__main__")
"""


@dataclass(frozen=True)
class ReportOptions:
    profiles: tuple = ()  # default: the profile --target auto picks (and its base when that is the local one)
    precisions: tuple = (PROFILE_PRECISION, "int8", "fp32")
    source: str = "samples:obama"
    frames: int = 100
    timeout_s: float = 1800.0

    def __post_init__(self):
        if int(self.frames) < 2:
            raise OptionsError(f"report needs --frames >= 2, got {self.frames}")
        bad = [p for p in self.precisions if p != PROFILE_PRECISION and p not in PRECISIONS]
        if bad or not self.precisions:
            raise OptionsError(f"report: --precision takes {PROFILE_PRECISION} or {', '.join(PRECISIONS)}, "
                               f"not {', '.join(bad) or 'nothing'}")


@dataclass(frozen=True)
class RunRow:
    profile: str
    precision: str  # "int8" | "fp32" | ... or "profile"
    regressor_precision: str
    detector_precision: str
    frames: int = 0
    fps: Optional[float] = None  # frames / summed pipeline time
    p50_ms: Optional[float] = None
    p90_ms: Optional[float] = None
    end_to_end_fps: Optional[float] = None
    peak_rss_mb: Optional[float] = None  # VmHWM, for reference (depends on the page cache)
    working_mb: Optional[float] = None  # anon_peak_mb + file_referenced_mb: what the budget is judged on
    anon_peak_mb: Optional[float] = None  # peak RssAnon + RssShmem (sampled)
    file_referenced_mb: Optional[float] = None  # file pages touched after warm-up
    memory: Optional[dict] = None  # the whole `process_memory.MemorySummary` (RssAnon/File/Shmem and PSS peaks, ...)
    temp_max_c: Optional[float] = None
    freq_min_mhz: Optional[int] = None
    throttled: Optional[int] = None  # firmware flags at the end of the run (None: not a Pi / unknown)
    budget_mb: Optional[int] = None  # the profile's [memory] budget_mb
    seconds: float = 0.0
    error: str = ""


class _Sampler:
    """Temperature, clock and throttle flags every SAMPLE_S seconds on a thread, while a run goes."""

    def __init__(self):
        self.temps: list = []
        self.freqs: list = []
        self.flags = 0
        self.known = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="edgeface-report-sampler", daemon=True)

    def _sample(self) -> None:
        t, f, fl = thermal_c(), cpu_freq_mhz(), throttled()
        if t is not None:
            self.temps.append(t)
        if f is not None:
            self.freqs.append(f)
        if fl is not None:
            self.known, self.flags = True, self.flags | fl

    def _loop(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            self._sample()

    def __enter__(self) -> "_Sampler":
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


def _pct(values: Sequence[float], q: float) -> float:
    s = sorted(values)
    return float(s[min(len(s) - 1, int(round(q * (len(s) - 1))))])


def measure_run(profile: str, precision: str, options: ReportOptions, workdir: Path) -> RunRow:
    """One `edgeface run --target PROFILE [--precision P] --source SOURCE --max-frames N` in a fresh Python."""
    prof = get_target(profile) if profile != LOCAL else resolve_target(LOCAL).profile
    reg_p = prof.precision if precision == PROFILE_PRECISION else precision
    det_p = (prof.detector_precision or prof.precision) if precision == PROFILE_PRECISION else precision
    jsonl = workdir / f"{profile}.{precision}.jsonl"
    args = ["run", "--source", options.source, "--target", profile, "--max-frames", str(options.frames), "-q",
            "--json", str(jsonl)] + ([] if precision == PROFILE_PRECISION else ["--precision", precision])
    t0 = time.perf_counter()
    with _Sampler() as samp:
        try:
            warm = str(max(1, min(WARMUP_FRAMES, int(options.frames) - 1)))
            r = subprocess.run([sys.executable, "-c", _CHILD, warm, *args], capture_output=True, text=True,
                               timeout=options.timeout_s, env=dict(os.environ, COLUMNS="200", NO_COLOR="1"))
        except subprocess.TimeoutExpired:
            r = None
    seconds = time.perf_counter() - t0
    common = dict(profile=profile, precision=precision, regressor_precision=reg_p, detector_precision=det_p,
                  temp_max_c=max(samp.temps) if samp.temps else None, freq_min_mhz=min(samp.freqs) if samp.freqs else None,
                  throttled=samp.flags if samp.known else None, budget_mb=prof.memory_budget_mb, seconds=round(seconds, 1))
    if r is None:
        return RunRow(**common, error=f"timed out after {options.timeout_s:.0f} s")
    text = r.stdout + r.stderr
    m = re.search(r"EDGEFACE_PEAK_RSS_MB=([\d.]+)", r.stderr)
    mem = _memory(r.stderr)
    common.update(peak_rss_mb=float(m.group(1)) if m else None, working_mb=mem.get("working_mb"),
                  anon_peak_mb=mem.get("anon_peak_mb"), file_referenced_mb=mem.get("file_referenced_mb"),
                  memory=mem or None)
    if r.returncode != 0:
        err = next((ln.strip() for ln in text.splitlines() if ln.strip().startswith("error:")), f"exit {r.returncode}")
        return RunRow(**common, error=err)
    totals = []
    for line in jsonl.read_text().splitlines():
        rec = json.loads(line)
        t = (rec.get("time_ms") or {}).get("total")
        if isinstance(t, (int, float)):
            totals.append(float(t))
    m2 = re.search(r"([\d.]+) fps over", text)
    if not totals:
        return RunRow(**common, error="the run wrote no frame")
    return RunRow(**common, frames=len(totals), fps=round(len(totals) * 1000.0 / sum(totals), 2),
                  p50_ms=round(_pct(totals, 0.5), 2), p90_ms=round(_pct(totals, 0.9), 2),
                  end_to_end_fps=float(m2.group(1)) if m2 else None)


def _memory(stderr: str) -> dict:
    """The child's `EDGEFACE_MEMORY=<json>` line (its `MemorySummary`), {} if absent."""
    m = re.search(r"^EDGEFACE_MEMORY=(\{.*\})$", stderr, re.M)
    try:
        return json.loads(m.group(1)) if m else {}
    except ValueError:
        return {}


def machine_facts() -> dict:
    """The machine, as `boards.machine.machine_info` and `edgeface doctor` see it."""
    info = machine_info()
    d = diagnose()
    return {
        "board": d.board, "cpu": d.cpu, "arch": d.arch, "machine": d.machine, "cores": d.cores,
        "usable_cores": usable_cores(), "cpu_features": d.features, "memory_mb": d.memory_mb,
        "governor": info.get("governor"), "max_freq_mhz": info.get("max_freq_mhz"), "os": info.get("os"),
        "kernel": info.get("kernel"), "python": info.get("python"), "numpy": info.get("numpy"),
        "tflite_runtime": d.runtime, "runtimes": {k: v for k, v in info.get("runtimes", {}).items() if v},
        "xnnpack": d.xnnpack, "xnnpack_note": d.xnnpack_note, "picamera2": d.picamera2_status,
        "cameras": d.cameras, "recommended_target": d.target, "thermal_c_start": info.get("thermal_c_start"),
        "throttled_start": throttled(), "load_avg_start": info.get("load_avg_start"),
    }


def default_profiles() -> tuple:
    """The profile `--target auto` picks here; with the local (tuned) one, the shipped one it is based on too."""
    choice = resolve_target("auto")
    if choice.profile.name == LOCAL:
        return (LOCAL, str(choice.profile.tune_info.get("based_on", "")) or choice.profile.name)
    return (choice.profile.name,)


def warnings_for(rows: Sequence[RunRow], facts: dict) -> list:
    """One line per reason the numbers may understate this board."""
    out = []
    flags = 0
    known = False
    for r in rows:
        if r.throttled is not None:
            known, flags = True, flags | r.throttled
    if known and flags:
        out.append(f"the board throttled during the runs (firmware flags 0x{flags:x}: {', '.join(describe_throttled(flags))}): "
                   "the figures understate it; add a heatsink / a 5 V 3 A supply and run the report again")
    hot = [r.temp_max_c for r in rows if r.temp_max_c is not None and r.temp_max_c >= HOT_C]
    if hot:
        out.append(f"the SoC reached {max(hot):.0f} °C (a Raspberry Pi throttles from 80-85 °C): cool it and run again")
    for r in rows:  # judged on working memory; peak RSS only where working memory could not be measured
        used, what = (r.working_mb, "working memory") if r.working_mb is not None else (r.peak_rss_mb, "peak RSS")
        if r.budget_mb is not None and used is not None and used > r.budget_mb:
            out.append(f"{r.profile} {r.regressor_precision}/{r.detector_precision}: {what} {used:.0f} MB is over "
                       f"the profile's memory budget of {r.budget_mb} MB")
    if facts.get("governor") == "powersave":
        out.append("the CPU governor is powersave: the figures are at the lowest clock (set ondemand or performance)")
    if facts.get("load_avg_start") and facts.get("cores") and facts["load_avg_start"][0] > 0.5 * facts["cores"]:
        out.append(f"the machine was busy when the report started (load {facts['load_avg_start'][0]} on "
                   f"{facts['cores']} cores): other programs took CPU time from the runs")
    return out


def build_report(options: ReportOptions = ReportOptions(), progress: Callable[[str], None] = lambda line: None) -> dict:
    """Measure and return the report (a JSON-able dict)."""
    profiles = tuple(options.profiles) or default_profiles()
    for p in profiles:  # a bad name fails before anything runs
        if p != LOCAL:
            get_target(p)
    facts = machine_facts()
    progress(f"{facts.get('board') or facts.get('cpu')}: {len(profiles)} profile(s) x {len(options.precisions)} "
             f"precision(s), {options.frames} frames of {options.source} each")
    rows, seen = [], set()
    with tempfile.TemporaryDirectory(prefix="edgeface-report-") as tmp:
        for prof in profiles:
            for prec in options.precisions:
                p = get_target(prof) if prof != LOCAL else resolve_target(LOCAL).profile
                pair = (p.precision, p.detector_precision or p.precision) if prec == PROFILE_PRECISION else (prec, prec)
                if (prof, pair) in seen:  # "profile" already is int8/int8 or fp32/fp32 here
                    continue
                seen.add((prof, pair))
                progress(f"  {prof} {prec} (regressor {pair[0]}, detector {pair[1]}) ...")
                row = measure_run(prof, prec, options, Path(tmp))
                rows.append(row)
                progress(f"    {row.error}" if row.error else
                         f"    {row.fps} fps, p50 {row.p50_ms} ms, p90 {row.p90_ms} ms, working memory {row.working_mb} MB "
                         f"(peak RSS {row.peak_rss_mb} MB)"
                         + (f", max {row.temp_max_c} °C" if row.temp_max_c is not None else ""))
    return {"format": REPORT_FORMAT, "edgeface": __version__, "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "source": options.source, "frames": options.frames, "machine": facts,
            "runs": [asdict(r) for r in rows], "warnings": warnings_for(rows, facts)}


def _cell(v, fmt="{}") -> str:
    return "-" if v is None or v == "" else fmt.format(v)


def render_markdown(rep: dict) -> str:
    """The report as Markdown (one # title, tables; the JSON has every field)."""
    m = rep["machine"]
    name = m.get("board") or f"{m.get('cpu')} ({m.get('machine')})"
    feats = " ".join(k for k, v in (m.get("cpu_features") or {}).items() if v) or "-"
    lines = [f"# edgeface board report: {name}", "",
             f"edgeface {rep['edgeface']}, {rep['date']}; {rep['frames']} frames of `{rep['source']}` per run.", ""]
    if rep.get("warnings"):
        lines += ["**Warnings:**", ""] + [f"- {w}" for w in rep["warnings"]] + [""]
    lines += ["## Machine", "", "| | |", "| --- | --- |"]
    rows = [("board", m.get("board")), ("CPU", f"{m.get('cpu')}, {m.get('cores')} cores ({m.get('usable_cores')} usable)"),
            ("CPU features", feats), ("memory", _cell(m.get("memory_mb"), "{} MiB")),
            ("governor / max clock", f"{_cell(m.get('governor'))} / {_cell(m.get('max_freq_mhz'), '{} MHz')}"),
            ("temperature at start", _cell(m.get("thermal_c_start"), "{} °C")),
            ("throttle flags at start", _cell(m.get("throttled_start"), "0x{:x}")),
            ("OS / kernel", f"{m.get('os')} / {m.get('kernel')}"), ("Python / numpy", f"{m.get('python')} / {m.get('numpy')}"),
            ("TFLite runtime", _cell(m.get("tflite_runtime"))),
            ("XNNPACK", f"{'on' if m.get('xnnpack') else 'unknown' if m.get('xnnpack') is None else 'off'} ({m.get('xnnpack_note')})"),
            ("camera", f"{m.get('picamera2')}; {', '.join(m.get('cameras') or []) or 'no camera found'}"),
            ("load at start", _cell(m.get("load_avg_start"))), ("recommended target", m.get("recommended_target"))]
    lines += [f"| {k} | {_cell(v)} |" for k, v in rows]
    lines += ["", "## Pipeline", "",
              "fps: frames / summed per-frame pipeline time (models, tracking, 3DMM decoding, smoothing); "
              "end-to-end: the whole `edgeface run` (video decoding and output too). Memory, that run's process: "
              "working = peak anonymous + shared memory (anon) plus the file pages (libraries, models) touched after "
              f"the first {WARMUP_FRAMES} frames (file ref.), what must stay resident; the budget is judged on it. "
              "Peak RSS (VmHWM) is shown for reference: it also counts library pages the page cache happened to map, "
              "so it varies from one install or cache state to the next for the same run.", "",
              "| profile | precision (regressor / detector) | fps | p50 ms | p90 ms | end-to-end fps | working MB (budget) "
              "| anon MB | file ref. MB | peak RSS MB | max °C | min MHz | throttled |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rep["runs"]:
        if r["error"]:
            lines.append(f"| {r['profile']} | {r['regressor_precision']} / {r['detector_precision']} | "
                         f"not measured: {r['error']} | | | | | | | | | | |")
            continue
        lines.append(f"| {r['profile']} | {r['regressor_precision']} / {r['detector_precision']} | {_cell(r['fps'])} | "
                     f"{_cell(r['p50_ms'])} | {_cell(r['p90_ms'])} | {_cell(r['end_to_end_fps'])} | "
                     f"{_cell(r.get('working_mb'))}{_cell(r.get('budget_mb'), ' ({})') if r.get('budget_mb') else ''} | "
                     f"{_cell(r.get('anon_peak_mb'))} | {_cell(r.get('file_referenced_mb'))} | {_cell(r['peak_rss_mb'])} | "
                     f"{_cell(r['temp_max_c'])} | {_cell(r['freq_min_mhz'])} | "
                     f"{_cell(r['throttled'], '0x{:x}')} |")
    lines += ["", "Made with `edgeface report`; share both files (docs/guides/tune-and-report.md)."]
    return "\n".join(lines) + "\n"


def report_slug(facts: dict) -> str:
    base = facts.get("board") or facts.get("machine") or "machine"
    return re.sub(r"[^a-z0-9]+", "-", base.lower()).strip("-") or "machine"


def write_report(rep: dict, out_dir: Path, stem: Optional[str] = None) -> tuple:
    """(json path, markdown path), each written atomically into `out_dir`."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise EdgefaceError(f"--out {out_dir} is a file: give a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = stem or f"board-report-{report_slug(rep['machine'])}"
    return (write_json_atomic(out_dir / f"{stem}.json", rep), write_text_atomic(out_dir / f"{stem}.md", render_markdown(rep)))


__all__: Sequence[str] = ("ReportOptions", "RunRow", "build_report", "render_markdown", "write_report", "measure_run",
                          "machine_facts", "warnings_for", "default_profiles", "REPORT_FORMAT", "WARMUP_FRAMES")
