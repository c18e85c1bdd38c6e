"""Tables, Markdown and PNG of a peer-benchmark report (`peers.run_peers`), from its JSON dict,
so a saved report can be re-rendered. Ratios are taken within the report (one run, same machine):
each system's fps over its upstream baseline's fps at the same core count (tracking systems over
upstream's `demo_video.py` loop, detector-every-frame systems over upstream `demo.py`), and the
tracking systems over MediaPipe FaceMesh."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Dict, List, Optional

from edgeface.errors import EdgefaceError
from edgeface.tools.bench.plots import _pyplot, _save_png
from edgeface.tools.bench.report import _md_table, machine_line


def fps_table(report: dict) -> Dict[str, Dict[int, float]]:
    """{system: {cores: fps}} of the runs that succeeded."""
    t: Dict[str, Dict[int, float]] = {}
    for r in report.get("results", []):
        if "error" not in r and r.get("fps"):
            t.setdefault(r["system"], {})[int(r["cores_requested"])] = float(r["fps"])
    return t


def ratio(report: dict, system: str, other: str, cores: int) -> Optional[float]:
    t = fps_table(report)
    a, b = t.get(system, {}).get(cores), t.get(other, {}).get(cores)
    return round(a / b, 2) if a and b else None


def paired_ratio(report: dict, system: str, other: str, cores: int) -> Optional[float]:
    """fps of `system` over `other` at `cores` for two systems timed as a pair: the median over every pair of passes
    taken one after the other (same round, same pass), so that each ratio compares two passes a few hundred
    milliseconds apart. None when the two were not timed as a pair."""
    rows = {r["system"]: r for r in report.get("results", [])
            if r.get("system") in (system, other) and int(r.get("cores_requested", 0)) == cores and "error" not in r}
    a, b = rows.get(system, {}).get("round_pass_fps"), rows.get(other, {}).get("round_pass_fps")
    if not a or not b:
        return None
    q = [x / y for ra, rb in zip(a, b) if ra and rb for x, y in zip(ra, rb) if x and y]
    return round(statistics.median(q), 2) if q else None


def _x(v: Optional[float]) -> str:
    return "-" if v is None else f"{v:.2f}x"


def rows(report: dict) -> List[List[str]]:
    t = fps_table(report)
    cores = report.get("cores", [1, 2])
    systems = report.get("systems", {})
    out = []
    for key, meta in systems.items():
        if key not in t:
            continue
        fps = [f"{t[key][c]:.1f}" if c in t[key] else "-" for c in cores]
        base = [_x(ratio(report, key, meta["baseline"], c)) if key != meta["baseline"] else "1.00x" for c in cores]
        # edgeface's tracking rows (their baseline is upstream's video loop) against MediaPipe's tracking
        mp = _x(ratio(report, key, "mediapipe", cores[0])) if key.startswith("edgeface-") and meta["baseline"] == "upstream-video" else ""
        scale = ([_x(round(t[key][cores[-1]] / t[key][cores[0]], 2)) if all(c in t[key] for c in cores) else "-"]
                 if len(cores) > 1 else [])
        p99 = next((f"{r['ms_p99']:.2f}" for r in report["results"]
                    if r.get("system") == key and r.get("cores_requested") == cores[0] and "ms_p99" in r), "-")
        out.append([meta["label"], *fps, *base, mp, *scale, p99])
    return out


def headers(report: dict) -> List[str]:
    cores = report.get("cores", [1, 2])
    cn = [f"{c} core{'s' if c > 1 else ''}" for c in cores]
    return (["system", *[f"fps, {c}" for c in cn], *[f"x upstream, {c}" for c in cn], f"x MediaPipe, {cn[0]}",
             *([f"{cores[-1]} vs {cores[0]} cores"] if len(cores) > 1 else []), f"p99 ms, {cn[0]}"])


def _notes(report: dict) -> List[str]:
    m = report.get("machine", {})
    v = report.get("video", {})
    loads = [r["load_before"] for r in report.get("results", []) if r.get("load_before") is not None]
    notes = [f"Machine: {machine_line(m)}.",
             f"Input: {v.get('frames')} frames of {v.get('video')} ({v.get('size', ['?', '?'])[0]}x{v.get('size', ['?', '?'])[1]}), "
             f"pre-decoded ({v.get('decoder')}, edit lists ignored); decode not timed. One process per system and core "
             f"count, pinned to the first N cores; 1 warm-up pass + {report.get('passes')} timed passes, median pass shown"
             + (f"; {report['rounds']} rounds round-robin (a fresh process each), the median round shown"
                if report.get("rounds", 1) > 1 else "") + ".",
             "x upstream: over upstream's demo_video.py loop for tracking systems and MediaPipe, over upstream demo.py "
             "per frame for detector-every-frame systems, at the same core count, from this one run."]
    base = report.get("systems", {}).get("edgeface-int8-track-baseline")
    t = fps_table(report)
    if base is not None and "edgeface-int8-track" in t and "edgeface-int8-track-baseline" in t:
        now, then = t["edgeface-int8-track"], t["edgeface-int8-track-baseline"]
        cores = [c for c in report.get("cores", [1, 2]) if c in now and c in then and then[c]]
        pairs = {c: paired_ratio(report, "edgeface-int8-track", "edgeface-int8-track-baseline", c) for c in cores}
        if all(v is not None for v in pairs.values()):
            cmp = ", ".join(f"{c} core{'s' if c > 1 else ''} {pairs[c]:.2f}x" for c in cores)
            notes.append(f"This checkout's INT8 tracking row over the {base['label']} row (same run, same frames; the "
                         "two timed as a pair, each in its own process on the same cores, their timed passes taken in "
                         f"turn; the median ratio of the passes taken one after the other): {cmp}.")
        else:
            cmp = ", ".join(f"{c} core{'s' if c > 1 else ''} {now[c] / then[c]:.2f}x" for c in cores)
            notes.append(f"This checkout's INT8 tracking row over the {base['label']} row (same run, same frames): {cmp}.")
    if "edgeface-int8-floor25" in t:
        notes.append("The floor row runs the INT8 models alone on the crops edgeface's tracking made (recorded in the "
                     "untimed warm-up pass): crop + resize, regressor, float head, and a scan every 25 frames on the "
                     "same scan path, with no tracking, decoding, pose, smoothing or results. No tracking pipeline on "
                     "these models with that scan rate can run faster on this machine.")
    start = (m.get("load_avg_start") or [None])[0]
    if loads:
        notes.append(f"1-minute load average before each run: {min(loads):.2f} to {max(loads):.2f} (it counts this "
                     "benchmark's own previous workers: a 2-core run leaves ~2)"
                     + (f"; {start:.2f} before the first run (not a quiet machine: other jobs shared the cores)"
                        if start is not None and start >= 0.7 else "") + ".")
    spread = [max(r["round_fps"]) / min(r["round_fps"]) for r in report.get("results", [])
              if len(r.get("round_fps") or []) > 1 and min(r["round_fps"]) > 0]
    if spread:
        notes.append(f"Spread between rounds of one system (fastest / slowest round): {min(spread):.2f}x to "
                     f"{max(spread):.2f}x, what the ratios between rows can be trusted to.")
    for s in report.get("skipped", []):
        notes.append(f"Skipped {s['system']}: {s['reason']}.")
    for r in report.get("results", []):
        if "error" in r:
            notes.append(f"Failed {r['system']} on {r['cores_requested']} core(s): {r['error']}.")
    return notes


LIVE_HEADERS = ["camera", "cores", "frames", "results", "dropped", "latency p50 ms", "latency p99 ms",
                "target p99 (1 frame + 2 ms)"]


def live_rows(report: dict) -> List[List[str]]:
    out = []
    for r in report.get("live", []):
        if "error" in r:
            continue
        target = r["period_ms"] + 2.0
        ok = r["dropped"] == 0 and r["latency_p99_ms"] is not None and r["latency_p99_ms"] <= target
        out.append([f"sim {r['fps']:g} fps", str(r["cores_requested"]), str(r["frames"]), str(r["results"]),
                    str(r["dropped"]), f"{r['latency_p50_ms']:.1f}", f"{r['latency_p99_ms']:.1f}",
                    f"{target:.1f} ({'met' if ok else 'missed'})"])
    return out


def peers_table(report: dict):
    from rich.table import Table

    tab = Table(title="edgeface vs upstream 3DDFA_V2 and MediaPipe (same frames, decode excluded)")
    for i, h in enumerate(headers(report)):
        tab.add_column(h, justify="left" if i == 0 else "right")
    for r in rows(report):
        tab.add_row(*r)
    tab.caption = "\n".join(_notes(report))
    return tab


def live_table(report: dict):
    from rich.table import Table

    tab = Table(title="live: simulated camera -> capture thread -> LIVE_STREAM (edgeface INT8)")
    for i, h in enumerate(LIVE_HEADERS):
        tab.add_column(h, justify="left" if i == 0 else "right")
    for r in live_rows(report):
        tab.add_row(*r)
    return tab


def peers_markdown(report: dict, title: str = "edgeface peer benchmark") -> str:
    parts = [f"# {title}", _md_table(headers(report), rows(report)), "\n".join(f"- {n}" for n in _notes(report))]
    if live_rows(report):
        parts += ["## Live camera path (capture-to-result latency)",
                  _md_table(LIVE_HEADERS, live_rows(report)),
                  "The sample video delivered on a real clock (`sim:samples:obama@FPS`), read by the capture thread "
                  "(latest-frame policy) into `FaceAligner` LIVE_STREAM; latency = result callback time minus the "
                  "frame's availability time; dropped = frames that never produced a result."]
    return "\n\n".join(parts) + "\n"


def plot_peers(report: dict, dest: Path) -> Path:
    """Horizontal bars: fps per system at each core count (log scale), value labels."""
    plt = _pyplot()
    t = fps_table(report)
    systems = [k for k in report.get("systems", {}) if k in t]
    if not systems:
        raise EdgefaceError("the peer report has no results to plot")
    cores = report.get("cores", [1, 2])
    fig, ax = plt.subplots(figsize=(10, 0.36 * len(systems) * len(cores) + 1.6))
    h = 0.8 / len(cores)
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
    for j, c in enumerate(cores):
        ys = [i + (j - (len(cores) - 1) / 2) * h for i in range(len(systems))]
        vals = [t[s].get(c, 0.0) for s in systems]
        ax.barh(ys, vals, height=h * 0.92, color=colors[j % len(colors)], label=f"{c} core{'s' if c > 1 else ''}")
        for y, v in zip(ys, vals):
            if v:
                ax.text(v * 1.03, y, f"{v:.0f}", va="center", fontsize=8)
    ax.set_yticks(range(len(systems)))
    ax.set_yticklabels([report["systems"][s]["label"] for s in systems], fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("frames per second (log scale), decode excluded")
    ax.set_xlim(right=max(max(v.values()) for v in t.values()) * 2.2)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.07), ncol=len(cores), frameon=False, fontsize=9)  # below: over no bar
    ax.set_title(f"{report.get('video', {}).get('video', 'video')}: edgeface vs upstream 3DDFA_V2 and MediaPipe", fontsize=10)
    fig.tight_layout()
    return _save_png(fig, dest)
