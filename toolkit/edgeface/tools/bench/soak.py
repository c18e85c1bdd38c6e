"""Soak (`edgeface bench soak`): many frames through the whole `edgeface run` loop, with RSS and open
descriptors sampled.

`soak(frames)` loops the sample video (decoded afresh on each pass, so the decoder is opened and
closed again and again) through a `FaceAligner` in VIDEO mode and `app.run_loop.run`, with a JSONL
sink (flushed per frame) and the MJPEG server publishing every annotated frame to one client
reading the stream: all that a headless board does all day. Every `every` frames it records the
process's resident memory and open file descriptors. The verdict compares the end with the end of
the warm-up (the first `warmup` of the frames): growth <= `max_growth_mb` MB and 0 descriptors. RSS growth is the median over the last tenth of
the run minus the median over the tenth just after the warm-up (a transient peak is not a leak;
the peak is reported too); descriptor growth is the most ever open after the warm-up minus the
level just after it.

`run_soak` is the benchmark (`edgeface bench soak`): `soak` on the sample video with a temporary JSONL
file, as a report dict (format `FORMAT`) with the machine, the load and the wall time; `soak_table`,
`soak_markdown` and `plot_soak` render a report, `load_report` reads one back.
"""

from __future__ import annotations

import http.client
import platform
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional

from edgeface.aligner import FaceAligner
from edgeface.app.run_loop import run
from edgeface.boards.machine import current_rss_mb, load_avg, open_fd_count
from edgeface.errors import EdgefaceError, OptionsError
from edgeface.frames import FrameSource
from edgeface.hub.assets import sample_path
from edgeface.options import FaceAlignerOptions, RunningMode
from edgeface.sinks.jsonl import JsonlSink
from edgeface.sinks.mjpeg import MjpegServer
from edgeface.sources.video import open_video
from edgeface.tools.bench.plots import _pyplot, _save_png
from edgeface.tools.bench.report import _md_table, read_report

MAX_GROWTH_MB = 5.0
FORMAT = "edgeface-soak/1"
FRAMES = 10_000  # the benchmark's length; the test suite runs 1,000 (`--quick`)


class LoopedVideo(FrameSource):
    """A video file played again and again (reopened each pass), timestamps increasing throughout."""

    kind = "video"

    def __init__(self, path: Path, frames: int):
        super().__init__(frames)
        self.path = Path(path)
        self.name = f"{self.path.name} (looped)"
        self.frame_count = frames
        self.passes = 0

    def _frames(self):
        offset = 0.0
        while True:
            last = 0.0
            with open_video(self.path) as src:
                self.fps = src.fps
                for f in src:
                    ts = f.timestamp_ms / 1000.0 if f.timestamp_ms is not None else f.index / (src.fps or 30.0)
                    last = ts
                    yield f.image, (offset + ts) * 1000.0, f.source  # ms, as every FrameSource
            self.passes += 1
            offset += last + 1.0 / (self.fps or 30.0)


@dataclass
class SoakReport:
    frames: int
    passes: int
    every: int
    warmup_frames: int
    samples: list = field(default_factory=list)  # [frame, rss MB, open fds]
    fps: float = 0.0
    client_bytes: int = 0

    def _window(self, lo: int, hi: int, col: int) -> float:
        vals = sorted(s[col] for s in self.samples if lo <= s[0] <= hi)
        return vals[len(vals) // 2]

    def _level(self, col: int) -> tuple:
        """(level just after the warm-up, level at the end): medians over a tenth of the run each,
        so that a transient peak (a decoder reopened) is not taken for growth."""
        tenth = max(self.every, self.frames // 10)
        return (self._window(self.warmup_frames, self.warmup_frames + tenth, col),
                self._window(self.frames - tenth, self.frames, col))

    @property
    def rss_growth_mb(self) -> float:
        start, end = self._level(1)
        return round(end - start, 2)

    @property
    def rss_peak_over_start_mb(self) -> float:
        return round(max(s[1] for s in self.samples if s[0] >= self.warmup_frames) - self._level(1)[0], 2)

    @property
    def fd_growth(self) -> int:
        start = self._level(2)[0]
        return int(max(s[2] for s in self.samples if s[0] >= self.warmup_frames) - start)

    def ok(self, max_growth_mb: float = MAX_GROWTH_MB) -> bool:
        return self.rss_growth_mb <= max_growth_mb and self.fd_growth <= 0

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(rss_growth_mb=self.rss_growth_mb, rss_peak_over_start_mb=self.rss_peak_over_start_mb,
                 fd_growth=self.fd_growth, ok=self.ok(),
                 limit={"rss_growth_mb": MAX_GROWTH_MB, "fd_growth": 0})
        return d


def _stream_reader(port: int, stop: threading.Event, count: list) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/stream.mjpg")
        resp = conn.getresponse()
        while not stop.is_set():
            chunk = resp.read1(65536)
            if not chunk:
                break
            count[0] += len(chunk)
    except OSError:
        pass
    finally:
        conn.close()


def soak(frames: int, video: Path, jsonl: Path, precision: str = "fp32", every: int = 100, warmup: float = 0.1,
         progress: Optional[Callable[[int, float, int], None]] = None) -> SoakReport:
    """Run `frames` frames of `video` (looped) through the run loop; sample RSS and fds every `every` frames."""
    if frames < 10 * every:
        raise OptionsError(f"soak needs at least {10 * every} frames to sample every {every}")
    if current_rss_mb() is None or open_fd_count() is None:
        raise OptionsError("soak samples /proc/self: it runs on Linux")
    report = SoakReport(frames=frames, passes=0, every=every, warmup_frames=int(frames * warmup))
    opts = FaceAlignerOptions.from_keywords(precision=precision, running_mode=RunningMode.VIDEO)

    def sample(s) -> None:
        if s.frames % every == 0:
            rss, fds = current_rss_mb(), open_fd_count()
            report.samples.append([s.frames, round(rss, 2), fds])
            if progress is not None:
                progress(s.frames, rss, fds)

    received, stop = [0], threading.Event()
    src = LoopedVideo(video, frames)
    with FaceAligner.create_from_options(opts) as aligner, MjpegServer("127.0.0.1", 0) as server:
        reader = threading.Thread(target=_stream_reader, args=(server.port, stop, received), daemon=True)
        reader.start()
        try:
            summary = run(src, [JsonlSink(jsonl)], aligner, progress=sample, server=server)
        finally:
            stop.set()
            server.close()
            reader.join(timeout=15)
    report.passes, report.fps, report.client_bytes = src.passes, round(summary.fps, 2), received[0]
    return report


def run_soak(frames: int = FRAMES, precision: str = "fp32", video: Optional[Path] = None,
             progress: Optional[Callable[[int, float, int], None]] = None) -> dict:
    """The soak benchmark's report (JSON dict, format `FORMAT`): `soak` of `frames` frames of `video` (default:
    the sample obama.mp4) with a temporary JSONL file, plus `precision`, `machine`, `load_avg_end` (1, 5,
    15 min) and `seconds` (wall time of the run)."""
    t0 = time.time()
    with tempfile.TemporaryDirectory() as d:
        rep = soak(frames, Path(video) if video else sample_path("obama"), Path(d) / "soak.jsonl", precision=precision,
                   progress=progress)
    out = {"format": FORMAT, **rep.to_dict()}
    out.update(precision=precision, machine=platform.machine(), load_avg_end=load_avg(), seconds=round(time.time() - t0, 1))
    return out


def load_report(path: Path) -> dict:
    """A saved soak report (`edgeface bench soak --json`); a one-line error names the problem."""
    report = read_report(Path(path), FORMAT, "soak")
    if not report.get("samples"):
        raise EdgefaceError(f"{path} is not a soak report (no samples): make one with edgeface bench soak --json")
    return report


SOAK_HEADERS = ["frames", "passes", "fps", "RSS growth MB", "RSS peak MB", "fd growth", "verdict"]


def soak_row(report: dict) -> list:
    """The one row of a soak report's table (`SOAK_HEADERS`): growths after the warm-up, against the limits."""
    lim = report.get("limit", {"rss_growth_mb": MAX_GROWTH_MB, "fd_growth": 0})
    verdict = (f"ok (<= {lim['rss_growth_mb']:g} MB, {lim['fd_growth']} fds)" if report["ok"] else
               f"FAIL (limit {lim['rss_growth_mb']:g} MB, {lim['fd_growth']} fds)")
    return [str(report["frames"]), str(report["passes"]), f"{report['fps']:.1f}", f"{report['rss_growth_mb']:+.2f}",
            f"{report['rss_peak_over_start_mb']:+.2f}", f"{report['fd_growth']:+d}", verdict]


def soak_table(report: dict):
    """A rich table of `soak_row`."""
    from rich.table import Table

    tab = Table(title=f"soak: the sample video looped through the run loop ({report.get('precision', '?')})")
    for i, h in enumerate(SOAK_HEADERS):
        tab.add_column(h, justify="left" if i == len(SOAK_HEADERS) - 1 else "right")
    tab.add_row(*soak_row(report))
    return tab


def soak_markdown(report: dict, title: str = "edgeface soak") -> str:
    """The table of `soak_row` as Markdown, under `title`."""
    load = report.get("load_avg_end")
    about = (f"{report.get('precision', '?')} on {report.get('machine', '?')}, {report.get('seconds', '?')} s, load average "
             f"at the end {', '.join(map(str, load)) if load else 'unknown'}; RSS and open fds every {report['every']} "
             f"frames, growth measured after the warm-up (the first {report['warmup_frames']} frames).")
    return (f"# {title}\n\n{about}\n\n"
            + _md_table(SOAK_HEADERS, [soak_row(report)], left={len(SOAK_HEADERS) - 1}) + "\n")


def plot_soak(report: dict, dest: Path) -> Path:
    """RSS (MB) and open descriptors against frames, the warm-up shaded, as a compact PNG."""
    plt = _pyplot()
    f = [s[0] for s in report["samples"]]
    fig, (a, b) = plt.subplots(2, 1, figsize=(7, 4.6), sharex=True)
    a.plot(f, [s[1] for s in report["samples"]], color="#1f77b4")
    a.set_ylabel("RSS (MB)")
    a.set_title(f"soak: {report['frames']} frames, RSS growth after warm-up {report['rss_growth_mb']:+.2f} MB "
                f"(limit {MAX_GROWTH_MB:g}; peak {report['rss_peak_over_start_mb']:+.2f}), fds {report['fd_growth']:+d}",
                fontsize=9)
    b.plot(f, [s[2] for s in report["samples"]], color="#d62728")
    b.set_ylabel("open fds")
    b.set_xlabel("frames")
    for ax in (a, b):
        ax.axvspan(0, report["warmup_frames"], color="#cccccc", alpha=0.5, lw=0)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save_png(fig, dest)
