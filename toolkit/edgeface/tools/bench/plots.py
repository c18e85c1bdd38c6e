"""PNG plots of `edgeface bench latency` and `edgeface bench eval` reports (`plot_bench`, `plot_eval`).

Like the tables (`report.py`), every function takes the report's JSON dict, so published results
can be re-plotted from a saved report. matplotlib is imported lazily (Agg backend), only when a
plot is made: `pip install 'edgeface[plot]'`.
"""

from __future__ import annotations

from pathlib import Path

from edgeface.errors import EdgefaceError
from edgeface.hub.atomic import atomic_path
from edgeface.tools.bench.eval.metrics import cdf
from edgeface.tools.bench.report import ms_or_s, runtime_name, speedups


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
    default_rt = runtime_name(res[0]["runtime"]) if res else ""
    tfl_rts = [rt for rt in dict.fromkeys(runtime_name(r["runtime"]) for r in res) if rt != "onnxruntime"]
    default_rt = tfl_rts[0] if tfl_rts else default_rt
    for ax, model in zip(axes, models):
        rows = [(i, r) for i, r in enumerate(res) if r["model"] == model]
        groups = []
        for _, r in rows:
            rt = runtime_name(r["runtime"])
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
                    rrt = runtime_name(r["runtime"])
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
    ("smooth", "numpy", "0.3", "-.", "v", "smooth (One Euro blend, video)"),
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
        bits = [f"compile {ms_or_s(nb['compile_ms'])} (first run)" if nb.get("compile_ms") is not None else None,
                f"cache load {ms_or_s(nb['cache_load_ms'])} (later runs)" if nb.get("cache_load_ms") is not None else None]
        bits = [b for b in bits if b]
        if bits:
            ax.text(0.98, 0.02, "numba one-off, not in the lines:\n" + ", ".join(bits), transform=ax.transAxes, ha="right",
                    va="bottom", fontsize=7, color="0.3", bbox={"boxstyle": "round,pad=0.3", "fc": "white", "ec": "0.8"})


def plot_eval(report: dict, dest: Path) -> Path:
    """Cumulative error distribution of the NME per precision (both normalizations)."""
    plt = _pyplot()
    import numpy as np

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
