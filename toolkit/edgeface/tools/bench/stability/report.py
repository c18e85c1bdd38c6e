"""Tables, Markdown and the PNG plot of an `edgeface bench stability` report (its JSON dict).

Targets (issue 12): smoothed jitter <= 0.06% of the face size at every precision, INT8 <= fp32 x 1.1
(raw and smoothed), lag <= 1 frame at 2 px per frame. `verdicts` checks them on a report.
"""

from __future__ import annotations

from pathlib import Path
from typing import List

from edgeface.errors import EdgefaceError
from edgeface.tools.bench.plots import _pyplot, _save_png
from edgeface.tools.bench.report import _md_table, read_report
from edgeface.tools.bench.stability.measure import SCHEMA

HEADERS = ["photo", "precision", "faces", "jitter raw %", "jitter smoothed %", "raw / smoothed",
           "lag frames", "raw lag frames"]
TARGET_JITTER = 0.0006        # fraction of the face size
TARGET_INT8_RATIO = 1.1
TARGET_LAG = 1.0              # frames


def load_report(path: Path) -> dict:
    report = read_report(Path(path), SCHEMA, "stability")
    if "rows" not in report:
        raise EdgefaceError(f"{path} is not a stability report (no rows): make one with edgeface bench stability --json")
    return report


def _rows(report: dict) -> List[List[str]]:
    out = []
    for r in report["rows"]:
        ratio = r["jitter_raw"] / r["jitter_smoothed"] if r["jitter_smoothed"] > 0 else float("inf")
        out.append([r["photo"], r["precision"], str(r["faces"]), f"{100 * r['jitter_raw']:.3f}",
                    f"{100 * r['jitter_smoothed']:.3f}", f"{ratio:.1f}x", f"{r['lag_frames']:.2f}",
                    f"{r['raw_lag_frames']:.2f}"])
    return out


def verdicts(report: dict) -> List[tuple]:
    """[(target, measured, ok)] for the issue's stability targets."""
    rows = report["rows"]
    out = []
    worst = max(rows, key=lambda r: r["jitter_smoothed"])
    out.append((f"smoothed jitter <= {100 * TARGET_JITTER:.2f}%", f"max {100 * worst['jitter_smoothed']:.3f}% "
                f"({worst['photo']} {worst['precision']})", worst["jitter_smoothed"] <= TARGET_JITTER))
    lag = max(rows, key=lambda r: r["lag_frames"])
    out.append((f"lag <= {TARGET_LAG:g} frame", f"max {lag['lag_frames']:.2f} ({lag['photo']} {lag['precision']})",
                lag["lag_frames"] <= TARGET_LAG))
    by = {(r["photo"], r["precision"]): r for r in rows}
    for key in ("jitter_raw", "jitter_smoothed"):
        ratios = [(p, by[(p, "int8")][key] / by[(p, "fp32")][key]) for p, prec in by if prec == "fp32" and (p, "int8") in by]
        if ratios:
            p, worst_ratio = max(ratios, key=lambda x: x[1])
            out.append((f"INT8 <= fp32 x {TARGET_INT8_RATIO:g} ({key.split('_')[1]})", f"max x{worst_ratio:.2f} ({p})",
                        worst_ratio <= TARGET_INT8_RATIO))
    return out


def _caption(report: dict) -> str:
    s = report["settings"]
    sm = report["smoothing"]
    params = ", ".join(f"{k} {v:g}" for k, v in sm.items())
    return (f"{s['frames']} frames at {s['fps']:g} fps, sensor noise sigma {s['sigma']:g} (seed {s['seed']}), jitter over "
            f"frames {s['skip']}-{s['frames'] - 1}; lag: translated {s['speed_px']:g} px/frame; target {s['target']}; "
            f"smoothing: {params}; smoother {report['smoother_ms_per_face']:.4f} ms CPU per face per frame "
            f"(load average {s.get('load_avg_smoother', '?')})")


def stability_table(report: dict):
    from rich import box
    from rich.table import Table

    t = Table(box=box.SIMPLE_HEAD, title="Landmark stability (jitter: % of face size; lag: frames)",
              caption=_caption(report), caption_justify="left")
    for h in HEADERS:
        t.add_column(h, justify="left" if h in ("photo", "precision") else "right")
    for row in _rows(report):
        t.add_row(*row)
    return t


def verdict_table(report: dict):
    from rich import box
    from rich.table import Table

    t = Table(box=box.SIMPLE_HEAD, title="Stability targets")
    for h in ("target", "measured", ""):
        t.add_column(h)
    for target, measured, ok in verdicts(report):
        t.add_row(target, measured, "[green]met[/]" if ok else "[red]not met[/]")
    return t


def stability_markdown(report: dict, title: str = "edgeface stability") -> str:
    return "\n".join([f"# {title}", "", _caption(report) + ".", "",
                      _md_table(HEADERS, _rows(report), left=2), "",
                      _md_table(["target", "measured", "met"],
                                [[t, m, "yes" if ok else "no"] for t, m, ok in verdicts(report)], left=2), ""])


def plot_stability(report: dict, dest: Path) -> Path:
    """Two panels: jitter (raw vs smoothed bars per photo x precision, the 0.06% target line) and lag."""
    plt = _pyplot()
    rows = report["rows"]
    labels = [f"{r['photo'].rsplit('.', 1)[0]}\n{r['precision']}" for r in rows]
    x = list(range(len(rows)))
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8), gridspec_kw={"width_ratios": [3, 2]})
    w = 0.38
    a.bar([i - w / 2 for i in x], [100 * r["jitter_raw"] for r in rows], w, label="raw", color="0.7")
    a.bar([i + w / 2 for i in x], [100 * r["jitter_smoothed"] for r in rows], w, label="smoothed", color="tab:blue")
    a.axhline(100 * TARGET_JITTER, color="tab:red", ls="--", lw=1, label=f"target {100 * TARGET_JITTER:.2f}%")
    a.set_xticks(x, labels)
    a.set_ylabel("jitter, % of face size")
    a.set_title("Still photo + sensor noise")
    a.legend(frameon=False, fontsize=8)
    b.bar([i - w / 2 for i in x], [r["raw_lag_frames"] for r in rows], w, label="raw vs true motion", color="0.7")
    b.bar([i + w / 2 for i in x], [r["lag_frames"] for r in rows], w, label="smoothed vs raw", color="tab:blue")
    b.axhline(TARGET_LAG, color="tab:red", ls="--", lw=1, label=f"target {TARGET_LAG:g} frame")
    b.set_xticks(x, labels)
    b.set_ylabel("lag, frames")
    b.set_title(f"Moving {report['settings']['speed_px']:g} px/frame")
    b.set_ylim(min(0.0, *[r["raw_lag_frames"] for r in rows]) - 0.05, 1.3 * max(TARGET_LAG, *[r["lag_frames"] for r in rows]))
    b.legend(frameon=False, fontsize=8, loc="upper left")
    fig.tight_layout()
    return _save_png(fig, dest)
