"""The loop behind `edgeface run`: frames from a source, through a `FaceAligner`, into sinks.

`run(source, sinks, aligner)` takes frames from a `sources` FrameSource (image, folder, video, camera),
gives each to the aligner (`detect` for still images, `detect_for_video` for video frames, with
the frame's timestamp; a LIVE_STREAM aligner gets the newest frame of a live source through
`app.live_feed`: capture thread, `detect_async`, results in order, drops counted), draws the overlay only when a sink needs a picture, writes
every result to the sinks (and an optional MJPEG server), reports live statistics to a
`progress` callback, and stops cleanly at the end of the input, when the camera is lost, when a
window is closed, or on Ctrl-C, SIGTERM or SIGHUP (`app.signals`); sinks are closed (keeping what was written) in every case but
an unexpected error, which aborts them.
"""

from __future__ import annotations

import collections
import dataclasses
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

from edgeface.app.live_feed import LiveFeed
from edgeface.app.signals import stop_on_signals
from edgeface.app.timestamps import frame_timestamp_ms, increasing_ms
from edgeface.errors import EdgefaceError
from edgeface.options import RunningMode
from edgeface.sinks.group import SinkGroup
from edgeface.sinks.jsonl import JsonlSink
from edgeface.sources.capture import LatestFrameCapture
from edgeface.viz.overlay import draw_hud, draw_result


def hud_times(time_ms: dict, draw_ms: float, output_ms: float, fps: float) -> dict:
    """The overlay's milliseconds: what the models took, what drawing and output took (the previous frame's),
    and the whole frame (1000 / fps): the figures add up to what the run did, not just the models."""
    out = {"models": float(time_ms.get("total", 0.0)), "draw": draw_ms, "output": output_ms}
    if fps > 0:
        out["frame"] = 1000.0 / fps
    return out


@dataclass
class LiveStats:
    """What the progress callback gets after each frame."""

    frame: int  # index of the frame just processed
    frames: int  # frames processed so far
    total: Optional[int]  # frames the source will give, when known
    fps: float  # over the last ~30 frames (input, processing and output included)
    time_ms: dict  # this frame's per-stage model times, then "draw" (this frame) and "output" (the previous frame's writes)
    faces: int  # faces in this frame
    detector_runs: int
    elapsed_s: float
    dropped: Optional[int] = None  # live sources: camera frames that got no result so far (None: not live)


@dataclass
class RunSummary:
    source: str
    frames: int
    faces: int  # summed over frames
    frames_with_faces: int
    detector_runs: int
    regressor_runs: int
    elapsed_s: float
    fps: float  # frames / elapsed wall time (input, processing and output included)
    mean_ms: dict  # per frame and stage
    stopped: str  # "end of input" | "interrupted" | "stopped by SIGTERM|SIGHUP" | "window closed" | "camera stopped delivering frames"
    pipeline: dict = field(default_factory=dict)
    skipped: int = 0  # input files that could not be read (a folder's bad images), skipped with a warning
    live: dict = field(default_factory=dict)  # live sources: `app.live_feed.LiveCounts.to_dict()` (frames, drops, latency)
    # where the wall time went, ms per frame: "frame" (elapsed / frames), "wait" (for the next result: reading and
    # decoding the input, and the models unless they run on the live worker thread), "draw" (overlay and dense
    # render), "output" (sinks, the stream, the status line, and closing the outputs: a video's last frames encode then)
    loop_ms: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["elapsed_s"] = round(self.elapsed_s, 3)
        d["fps"] = round(self.fps, 2)
        d["mean_ms"] = {k: round(v, 3) for k, v in self.mean_ms.items()}
        d["loop_ms"] = {k: round(v, 3) for k, v in self.loop_ms.items()}
        return d


def stream_stats(index: int, fps: float, result, draw_ms: float, output_ms: float, live_latencies=None) -> dict:
    """What the stream page shows as text (`sinks.mjpeg`'s /stats.json): frame, fps, per-face id and pose
    (degrees), latency (ms: a camera frame's capture to this picture, else the models and drawing of this
    frame), and where the frame's time went (`hud_times`)."""
    latency = float(result.time_ms.get("total", 0.0)) + draw_ms
    if live_latencies:  # capture -> result (app.live_feed), then drawn
        latency = float(live_latencies[-1]) + draw_ms
    return {"frame": index, "fps": round(fps, 2), "faces": len(result.faces), "latency_ms": round(latency, 1),
            "poses": [{"id": int(f.id), "yaw": round(float(f.pose.yaw), 1), "pitch": round(float(f.pose.pitch), 1),
                       "roll": round(float(f.pose.roll), 1)} for f in result.faces],
            "time_ms": {k: round(v, 2) for k, v in hud_times(result.time_ms, draw_ms, output_ms, fps).items()}}


def _needs_picture(sinks: Sequence, server) -> bool:
    return server is not None or any(getattr(s, "needs_picture", not isinstance(s, JsonlSink)) for s in sinks)


def _video_results(source, aligner, still: bool, fps_in: Optional[float]):
    """(frame, result) of every frame, one `detect` / `detect_for_video` call each."""
    last_ts = None
    for frame in source:
        if still:
            yield frame, aligner.detect(frame.image, source=frame.source)
        else:  # timestamps must increase: a repeated one (a broken container) moves on by 1 us
            last_ts = increasing_ms(frame_timestamp_ms(frame, fps_in), last_ts)
            yield frame, aligner.detect_for_video(frame.image, last_ts, source=frame.source)


def _live_feed(source, aligner):
    """The `app.live_feed.LiveFeed` of a LIVE_STREAM aligner (None in the other modes)."""
    if aligner.running_mode is not RunningMode.LIVE_STREAM:
        return None
    feed = aligner.options.result_callback
    if not isinstance(feed, LiveFeed) or not isinstance(source, LatestFrameCapture):
        raise EdgefaceError("run() with a live_stream FaceAligner needs result_callback=app.live_feed.LiveFeed() "
                            "and a live source read by sources.capture.LatestFrameCapture")
    return feed


def run(source, sinks: Sequence, aligner, progress: Optional[Callable[[LiveStats], None]] = None,
        server=None, hud: bool = True, style=None, render_fn: Optional[Callable] = None) -> RunSummary:
    """Process every frame of `source` (a `frames.FrameSource`) with `aligner` (a `FaceAligner` in IMAGE
    mode for still sources, VIDEO mode for video files; LIVE_STREAM for a live source wrapped in
    `sources.capture.LatestFrameCapture`, the aligner's `result_callback` an `app.live_feed.LiveFeed`)
    and write each result to `sinks`, in frame order, on the calling thread.

    Annotated pictures are drawn only when a sink other than JSONL (or `server`, an
    `sinks.mjpeg.MjpegServer`) needs them. Stops at the end of the input (a lost camera ends its
    source), when a window sink reports `stopped` (q / Esc), or on Ctrl-C; the sinks are then
    closed, keeping what was written. Any other error aborts the sinks and propagates.
    The source and the server are the caller's to close. `render_fn(image, result) -> image`
    draws extra layers (the dense mesh, `viz.dense_overlay.DenseOverlay`) under the landmark overlay.
    """
    feed = _live_feed(source, aligner)
    group = SinkGroup(list(sinks))
    picture = _needs_picture(group.sinks, server)
    still = bool(getattr(source, "is_still", False))
    total = getattr(source, "frame_count", None)
    fps_in = getattr(source, "fps", None)
    aligner.reset()
    c = aligner.pipeline.counters
    start = (c.frames, c.faces, c.frames_with_faces, c.detector_runs, c.regressor_runs, dict(c.time_ms))
    t0 = time.perf_counter()
    stamps: collections.deque = collections.deque(maxlen=31)
    stopped = "end of input"
    fps = 0.0
    wait_s = draw_s = output_s = 0.0
    draw_ms = output_ms = 0.0  # the latest frame's, for the overlay and the status line
    t_prev = t0  # when the previous frame's work ended (the wait for the next result starts)
    pairs = feed.stream(source, aligner, fps_in) if feed is not None else _video_results(source, aligner, still, fps_in)
    signals = stop_on_signals()  # SIGTERM / SIGHUP stop the run like Ctrl-C (edgeface.app.signals)
    sig = signals.__enter__()
    try:
        for frame, result in pairs:
            now = time.perf_counter()
            wait_s += now - t_prev
            stamps.append(now)
            if len(stamps) > 1:
                fps = (len(stamps) - 1) / max(stamps[-1] - stamps[0], 1e-9)
            elif now > t0:
                fps = 1.0 / (now - t0)
            annotated = None
            if picture:
                base = render_fn(frame.image, result) if render_fn is not None else frame.image
                annotated = draw_result(base, result, style=style, hud=False, in_place=base is not frame.image,
                                        dense_points=render_fn is None)
                if hud:
                    draw_hud(annotated, fps=fps, time_ms=hud_times(result.time_ms, draw_ms, output_ms, fps), style=style)
            t_drawn = time.perf_counter()
            draw_ms = (t_drawn - now) * 1000.0
            draw_s += t_drawn - now
            with sig.hold():  # a stop signal never cuts a frame's writes in two
                group.write(frame, result, annotated)
                if server is not None:
                    server.publish(annotated, stream_stats(frame.index, fps, result, draw_ms, output_ms,
                                                           None if feed is None else feed.stats.latency_ms))
            if progress is not None:
                progress(LiveStats(frame=frame.index, frames=c.frames - start[0], total=total, fps=fps,
                                   time_ms={**result.time_ms, "draw": draw_ms, "output": output_ms},
                                   faces=len(result.faces), detector_runs=c.detector_runs - start[3],
                                   elapsed_s=now - t0, dropped=None if feed is None else feed.stats.dropped))
            t_prev = time.perf_counter()
            output_ms = (t_prev - t_drawn) * 1000.0
            output_s += t_prev - t_drawn
            if group.stopped:
                stopped = "window closed"
                break
    except KeyboardInterrupt:
        stopped = f"stopped by {sig.stopped_by}" if sig.stopped_by not in ("", "SIGINT") else "interrupted"
    except BaseException:
        sig.finishing()
        try:
            group.abort()
        finally:
            signals.__exit__(None, None, None)
        raise
    finally:
        pairs.close()  # a live stream stops taking frames (the capture thread is the caller's to close)
    sig.finishing()
    t_close = time.perf_counter()
    try:
        group.close()  # a video's encoder flushes its last frames here: counted in the run's time
    finally:
        signals.__exit__(None, None, None)
    t_end = time.perf_counter()
    output_s += t_end - t_close
    elapsed = t_end - t0
    frames = c.frames - start[0]
    camera = getattr(source, "source", source)  # a live source behind its capture thread
    if stopped == "end of input" and getattr(camera, "kind", "") == "camera":
        limit = getattr(camera, "max_frames", None)
        if limit is None or getattr(source, "captured", frames) < limit:
            stopped = "camera stopped delivering frames"
    sums = {k: v - start[5].get(k, 0.0) for k, v in c.time_ms.items()}
    return RunSummary(
        source=str(getattr(source, "name", "")), frames=frames, faces=c.faces - start[1],
        frames_with_faces=c.frames_with_faces - start[2], detector_runs=c.detector_runs - start[3],
        regressor_runs=c.regressor_runs - start[4], elapsed_s=elapsed, fps=frames / elapsed if elapsed > 0 else 0.0,
        mean_ms={k: v / max(1, frames) for k, v in sums.items()}, stopped=stopped, pipeline=aligner.describe(),
        skipped=len(getattr(source, "skipped", ())), live={} if feed is None else feed.stats.to_dict(),
        loop_ms={k: v * 1000.0 / max(1, frames) for k, v in
                 (("frame", elapsed), ("wait", wait_s), ("draw", draw_s), ("output", output_s))},
    )
