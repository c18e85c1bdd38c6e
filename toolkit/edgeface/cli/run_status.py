"""What `edgeface run` shows on the terminal: the live status line (`LiveStatus`) and the summary after the run
(`summary_lines`)."""

from __future__ import annotations

import collections

from rich.console import Console
from rich.live import Live
from rich.text import Text

from edgeface.cli.consoles import safe_text

STAGES = ("detect", "regress", "decode", "dense", "total")
LOOP_STAGES = ("draw", "output")  # the run loop's own work per frame (app.run_loop)


class LiveStatus:
    """A one-line live status on the terminal (rich Live): frame, fps, per-stage ms, faces.

    Per-stage times are means over the last `window` frames (the detector runs only on some
    frames, so single-frame values jump). Does nothing when the console is not a terminal."""

    def __init__(self, console: Console, enabled: bool = True, window: int = 30):
        self.console = console
        self.enabled = enabled and console.is_terminal
        self._times: collections.deque = collections.deque(maxlen=window)
        self._live = None

    def __enter__(self) -> "LiveStatus":
        if self.enabled:
            self._live = Live(Text("starting..."), console=self.console, transient=True, refresh_per_second=4)
            self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)
            self._live = None

    def line(self, s) -> str:
        self._times.append(s.time_ms)
        n = len(self._times)
        mean = {k: sum(t.get(k, 0.0) for t in self._times) / n for k in (*STAGES, *LOOP_STAGES)
                if any(k in t for t in self._times)}
        count = f"frame {s.frame + 1}" + (f"/{s.total}" if s.total else "")
        stages = "  ".join(f"{'models' if k == 'total' else k} {v:.1f}" for k, v in mean.items())
        dropped = "" if getattr(s, "dropped", None) is None else f"  dropped {s.dropped}"
        return (f"{count}  {s.fps:5.1f} fps  {stages} ms  faces {s.faces}  detector runs {s.detector_runs}{dropped}"
                "  (Ctrl-C stops)")

    def __call__(self, s) -> None:
        if self._live is None:
            return
        self._live.update(safe_text(self.line(s)))  # plain text, control characters escaped


def _fmt_ms(mean_ms: dict, detector_runs: int, frames: int) -> str:
    parts = []
    for k in STAGES:
        if k not in mean_ms:
            continue
        s = f"{k} {mean_ms[k]:.2f}"
        if k == "detect" and detector_runs:
            s += f" ({mean_ms[k] * frames / detector_runs:.1f} per run)"
        parts.append(s)
    return ", ".join(parts)


def _loop_line(s) -> str:
    """Where each frame's wall time went: models (their stages), drawing, output, and the rest."""
    models = _fmt_ms({k: v for k, v in s.mean_ms.items() if k != "total"}, s.detector_runs, s.frames)
    loop = getattr(s, "loop_ms", None) or {}
    if not loop:
        return "mean ms per frame: " + models
    line = f"ms per frame {loop['frame']:.1f}: models {s.mean_ms.get('total', 0.0):.2f} ({models})"
    line += f", draw {loop['draw']:.2f}, output {loop['output']:.2f}"
    if s.live:  # the models run on the live worker thread, beside drawing and output
        return line + f", waiting for results {loop['wait']:.2f}"
    rest = loop["wait"] - s.mean_ms.get("total", 0.0)
    return line + f", input and the rest {max(0.0, rest):.2f}"


def summary_lines(summary) -> list:
    s = summary
    lines = [
        f"{s.frames} frames from {s.source}: {s.faces} faces on {s.frames_with_faces} frames, "
        f"detector on {s.detector_runs} frames, regressor {s.regressor_runs} runs",
        f"{s.fps:.1f} fps over {s.elapsed_s:.2f} s (wall time: input, models, drawing, output); "
        + _loop_line(s),
    ]
    if getattr(s, "skipped", 0):
        lines.append(f"skipped {s.skipped} file(s) that could not be read (see the warnings above)")
    if s.live:  # frames the camera delivered that the pipeline never saw (app.live_feed)
        lv = s.live
        line = (f"live: {lv['delivered']} frames from the camera, {lv['results']} results, {lv['dropped']} dropped "
                f"({lv['dropped_capture']} replaced in the capture slot, {lv['dropped_busy']} while the aligner was busy"
                + (f", {lv['missed_by_reader']} passed by the reader" if lv["missed_by_reader"] else "")
                + "; latest-frame policy: the pipeline never works on a stale frame)")
        if lv["latency_p50_ms"] is not None:
            line += f"; capture-to-result latency p50 {lv['latency_p50_ms']:.1f} ms, p99 {lv['latency_p99_ms']:.1f} ms"
        lines.append(line)
    if s.stopped != "end of input":
        lines.append(f"stopped: {s.stopped}")
    return lines
