"""Tables (Markdown) and the plot of a motion benchmark report (`run.run_motion_bench`'s dict)."""

from __future__ import annotations

from pathlib import Path

COLUMNS = (("recall", "recall", "{:.3f}"), ("acquire_max", "acquire max (fr)", "{:d}"),
           ("acquire_mean", "acquire mean", "{:.1f}"), ("id_switches", "id switches", "{:d}"),
           ("false_per_frame", "false / frame", "{:.2f}"), ("landmark_error", "landmark error", "{:.2%}"),
           ("faces_per_frame", "faces in view", "{:.1f}"), ("fps", "fps", "{:.0f}"))


def _cell(row: dict, key: str, fmt: str) -> str:
    v = row.get(key)
    if v is None:
        return "-"
    return fmt.format(int(v) if fmt == "{:d}" else v)


def row_line(row: dict) -> str:
    cells = ", ".join(f"{label} {_cell(row, k, f)}" for k, label, f in COLUMNS)
    return f"{row['system']:<18} {row['pattern']:<12} {row['speed']:>4g} px/frame: {cells}"


def markdown(rep: dict) -> str:
    m, o, p = rep["machine"], rep["options"], rep.get("pipeline", {})
    out = ["# Motion benchmark", "",
           f"{rep['date']}, {m['host']}, {m['cores']} usable cores, load {m['load_avg_start']:.2f} at the start, "
           f"{m['load_avg_end']:.2f} at the end; {o['precision']}, {o['frames']} frames per clip, "
           f"composite of {', '.join(rep['scene']['pieces'])} ({rep['scene']['faces']} faces per period), "
           f"sprites {', '.join(rep['scene']['sprites'])}.", "",
           f"Pipeline: {', '.join(f'{k} {v}' for k, v in p.items() if v is not None)}. MediaPipe: {rep.get('mediapipe')}.", ""]
    systems = list(dict.fromkeys(r["system"] for r in rep["rows"]))
    for speed in o["speeds"]:
        out += [f"## {speed:g} px/frame", "",
                "| system | pattern | " + " | ".join(label for _, label, _ in COLUMNS) + " |",
                "|---|---|" + "---:|" * len(COLUMNS)]
        for pattern in o["patterns"]:
            for s in systems:
                for r in rep["rows"]:
                    if r["system"] == s and r["pattern"] == pattern and r["speed"] == speed:
                        out.append(f"| {s} | {pattern} | " + " | ".join(_cell(r, k, f) for k, _, f in COLUMNS) + " |")
        out.append("")
    return "\n".join(out)


def plot(rep: dict, dest: Path) -> Path:
    """Recall, id switches and landmark error vs speed, one line per system and pattern."""
    import matplotlib  # lazy: matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: matplotlib

    o = rep["options"]
    systems = list(dict.fromkeys(r["system"] for r in rep["rows"]))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    styles = {"edgeface-velocity": "-", "edgeface-none": "--", "mediapipe": ":"}
    colors = dict(zip(o["patterns"], plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for ax, (key, label) in zip(axes, (("recall", "recall"), ("id_switches", "id switches per clip"),
                                       ("landmark_error", "landmark error (/ face size)"))):
        for s in systems:
            for pattern in o["patterns"]:
                pts = [(r["speed"], r[key]) for r in rep["rows"]
                       if r["system"] == s and r["pattern"] == pattern and r.get(key) is not None]
                if pts:
                    x, y = zip(*sorted(pts))
                    ax.plot(x, y, styles.get(s, "-"), color=colors[pattern], marker="o", ms=3,
                            label=f"{s.replace('edgeface-', '')} {pattern}")
        ax.set_xlabel("speed (px/frame)")
        ax.set_title(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=6, ncol=2)
    fig.suptitle(f"edgeface tracking under motion ({o['precision']}; solid: motion=velocity, dashed: none)")
    fig.tight_layout()
    fig.savefig(dest, dpi=110)
    plt.close(fig)
    return Path(dest)


__all__ = ("COLUMNS", "row_line", "markdown", "plot")
