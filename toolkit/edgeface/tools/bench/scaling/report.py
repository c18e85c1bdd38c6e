"""Tables (Markdown) and the plot of a scaling benchmark report (`run.run_scaling`'s dict)."""

from __future__ import annotations

from pathlib import Path

from edgeface.tools.bench.scaling.summary import median_rows, summarize


#: how a report's pipeline and floor rows were measured (`options.paired`; older reports: two processes)
_PAIRED = "; each pipeline row and its floor in one process, their passes in turn"


def row_line(r: dict) -> str:
    return (f"round {r['round']} {r['precision']:<5} {r['cores']} core(s) workers {r['workers']} {r['mode']:<8} "
            f"{r['faces']:>2} faces: {r['fps']:8.1f} fps, {1000.0 / r['fps']:6.2f} ms/frame, "
            f"invoke {r['invoke_ms']:.3f} ms, load {r['load_avg']:.2f}")


def markdown(rep: dict) -> str:
    m, o = rep["machine"], rep["options"]
    out = ["# Scaling benchmark: faces in view, cores, regressor workers", "",
           f"{rep['date']}, {m['host']}, {m['cores']} usable cores, load {m['load_avg_start']:.2f} at the start, "
           f"{m['load_avg_end']:.2f} at the end; {o['frames']} frames x {o['passes']} timed passes per row "
           f"(median pass{_PAIRED if o.get('paired') else ''}), {o['rounds']} round(s).", ""]
    medians = median_rows(rep["rows"]) if o["rounds"] > 1 else []
    summary = summarize(rep["rows"])  # from the rows (a report saved by an older version is summarized the same way)
    for rnd in (["median"] if medians else []) + list(range(o["rounds"])):
        rows = medians if rnd == "median" else [r for r in rep["rows"] if r["round"] == rnd]
        title = (f"Median of the {o['rounds']} rounds" if rnd == "median" else f"Round {rnd + 1}")
        out += [f"## {title}: fps (ms per frame)", "",
                "| precision | cores | workers | mode | " + " | ".join(f"{n} faces" for n in o["faces"]) + " |",
                "|---|---:|---:|---|" + "---:|" * len(o["faces"])]
        keys = sorted({(r["precision"], r["cores"], r["workers"], r["mode"]) for r in rows},
                      key=lambda k: (k[0], k[1], k[2], k[3] != "pipeline"))
        for k in keys:
            cells = []
            for n in o["faces"]:
                c = [r for r in rows if (r["precision"], r["cores"], r["workers"], r["mode"]) == k and r["faces"] == n]
                cells.append(f"{c[0]['fps']:.0f} ({1000.0 / c[0]['fps']:.2f})" if c else "-")
            out.append(f"| {k[0]} | {k[1]} | {k[2]} | {k[3]} | " + " | ".join(cells) + " |")
        out += ["", "Cost of each extra face (slope of ms per frame over the face counts) beside one regressor Invoke:", "",
                "| precision | cores | workers | ms per extra face | Invoke ms | Invoke + 0.1 ms | within |",
                "|---|---:|---:|---:|---:|---:|---|"]
        for c in (c for c in summary["costs"] if c["round"] == rnd):
            lim = c["invoke_ms"] + 0.1
            out.append(f"| {c['precision']} | {c['cores']} | {c['workers']} | {c['ms_per_extra_face']:.3f} | "
                       f"{c['invoke_ms']:.3f} | {lim:.3f} | {'yes' if c['ms_per_extra_face'] <= lim else 'no'} |")
        out += ["", "2-core / 1-core fps ratios (best workers setting of each), pipeline vs models alone:", "",
                "| precision | faces | pipeline 2c/1c | floor 2c/1c | pipeline / floor |", "|---|---:|---:|---:|---:|"]
        for q in (q for q in summary["ratios"] if q["round"] == rnd):
            out.append(f"| {q['precision']} | {q['faces']} | {q['pipeline_ratio']:.2f}x | {q['floor_ratio']:.2f}x | "
                       f"{q['quotient']:.2f} |")
        out.append("")
    return "\n".join(out)


def _key(r: dict) -> tuple:
    return r["precision"], r["cores"], r["workers"], r["mode"]


def _ms(rows: list, key: tuple, faces: int) -> list:
    """ms per frame of the rows of one measurement (`_key`, face count)."""
    return [1000.0 / r["fps"] for r in rows if _key(r) == key and r["faces"] == faces]


def plot_series(rep: dict) -> dict:
    """What `plot` draws: per (precision, cores, workers, mode), the face counts, the ms per frame of the median of
    the rounds (what the tables lead with; the one round when there is one) and of the fastest and slowest round."""
    measured = [r for r in rep["rows"] if r["round"] != "median"]
    rows = median_rows(measured) if len({r["round"] for r in measured}) > 1 else measured
    out: dict = {}
    for key in sorted({_key(r) for r in rows}):
        faces = sorted({r["faces"] for r in rows if _key(r) == key})
        out[key] = {"faces": faces, "ms": [_ms(rows, key, n)[0] for n in faces],
                    "fastest": [min(_ms(measured, key, n)) for n in faces],
                    "slowest": [max(_ms(measured, key, n)) for n in faces]}
    return out


def plot(rep: dict, dest: Path) -> Path:
    """ms per frame vs faces in view, one line per precision, cores and workers (pipeline solid, floor dashed):
    `plot_series`, the median of the rounds with bars from the fastest to the slowest round."""
    import matplotlib  # lazy: matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: matplotlib

    series = plot_series(rep)
    rounds = len({r["round"] for r in rep["rows"] if r["round"] != "median"})
    precs = list(dict.fromkeys(k[0] for k in series))
    fig, axes = plt.subplots(1, len(precs), figsize=(6.5 * len(precs), 4.6), squeeze=False)
    for ax, prec in zip(axes[0], precs):
        for (p, cores, workers, mode), v in series.items():
            if p != prec:
                continue
            bars = [[m - lo for m, lo in zip(v["ms"], v["fastest"])], [hi - m for m, hi in zip(v["ms"], v["slowest"])]]
            ax.errorbar(v["faces"], v["ms"], yerr=bars if rounds > 1 else None, fmt="-" if mode == "pipeline" else "--",
                        marker="o", ms=3, capsize=2, elinewidth=0.8, label=f"{mode}, {cores} core(s), {workers} worker(s)")
        ax.set_xlabel("faces in view")
        ax.set_ylabel("ms per frame")
        ax.set_title(prec)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("edgeface: ms per frame vs faces in view"
                 + (f" (median of {rounds} rounds; bars: fastest to slowest round)" if rounds > 1 else ""))
    fig.tight_layout()
    fig.savefig(dest, dpi=110)
    plt.close(fig)
    return Path(dest)


__all__ = ("row_line", "markdown", "plot", "plot_series")
