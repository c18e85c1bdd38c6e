"""Tables of `edgeface bench latency` and `edgeface bench eval` reports: rich tables and Markdown (plots: `plots.py`).

Every function takes the report's JSON dict (`BenchReport.to_dict()` / `EvalReport.to_dict()`,
or a file read back with `read_report`), so published results can be re-rendered without
re-running anything.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from edgeface.errors import EdgefaceError


BASELINE_VARIANT = "tflite-float32"


def read_report(path: Path, fmt: str, what: str) -> dict:
    """A saved report (JSON dict whose "format" is `fmt`); a one-line error names the problem.
    `what` says which kind it is in the messages ("benchmark", "eval")."""
    try:
        d = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise EdgefaceError(f"cannot read {what} JSON {path} ({e})") from None
    got = d.get("format") if isinstance(d, dict) else type(d).__name__
    if got != fmt:
        raise EdgefaceError(f"{path} is not an edgeface {what} report (format {got!r}, expected {fmt})")
    return d


# ----------------------------------------------------------------------------- helpers

def runtime_name(label: str) -> str:
    return label.split(" ", 1)[0]


def speedups(results: List[dict], baseline: str = BASELINE_VARIANT) -> Dict[int, Optional[float]]:
    """For each result (by index): baseline median / its median, same model, threads and runtime
    family (TFLite runtimes compare to their own float32; onnxruntime to ai-edge-litert's, else
    any TFLite float32 of the same model and threads). None when there is no baseline."""
    base: Dict[Tuple[str, int, str], float] = {}
    for r in results:
        if r["variant"] == baseline:
            base[(r["model"], r["threads"], runtime_name(r["runtime"]))] = r["median_ms"]
    out: Dict[int, Optional[float]] = {}
    for i, r in enumerate(results):
        key = (r["model"], r["threads"], runtime_name(r["runtime"]))
        b = base.get(key)
        if b is None and runtime_name(r["runtime"]) == "onnxruntime":
            cands = [v for (m, t, _), v in base.items() if m == r["model"] and t == r["threads"]]
            b = cands[0] if cands else None
        out[i] = (b / r["median_ms"]) if (b and r["median_ms"] > 0) else None
    return out


def _fmt(v, nd: int = 2, suffix: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.{nd}f}{suffix}"
    return f"{v}{suffix}"


def machine_line(m: dict) -> str:
    rt = ", ".join(f"{k} {v}" for k, v in (m.get("runtimes") or {}).items() if v)
    board = f"{m['board']}, " if m.get("board") else ""
    load = m.get("load_avg_start")
    return (f"{board}{m.get('cpu')} ({m.get('arch')}, {m.get('cores')} cores), {m.get('os')}, Python {m.get('python')}; "
            f"{rt}; XNNPACK {'on' if m.get('xnnpack') else ('off' if m.get('xnnpack') is False else '?')}"
            + (f"; load avg at start {load[0]:.2f}" if load else ""))


def _rows(report: dict) -> List[List[str]]:
    res = report["results"]
    sp = speedups(res)
    rows = []
    for i, r in enumerate(res):
        rows.append([
            r["model"], r["variant"], r["runtime"], str(r["threads"]), _fmt(r["median_ms"]), _fmt(r["p90_ms"]),
            _fmt(r["p99_ms"]), _fmt(sp[i], 2, "x"), _fmt(r["size_bytes"] / 1e6, 2), _fmt(r.get("peak_rss_mb"), 0),
            str(r.get("runs", "-")),
        ])
    return rows


HEADERS = ["model", "variant", "runtime", "threads", "median ms", "p90 ms", "p99 ms", "vs fp32", "size MB", "peak RSS MB", "runs"]
PIPE_HEADERS = ["variant", "tracking", "threads", "fps", "detect ms", "regress ms", "3DMM ms", "other ms", "overhead ms / tracked face", "total ms", "detector runs", "frames", "peak RSS MB"]


def _pipe_rows(report: dict) -> List[List[str]]:
    rows = []
    for p in report.get("pipeline", []):
        s = p["stages_ms"]
        rows.append([p["variant"], "on" if p["tracking"] else "off", str(p["threads"]), _fmt(p["fps"], 1),
                     _fmt(s.get("detect")), _fmt(s.get("regress")), _fmt(s.get("decode")), _fmt(s.get("other")),
                     _fmt(s.get("overhead"), 3),
                     _fmt(s.get("total")), str(p["detector_runs"]), str(p["frames"]), _fmt(p.get("peak_rss_mb"), 0)])
    return rows


DENSE_HEADERS = ["model", "mesh", "vertices", "triangles", "stage", "numpy median ms", "numpy p90 ms",
                 "numba median ms", "numba p90 ms", "numba vs numpy"]
DENSE_STAGE_ORDER = ("reconstruct", "smooth", "render-mesh", "render-depth", "render-pncc", "render-points")


def _budget_label(budget: int) -> str:
    return "full" if not budget else str(budget)


def dense_rows(report: dict) -> List[List[str]]:
    """One row per dense model, mesh size and stage; numpy and numba side by side."""
    dense = report.get("dense") or []
    groups: Dict[tuple, Dict[str, Dict[str, dict]]] = {}
    for d in dense:
        g = groups.setdefault((d["model"], d["budget"], d["vertices"], d["triangles"]), {})
        g.setdefault(d["stage"], {})[d["backend"]] = d
    rows = []
    for (model, budget, nv, nt), stages in groups.items():
        order = [st for st in DENSE_STAGE_ORDER if st in stages] + [st for st in stages if st not in DENSE_STAGE_ORDER]
        for st in order:
            npy, nb = stages[st].get("numpy"), stages[st].get("numba")
            up = (npy["median_ms"] / nb["median_ms"]) if (npy and nb and nb["median_ms"] > 0) else None
            rows.append([model, _budget_label(budget), f"{nv:,}", f"{nt:,}", st,
                         _fmt(npy["median_ms"] if npy else None), _fmt(npy["p90_ms"] if npy else None),
                         _fmt(nb["median_ms"] if nb else None), _fmt(nb["p90_ms"] if nb else None), _fmt(up, 1, "x")])
    return rows


def ms_or_s(ms) -> str:
    if ms is None:
        return "-"
    return f"{ms / 1000:.2f} s" if ms >= 1000 else f"{ms:.0f} ms"


def dense_numba_note(report: dict) -> Optional[str]:
    """One sentence on numba's one-off costs (not in the timings), or None without numba."""
    nb = (report.get("dense_setup") or {}).get("numba")
    if not nb:
        return None
    if nb.get("error"):
        return f"numba {nb.get('version') or ''} failed on its first call, so only the numpy rasterizer was timed ({nb['error']})"
    parts = []
    if nb.get("import_ms") is not None:
        parts.append(f"import {ms_or_s(nb['import_ms'])}")
    if nb.get("compile_ms") is not None:
        parts.append(f"compiling the two kernels on the first call after install {ms_or_s(nb['compile_ms'])}")
    if nb.get("cache_load_ms") is not None:
        parts.append(f"loading them from numba's on-disk cache on the first call of later runs {ms_or_s(nb['cache_load_ms'])}")
    if not parts:
        parts.append("kernels already compiled in this process")
    return f"numba {nb.get('version') or ''} one-off costs, excluded from the timings: " + "; ".join(parts)


def _profiles_text(report: dict) -> str:
    prof = ((report.get("settings") or {}).get("dense") or {}).get("profiles") or {}
    budgets = sorted({int(d["budget"]) for d in report.get("dense") or []}, key=lambda b: (b != 0, -b))
    out = []
    for b in budgets:
        names = prof.get(str(b))
        out.append(f"{_budget_label(b)}" + (f" ({', '.join(names)})" if names else ""))
    return ", ".join(out)


def _dense_intro(report: dict) -> str:
    ds = report.get("dense_setup") or {}
    st = (report.get("settings") or {}).get("dense") or {}
    pol = st.get("policy") or {}
    frame = ds.get("frame") or st.get("frame_size") or [640, 480]
    face = ds.get("face_px")
    face_txt = f"{face[0]:.0f}x{face[1]:.0f} px" if face else f"{st.get('face_px')} px"
    blas = ds.get("blas_threads")
    models = sorted({d["model"] for d in report.get("dense") or []})
    return (f"Dense models: {', '.join(models)} (`dense_approx`: the mean face warped to the 68 landmarks; `bfm`: the exact BFM "
            f"mesh, when its optional asset is cached). One face, params from {ds.get('params', '?')}, drawn {face_txt} "
            f"in a {frame[0]}x{frame[1]} frame. `reconstruct` = `model.image_vertices(params, roi)` (62 params to every vertex "
            f"in frame pixels; numpy, BLAS on {blas if blas else 'its default'} thread{'s' if blas != 1 else ''}); "
            f"`render-<mode>` = `render.render` of that face on a copy of the frame, i.e. what `edgeface run --render MODE` "
            f"adds per face, with the numba or numpy rasterizer (`points`: every {ds.get('point_step', 4)}th vertex, "
            f"no rasterizer). Meshes: {_profiles_text(report)} (vertex budgets of the target profiles, by vertex clustering). "
            f"Timing: {pol.get('warmup')} warm-up calls, then at least {pol.get('min_runs')} calls and {pol.get('min_seconds')} s per "
            f"row, one thread, garbage collector off.")


# ----------------------------------------------------------------------------- bench: rich / markdown

def _add_columns(table, headers: List[str], rows: List[List[str]], left: tuple) -> None:
    """Columns that never cut a value: each at least as wide as its widest cell and header word, so a
    table wider than the console wraps its long headers instead of printing "554..." for 554.3 fps."""
    for i, h in enumerate(headers):
        width = max([len(str(r[i])) for r in rows] + [len(w) for w in h.split()])
        table.add_column(h, justify="left" if h in left else "right", min_width=width)


def bench_tables(report: dict) -> list:
    """rich renderables: the per-model latency table and the pipeline table (the runtime column
    only when more than one TFLite runtime was measured; the versions are in the caption)."""
    from rich import box
    from rich.table import Table

    tfl = {r["runtime"] for r in report["results"] if runtime_name(r["runtime"]) != "onnxruntime"}
    keep = [i for i, h in enumerate(HEADERS) if h != "runtime" or len(tfl) > 1]
    t = Table(title="Model latency (one inference, batch 1)", caption=machine_line(report["machine"]),
              caption_justify="left", box=box.SIMPLE_HEAD)
    rows = _rows(report)
    _add_columns(t, [HEADERS[i] for i in keep], [[r[i] for i in keep] for r in rows], ("model", "variant", "runtime"))
    prev = None
    for row in rows:
        if prev is not None and row[0] != prev:
            t.add_section()
        prev = row[0]
        t.add_row(*[row[i] for i in keep])
    out = [t]
    if report.get("pipeline"):
        p = Table(title="End-to-end pipeline on the sample video (decode excluded)", box=box.SIMPLE_HEAD)
        pipe_rows = _pipe_rows(report)
        _add_columns(p, PIPE_HEADERS, pipe_rows, ("variant", "tracking"))
        for row in pipe_rows:
            p.add_row(*row)
        out.append(p)
    if report.get("dense"):
        ds = report.get("dense_setup") or {}
        frame = ds.get("frame") or [640, 480]
        face = ds.get("face_px")
        note = dense_numba_note(report)
        d = Table(title=f"Dense mesh: ms per face ({frame[0]}x{frame[1]} frame, one face"
                        + (f" {face[0]:.0f}x{face[1]:.0f} px" if face else "") + ", 1 thread)",
                  caption=note, caption_justify="left", box=box.SIMPLE_HEAD)
        drows = dense_rows(report)
        _add_columns(d, DENSE_HEADERS, drows, ("model", "mesh", "stage"))
        prev = None
        for row in drows:
            key = tuple(row[:4])
            if prev is not None and key != prev:
                d.add_section()
            d.add_row(*(row if key != prev else ["", "", "", ""] + row[4:]))
            prev = key
        out.append(d)
    return out


def _md_table(headers: List[str], rows: List[List[str]], left=1) -> str:
    """`left`: the number of leading left-aligned columns, or the set of their indices."""
    is_left = (lambda i: i in left) if isinstance(left, (set, frozenset, tuple, list)) else (lambda i: i < left)
    lines = ["| " + " | ".join(headers) + " |",
             "| " + " | ".join("---" if is_left(i) else "---:" for i in range(len(headers))) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def bench_markdown(report: dict, title: str = "edgeface benchmark") -> str:
    m = report["machine"]
    s = report.get("settings", {})
    pol = s.get("policy", {})
    parts = [f"# {title}", "",
             f"Machine: {machine_line(m)}.", "",
             f"Date {m.get('date')}; load average {m.get('load_avg_start')} at start, {m.get('load_avg_end')} at end"
             + (f"; SoC temperature {m.get('thermal_c_start')} -> {m.get('thermal_c_end')} C" if m.get("thermal_c_start") is not None else "")
             + (f"; governor {m.get('governor')}" if m.get("governor") else "") + ".", "",
             f"Timing: {pol.get('warmup')} warm-up runs, then at least {pol.get('min_runs')} runs and {pol.get('min_seconds')} s "
             f"(at most {pol.get('max_seconds')} s); {'each case in its own process' if s.get('isolate') else 'all cases in one process'}; "
             f"input: {s.get('input')}. `vs fp32` = TFLite float32 median / this median (same model, threads, runtime).", "",
             "## Model latency", "", _md_table(HEADERS, _rows(report), left=3)]
    if report.get("pipeline"):
        p0 = report["pipeline"][0]
        parts += ["", "## End-to-end pipeline", "",
                  f"Sample video obama.mp4 (1280x720, {p0['frames']} frames timed); video decoding is outside the timed calls; "
                  f"`tracking on`: detector every {p0.get('detect_interval', 10)} frames and when a face is lost, crops from the previous "
                  "landmarks (upstream demo_video); `off`: detector on every frame. Stage times are means per frame "
                  "(3DMM = landmarks and pose from the params; other = tracker, smoothing, bookkeeping).", "",
                  _md_table(PIPE_HEADERS, _pipe_rows(report), left=2)]
    if report.get("dense"):
        note = dense_numba_note(report)
        parts += ["", "## Dense mesh", "", _dense_intro(report)
                  + " `numba vs numpy` = numpy median / numba median.", ""]
        if note:
            parts += [note[0].upper() + note[1:] + ".", ""]
        parts += [_md_table(DENSE_HEADERS, dense_rows(report), left={0, 1, 4})]
    if report.get("skipped"):
        parts += ["", "Not measured: " + "; ".join(f"{x['model']} {x['variant']} ({x['reason']})" for x in report["skipped"]) + "."]
    return "\n".join(parts) + "\n"


# ----------------------------------------------------------------------------- eval

EVAL_HEADERS = ["precision", "roi", "recall", "found/total", "NME bbox mean %", "median %", "fail %",
                "NME inter-ocular mean %", "median %", "fail %", "extra det."]


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.2f}"


def _eval_rows(report: dict) -> List[List[str]]:
    rows = []
    for r in report["results"]:
        b, io = r["nme_bbox"], r["nme_interocular"]
        rows.append([r["precision"], r["roi"], f"{r['detector_recall']:.3f}" if r["roi"] == "detector" else "-",
                     f"{r['faces_found']}/{r['faces_total']}", _pct(b["mean"]), _pct(b["median"]), _pct(b["failure_rate"]),
                     _pct(io["mean"]), _pct(io["median"]), _pct(io["failure_rate"]),
                     str(r["unmatched_detections"]) if r["roi"] == "detector" else "-"])
    return rows


def eval_table(report: dict):
    from rich import box
    from rich.table import Table

    t = Table(box=box.SIMPLE_HEAD, title=f"68-landmark NME on {report['dataset']} ({report['images']} images, {report['faces']} faces)",
              caption=f"fail = NME > {100 * report['fail_threshold']:.0f}%; match: {report['match_rule']}",
              caption_justify="left")
    for h in EVAL_HEADERS:
        t.add_column(h, justify="left" if h in ("precision", "roi") else "right")
    for row in _eval_rows(report):
        t.add_row(*row)
    return t


def eval_markdown(report: dict, title: str = "edgeface eval") -> str:
    n = report["normalizations"]
    return "\n".join([
        f"# {title}", "",
        f"Dataset: `{Path(report['dataset']).name}` ({report['images']} images, {report['faces']} faces with 68 iBUG points).", "",
        f"- NME bbox: mean 2-D point error / {n['bbox']}.",
        f"- NME inter-ocular: mean 2-D point error / {n['interocular']}.",
        f"- fail: share of found faces with NME > {100 * report['fail_threshold']:.0f}%.",
        f"- Matching: {report['match_rule']}; recall = found / total; extra det. = detections matching no annotated face.",
        "",
        _md_table(EVAL_HEADERS, _eval_rows(report), left=2), "",
    ])
