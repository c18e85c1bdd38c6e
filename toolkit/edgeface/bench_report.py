"""Rendering of `edgeface bench` and `edgeface eval` reports: rich tables, Markdown, PNG plots.

Every function takes the report's JSON dict (`BenchReport.to_json()` / `EvalReport.to_json()`,
or a file read back), so published results can be re-rendered without re-running anything.
matplotlib is imported lazily (Agg backend) and only by the plot functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Tuple

from .errors import EdgefaceError
from .fileio import atomic_path

BASELINE_VARIANT = "tflite-float32"


# ----------------------------------------------------------------------------- helpers

def _runtime_name(label: str) -> str:
    return label.split(" ", 1)[0]


def speedups(results: List[dict], baseline: str = BASELINE_VARIANT) -> Dict[int, Optional[float]]:
    """For each result (by index): baseline median / its median, same model, threads and runtime
    family (TFLite runtimes compare to their own float32; onnxruntime to ai-edge-litert's, else
    any TFLite float32 of the same model and threads). None when there is no baseline."""
    base: Dict[Tuple[str, int, str], float] = {}
    for r in results:
        if r["variant"] == baseline:
            base[(r["model"], r["threads"], _runtime_name(r["runtime"]))] = r["median_ms"]
    out: Dict[int, Optional[float]] = {}
    for i, r in enumerate(results):
        key = (r["model"], r["threads"], _runtime_name(r["runtime"]))
        b = base.get(key)
        if b is None and _runtime_name(r["runtime"]) == "onnxruntime":
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
PIPE_HEADERS = ["variant", "tracking", "threads", "fps", "detect ms", "regress ms", "3DMM ms", "other ms", "total ms", "detector runs", "frames", "peak RSS MB"]


def _pipe_rows(report: dict) -> List[List[str]]:
    rows = []
    for p in report.get("pipeline", []):
        s = p["stages_ms"]
        rows.append([p["variant"], "on" if p["tracking"] else "off", str(p["threads"]), _fmt(p["fps"], 1),
                     _fmt(s.get("detect")), _fmt(s.get("regress")), _fmt(s.get("decode")), _fmt(s.get("other")),
                     _fmt(s.get("total")), str(p["detector_runs"]), str(p["frames"]), _fmt(p.get("peak_rss_mb"), 0)])
    return rows


DENSE_HEADERS = ["model", "mesh", "vertices", "triangles", "stage", "numpy median ms", "numpy p90 ms",
                 "numba median ms", "numba p90 ms", "numba vs numpy"]
DENSE_STAGE_ORDER = ("reconstruct", "render-mesh", "render-depth", "render-pncc", "render-points")


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


def _ms_or_s(ms) -> str:
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
        parts.append(f"import {_ms_or_s(nb['import_ms'])}")
    if nb.get("compile_ms") is not None:
        parts.append(f"compiling the two kernels on the first call after install {_ms_or_s(nb['compile_ms'])}")
    if nb.get("cache_load_ms") is not None:
        parts.append(f"loading them from numba's on-disk cache on the first call of later runs {_ms_or_s(nb['cache_load_ms'])}")
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

def bench_tables(report: dict) -> list:
    """rich renderables: the per-model latency table and the pipeline table (the runtime column
    only when more than one TFLite runtime was measured; the versions are in the caption)."""
    from rich import box
    from rich.table import Table

    tfl = {r["runtime"] for r in report["results"] if _runtime_name(r["runtime"]) != "onnxruntime"}
    keep = [i for i, h in enumerate(HEADERS) if h != "runtime" or len(tfl) > 1]
    t = Table(title="Model latency (one inference, batch 1)", caption=machine_line(report["machine"]),
              caption_justify="left", box=box.SIMPLE_HEAD)
    for i in keep:
        h = HEADERS[i]
        t.add_column(h, justify="right" if h not in ("model", "variant", "runtime") else "left", no_wrap=True)
    prev = None
    for row in _rows(report):
        if prev is not None and row[0] != prev:
            t.add_section()
        prev = row[0]
        t.add_row(*[row[i] for i in keep])
    out = [t]
    if report.get("pipeline"):
        p = Table(title="End-to-end pipeline on the sample video (decode excluded)", box=box.SIMPLE_HEAD)
        for h in PIPE_HEADERS:
            p.add_column(h, justify="left" if h in ("variant", "tracking") else "right", no_wrap=True)
        for row in _pipe_rows(report):
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
        for h in DENSE_HEADERS:
            d.add_column(h, justify="left" if h in ("model", "mesh", "stage") else "right", no_wrap=True)
        prev = None
        for row in dense_rows(report):
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


# ----------------------------------------------------------------------------- bench: plot

def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise EdgefaceError("plots need matplotlib: pip install 'edgeface[plot]'") from None
    return plt


VARIANT_SHORT = {"onnxruntime-fp32": "ORT fp32", "tflite-float32": "TFLite fp32", "tflite-float16": "TFLite fp16",
                 "tflite-int8": "TFLite int8", "tflite-int8_floatio": "TFLite int8\nfloat I/O"}


def plot_bench(report: dict, dest: Path) -> Path:
    """Median latency bars (p90 whiskers) per variant and thread count, one panel per model,
    int8 speed-up over TFLite float32 annotated; plus a pipeline fps panel."""
    plt = _pyplot()
    import numpy as np

    res = report["results"]
    sp = speedups(res)
    models = list(dict.fromkeys(r["model"] for r in res))
    has_pipe = bool(report.get("pipeline"))
    dense_models = list(dict.fromkeys(d["model"] for d in report.get("dense") or []))
    n = len(models) + (1 if has_pipe else 0) + len(dense_models)
    if n == 0:
        raise EdgefaceError("the benchmark report has no results to plot")
    nrows = 1 if n <= 3 else 2
    ncols = -(-n // nrows)
    fig, grid = plt.subplots(nrows, ncols, figsize=(5.4 * ncols, 5.2 * nrows), squeeze=False)
    flat = list(grid.reshape(-1))
    for ax in flat[n:]:
        ax.set_visible(False)
    axes = flat[:len(models) + (1 if has_pipe else 0)]
    for ax, dm in zip(flat[len(axes):n], dense_models):
        _plot_dense(ax, report, dm)
    threads_all = sorted({r["threads"] for r in res})
    colors = plt.get_cmap("tab10")
    default_rt = _runtime_name(res[0]["runtime"]) if res else ""
    tfl_rts = [rt for rt in dict.fromkeys(_runtime_name(r["runtime"]) for r in res) if rt != "onnxruntime"]
    default_rt = tfl_rts[0] if tfl_rts else default_rt
    for ax, model in zip(axes, models):
        rows = [(i, r) for i, r in enumerate(res) if r["model"] == model]
        groups = []
        for _, r in rows:
            rt = _runtime_name(r["runtime"])
            key = (r["variant"], rt if rt not in ("onnxruntime", default_rt) else "")
            if key not in groups:
                groups.append(key)
        width = 0.8 / max(1, len(threads_all))
        top = max(r["median_ms"] for _, r in rows) * 1.5  # p90 whiskers beyond this are clipped
        clipped = False
        for ti, t in enumerate(threads_all):
            xs, ys, errs, labels, ups = [], [], [], [], []
            for gi, (variant, rt) in enumerate(groups):
                for i, r in rows:
                    rrt = _runtime_name(r["runtime"])
                    if r["variant"] == variant and r["threads"] == t and (rt == "" and rrt in ("onnxruntime", default_rt) or rrt == rt):
                        xs.append(gi + (ti - (len(threads_all) - 1) / 2) * width)
                        ys.append(r["median_ms"])
                        errs.append(max(0.0, r["p90_ms"] - r["median_ms"]))
                        labels.append(f"{r['median_ms']:.2f}" if r["median_ms"] < 10 else f"{r['median_ms']:.1f}")
                        ups.append(sp[i] if variant.startswith("tflite-int8") else None)
            clipped = clipped or any(y + e > top for y, e in zip(ys, errs))
            bars = ax.bar(xs, ys, width * 0.92, yerr=[np.zeros(len(errs)), errs], capsize=2, color=colors(ti),
                          label=f"{t} thread{'s' if t > 1 else ''}", error_kw={"elinewidth": 0.8, "ecolor": "0.35"})
            for b, lab, up, e in zip(bars, labels, ups, errs):
                cx = b.get_x() + b.get_width() / 2
                y = min(b.get_height() + e, top * 0.9)  # above the whisker, inside the axes
                ax.text(cx, y + top * 0.012, lab, ha="center", va="bottom", fontsize=7.5,
                        bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8})
                if up:
                    ax.text(cx, b.get_height() / 2, f"{up:.1f}x", ha="center", va="center", fontsize=8, fontweight="bold",
                            color="white", rotation=90 if b.get_height() < top * 0.12 else 0)
        sizes = {r["variant"]: r["size_bytes"] / 1e6 for _, r in rows}
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels([VARIANT_SHORT.get(v, v) + (f" ({rt})" if rt else "") + (f"\n{sizes[v]:.1f} MB" if v in sizes else "")
                            for v, rt in groups], fontsize=8.5)
        ax.set_ylabel("ms per inference (bar: median; whisker: p90)")
        ax.set_title(f"{model}: latency, lower is better\n(white figure in int8 bars: speed-up over TFLite fp32)", fontsize=10)
        ax.set_ylim(0, top)
        if clipped:
            ax.text(0.99, 0.99, "p90 whiskers clipped", transform=ax.transAxes, ha="right", va="top", fontsize=7, color="0.4")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    if has_pipe:
        ax = axes[-1]
        pipe = report["pipeline"]
        variants = list(dict.fromkeys(p["variant"] for p in pipe))
        width = 0.38
        fmax = max(p["fps"] for p in pipe)
        for k, tracking in enumerate((True, False)):
            xs, ys = [], []
            for gi, v in enumerate(variants):
                for p in pipe:
                    if p["variant"] == v and p["tracking"] == tracking:
                        xs.append(gi + (k - 0.5) * width)
                        ys.append(p["fps"])
            bars = ax.bar(xs, ys, width * 0.92, color=("tab:green" if tracking else "tab:gray"),
                          label="tracking (detector every 10 frames)" if tracking else "detector on every frame")
            for b, y in zip(bars, ys):
                ax.text(b.get_x() + b.get_width() / 2, y + fmax * 0.01, f"{y:.0f}", ha="center", va="bottom", fontsize=8)
        ax.set_xticks(range(len(variants)))
        ax.set_xticklabels([VARIANT_SHORT.get(v, v) for v in variants], fontsize=8.5)
        thr = sorted({p["threads"] for p in pipe})
        ax.set_title(f"end-to-end pipeline, sample video 1280x720\n({'/'.join(map(str, thr))} thread{'s' if thr != [1] else ''}, decode excluded)", fontsize=10)
        ax.set_ylabel("frames per second (higher is better)")
        ax.set_ylim(0, fmax * 1.2)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8, loc="upper right")
    m = report["machine"]
    fig.suptitle(f"edgeface bench - {m.get('board') or m.get('cpu')} ({m.get('arch')}, {m.get('cores')} cores), "
                 f"{', '.join(sorted({r['runtime'] for r in res}))}", fontsize=11 if nrows == 1 else 12)
    fig.tight_layout()
    return _save_png(fig, dest)


def _save_png(fig, dest) -> Path:
    """Write a figure as a compact PNG (256-colour palette: plots have few colours), atomically."""
    import io

    import matplotlib.pyplot as plt

    dest = Path(dest)
    buf = io.BytesIO()
    fig.savefig(buf, dpi=110, format="png")
    plt.close(fig)
    with atomic_path(dest) as tmp:
        try:
            from PIL import Image

            buf.seek(0)
            Image.open(buf).convert("RGB").quantize(colors=256).save(tmp, format="PNG", optimize=True)
        except ImportError:  # matplotlib needs Pillow, but keep the plain PNG if it is missing
            tmp.write_bytes(buf.getvalue())
    return dest


DENSE_LINES = (  # (stage, backend, colour, line style, marker, label)
    ("reconstruct", "numpy", "black", "-", "o", "reconstruct (numpy)"),
    ("render-mesh", "numba", "tab:blue", "-", "s", "render mesh, numba"),
    ("render-mesh", "numpy", "tab:blue", "--", "s", "render mesh, numpy"),
    ("render-depth", "numba", "tab:orange", "-", "^", "render depth, numba"),
    ("render-depth", "numpy", "tab:orange", "--", "^", "render depth, numpy"),
    ("render-pncc", "numba", "tab:green", "-", "D", "render pncc, numba"),
    ("render-pncc", "numpy", "tab:green", "--", "D", "render pncc, numpy"),
    ("render-points", "numpy", "0.5", ":", "x", "render points (no rasterizer)"),
)


def _plot_dense(ax, report: dict, model: str) -> None:
    """Median ms per face against the mesh's vertex count (log-log), one line per stage and
    rasterizer backend; the target profiles that use each mesh size under the ticks."""
    import numpy as np

    rows = [d for d in report.get("dense") or [] if d["model"] == model]
    prof = ((report.get("settings") or {}).get("dense") or {}).get("profiles") or {}
    sizes = sorted({(d["vertices"], d["budget"]) for d in rows})
    ymin, ymax = float("inf"), 0.0
    med = {(d["stage"], d["backend"], d["vertices"]): d["median_ms"] for d in rows}

    def hidden(stage: str, under: str, backend: str) -> bool:  # a line drawn over by another one (within 8%)
        pairs = [(v, med.get((under, backend, n))) for (st, b, n), v in med.items() if st == stage and b == backend]
        return bool(pairs) and all(u is not None and abs(v - u) <= 0.08 * u for v, u in pairs)

    for stage, backend, color, ls, marker, label in DENSE_LINES:
        pts = sorted((d["vertices"], d["median_ms"], d["p90_ms"]) for d in rows if d["stage"] == stage and d["backend"] == backend)
        if not pts:
            continue
        if stage == "render-depth" and hidden(stage, "render-pncc", backend):
            label += " (under pncc)"
        xs, ys, p90 = zip(*pts)
        ax.plot(xs, ys, ls=ls, marker=marker, color=color, lw=1.4, ms=4.5, label=label)
        ymin, ymax = min(ymin, min(ys)), max(ymax, max(p90))
    for stage, backend in (("reconstruct", "numpy"), ("render-mesh", "numba")):  # the numbers that matter, at the largest mesh
        top = max((d for d in rows if d["stage"] == stage and d["backend"] == backend), key=lambda d: d["vertices"], default=None)
        if top:
            ax.annotate(f"{top['median_ms']:.2f}" if top["median_ms"] < 10 else f"{top['median_ms']:.1f}",
                        (top["vertices"], top["median_ms"]), textcoords="offset points", xytext=(6, -3), fontsize=7.5)
    ax.set_xscale("log")
    ax.set_yscale("log")
    frame_ms = 1000.0 / 30
    if ymax > 0:  # log axis: data between 15% and 68% of the height (note below, legend above)
        lo, hi = np.log10(ymin), np.log10(max(ymax, frame_ms))
        span = max(hi - lo, 0.5)
        ax.set_ylim(10 ** (lo - 0.15 / 0.53 * span), 10 ** (hi + 0.32 / 0.53 * span))
    ax.axhline(frame_ms, color="tab:red", lw=0.8, ls="-.", alpha=0.6)
    ax.text(0.99, frame_ms, "33 ms = one frame at 30 fps ", transform=ax.get_yaxis_transform(), fontsize=7, color="tab:red",
            ha="right", va="bottom", alpha=0.8)
    ax.set_xticks([v for v, _ in sizes])
    ax.set_xticks([], minor=True)
    ax.set_xticklabels([f"{v / 1000:.1f}k\n" + ("full" + (f" ({'/'.join(prof[str(b)])})" if prof.get(str(b)) else "") if not b
                                               else "/".join(prof.get(str(b), [])))
                        for v, b in sizes], fontsize=7.5)
    ax.set_xlim(min(v for v, _ in sizes) / 1.25, max(v for v, _ in sizes) * 1.6)
    from matplotlib.ticker import FuncFormatter

    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
    ax.set_xlabel("mesh vertices (target profiles using that budget)", fontsize=8.5)
    ax.set_ylabel("ms per face, median (lower is better)")
    ds = report.get("dense_setup") or {}
    frame, face = ds.get("frame") or [640, 480], ds.get("face_px")
    ax.set_title(f"dense mesh ({model}): reconstruction + render, 1 thread\n"
                 f"({frame[0]}x{frame[1]} frame, one face" + (f" {face[1]:.0f} px tall" if face else "") + ")", fontsize=10)
    ax.grid(which="major", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", ncol=2)
    nb = ds.get("numba")
    if nb:
        bits = [f"compile {_ms_or_s(nb['compile_ms'])} (first run)" if nb.get("compile_ms") is not None else None,
                f"cache load {_ms_or_s(nb['cache_load_ms'])} (later runs)" if nb.get("cache_load_ms") is not None else None]
        bits = [b for b in bits if b]
        if bits:
            ax.text(0.98, 0.02, "numba one-off, not in the lines:\n" + ", ".join(bits), transform=ax.transAxes, ha="right",
                    va="bottom", fontsize=7, color="0.3", bbox={"boxstyle": "round,pad=0.3", "fc": "white", "ec": "0.8"})


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


def plot_eval(report: dict, dest: Path) -> Path:
    """Cumulative error distribution of the NME per precision (both normalizations)."""
    plt = _pyplot()
    import numpy as np

    from .evaluate import cdf

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, key, label in zip(axes, ("nme_bbox", "nme_interocular"), ("bbox sqrt(w*h)", "inter-ocular (outer corners)")):
        top = 0.0
        for r in report["results"]:
            vals = [f[key] for f in r["faces"] if f["found"] and f[key] is not None]
            if vals:
                top = max(top, max(vals))
        xs = np.linspace(0, max(0.12, top * 1.05), 400)
        for k, r in enumerate(report["results"]):
            vals = [f[key] for f in r["faces"] if f["found"] and f[key] is not None]
            if not vals:
                continue
            ax.plot(100 * xs, cdf(vals, xs), ls=("-", "--", "-.", ":")[k % 4], lw=max(1.0, 2.6 - 0.6 * k),
                    label=f"{r['precision']} ({r['roi']}): mean {100 * np.mean(vals):.2f}%")
        ax.axvline(100 * report["fail_threshold"], color="0.5", ls="--", lw=0.8)
        ax.set_xlabel(f"NME normalized by {label}, %")
        ax.set_ylabel("share of faces with NME <= x")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(f"68-landmark NME CDF on {Path(report['dataset']).name} ({report['faces']} faces)", fontsize=11)
    fig.tight_layout()
    return _save_png(fig, dest)
