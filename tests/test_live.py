"""The live path: a simulated camera on a real clock, the capture thread's latest-frame policy,
and `edgeface run` / LIVE_STREAM on it (real models, real video frames)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from edgeface.errors import EdgefaceError
from edgeface.sources.capture import LatestFrameCapture
from edgeface.sources.sim_camera import SimCamera, parse_sim_spec
from edgeface.sources.spec import open_source


@pytest.fixture(scope="module")
def frames(samples) -> list:
    with open_source(samples["obama"], max_frames=40) as src:
        return [f.image for f in src]


def test_sim_camera_keeps_its_clock(frames):
    cam = SimCamera(frames[:12], fps=60)
    t0 = time.monotonic()
    got = list(cam)
    took = time.monotonic() - t0
    assert len(got) + cam.missed == 12
    assert took >= 11 / 60 * 0.9  # never ahead of its clock (a busy machine only makes it later: frames missed)
    ts = np.array([f.timestamp_ms for f in got]) / 1000.0
    assert np.all(np.diff(ts) >= 1 / 60 - 1e-9)  # delivery times on the camera's own grid


def test_missed_frames_stop_at_the_end_of_the_video(frames):
    """A reader that falls far behind near the end: the frames it missed are counted, none past the end."""
    cam = SimCamera(frames[:10], fps=200)
    got = []
    for f in cam:
        got.append(f)
        if len(got) == 8:
            time.sleep(0.1)  # 20 periods, with 2 frames left
    assert len(got) + cam.missed == 10 and cam.missed >= 1


def test_slow_reader_gets_the_latest_frame(frames):
    """A consumer slower than the camera never sees a stale frame; the frames it skipped are counted."""
    cam = SimCamera(frames[:30], fps=60)
    seen = []
    with LatestFrameCapture(cam) as cap:
        for f in cap:
            seen.append(f.timestamp_ms / 1000.0)
            time.sleep(0.05)  # 3 camera periods per frame
        dropped, captured = cap.dropped, cap.captured
    assert 1 <= len(seen) <= 16  # at most one frame a 50 ms sleep over the camera's 0.5 s
    assert captured + cam.missed == 30 and dropped + cam.missed >= 30 - len(seen) - 1
    # it jumped ahead to the newest frame every time, but for the last: nothing newer came after that one,
    # so the reader may get it one period after the frame before
    assert np.all(np.diff(seen)[:-1] >= 2 / 60 - 1e-6)


def test_sim_spec():
    assert parse_sim_spec("sim:samples:obama@30") == ("samples:obama", 30.0)
    assert parse_sim_spec("sim:clip.mp4") == ("clip.mp4", None)
    with pytest.raises(EdgefaceError, match="rate"):
        parse_sim_spec("sim:clip.mp4@0")
    with pytest.raises(EdgefaceError, match="no video"):
        open_source("sim:/nonexistent.mp4@30")


def test_live_stream_at_30_fps(converted_home):
    """The bench's live run (LIVE_STREAM on the simulated camera at 30 fps, the `edgeface run` path):
    every frame accounted for (a result or a counted drop), the latencies reported. Whether a machine
    keeps up is a benchmark's figure (`edgeface bench`'s live run), not asserted here."""
    from edgeface.tools.bench.latency.live import live_run

    r = live_run(30, "int8", frames=60, root=converted_home)
    assert r["frames"] == 60 and r["results"] + r["dropped"] == 60
    assert r["dropped"] == r["dropped_capture"] + r["dropped_busy"] + r["missed_by_reader"]
    assert r["results"] >= 1 and 0 < r["latency_p50_ms"] <= r["latency_p99_ms"]
    assert r["max_wait_ms"] >= 0


class _Recorder:
    """A sink that keeps what it was given, and a slow one (a sink that cannot keep up: frames are dropped)."""

    needs_picture = False

    def __init__(self, delay_s: float = 0.0):
        self.delay_s, self.written, self.closed, self.stopped = delay_s, [], False, False

    def write(self, frame, result, annotated=None):
        self.written.append((frame.index, frame.timestamp_ms, result.frame, len(result.faces)))
        if self.delay_s:
            time.sleep(self.delay_s)

    def close(self):
        self.closed = True

    def abort(self):
        self.closed = True


def _live_run(home, fps, frames, sinks, n=40):
    import edgeface
    from edgeface.app.live_feed import LiveFeed
    from edgeface.app.run_loop import run

    feed = LiveFeed()
    cam = SimCamera(frames[:n], fps=fps, name=f"sim@{fps}")
    with edgeface.FaceAligner.create(precision="int8", running_mode="live_stream", result_callback=feed,
                                     cache_root=home) as aligner:
        with LatestFrameCapture(cam) as cap:
            summary = run(cap, sinks, aligner)
    return summary, feed, cam


@pytest.mark.parametrize("fps,delay_s", [(30, 0.0), (30, 0.07), (1000, 0.0)], ids=["30fps", "slow-sink", "1000fps"])
def test_live_stream_run_in_order_newest_frames_drops_counted(converted_home, frames, fps, delay_s):
    """`run` over LIVE_STREAM: results reach the sinks in camera order, each for a frame that was the
    newest when the worker took it, and every camera frame is a result or a counted drop: a sink
    slower than the camera (70 ms a frame at 30 fps) drops frames in the capture slot, a camera
    faster than the pipeline (1000 fps) drops them. Where the drops fall (capture slot or busy aligner)
    and how many there are depend on the machine's speed and load: only their accounting is asserted."""
    rec = _Recorder(delay_s)
    summary, feed, cam = _live_run(converted_home, fps, frames, [rec])
    lv, st = summary.live, feed.stats
    assert rec.closed and len(rec.written) == lv["results"] == summary.frames
    idx = [w[0] for w in rec.written]
    assert idx == sorted(set(idx)) and [w[2] for w in rec.written] == idx  # ordered; result.frame = camera frame
    assert all(w[3] == 1 for w in rec.written)
    assert lv["delivered"] == 40 and lv["results"] + lv["dropped"] == 40
    assert lv["dropped"] == lv["dropped_capture"] + lv["dropped_busy"] + lv["missed_by_reader"]
    assert len(st.wait_ms) == lv["results"] and min(st.wait_ms) >= 0
    if delay_s:  # the sink takes >= 70 ms a frame: at most one result per 70 ms of the 1.3 s video (+ the last)
        assert lv["dropped_capture"] >= 1 and lv["results"] <= 24
    elif fps > 100:  # 40 frames within 40 ms: more than any pipeline here can take
        assert lv["dropped"] >= 1
    else:
        assert lv["results"] >= 1
    assert summary.to_dict()["live"]["dropped"] == lv["dropped"]


def test_live_status_line_shows_drops():
    from rich.console import Console

    from edgeface.cli.run import LiveStatus, summary_lines
    from edgeface.app.run_loop import LiveStats, RunSummary

    line = LiveStatus(Console()).line(LiveStats(frame=40, frames=30, total=None, fps=29.8, time_ms={"total": 3.0},
                                                faces=1, detector_runs=4, elapsed_s=1.3, dropped=11))
    assert "dropped 11" in line
    live = {"delivered": 41, "captured": 41, "results": 30, "dropped": 11, "dropped_capture": 9, "dropped_busy": 2,
            "missed_by_reader": 0, "latency_p50_ms": 3.1, "latency_p99_ms": 9.5, "latency_max_ms": 10.0}
    s = RunSummary(source="sim", frames=30, faces=30, frames_with_faces=30, detector_runs=4, regressor_runs=30,
                   elapsed_s=1.3, fps=23.0, mean_ms={"total": 3.0}, stopped="end of input", live=live)
    text = "\n".join(summary_lines(s))
    assert "41 frames from the camera, 30 results, 11 dropped (9 replaced in the capture slot, 2 while" in text
    assert "p99 9.5 ms" in text


def test_run_on_sim_camera(converted_home, tmp_path, capsys):
    """`edgeface run sim:...@30` runs the live path (LIVE_STREAM): the JSONL has every result, in order."""
    import json

    from inprocess_cli import cli

    jsonl = tmp_path / "live.jsonl"
    code, out, err = cli(capsys, "run", "--source", "sim:samples:obama@30", "--max-frames", "30", "--precision", "int8",
                         "--json", jsonl, "--quiet")
    assert code == 0, err
    lines = [json.loads(s) for s in jsonl.read_text().splitlines()]
    assert 10 <= len(lines) <= 30 and all(len(d["faces"]) == 1 for d in lines)
    frames = [d["frame"] for d in lines]
    assert frames == sorted(set(frames)) and frames[-1] <= 29
    assert f"{len(lines)} frames from sim:obama.mp4@30" in out
    assert f"live: 30 frames from the camera, {len(lines)} results, {30 - len(lines)} dropped" in out


def test_sigterm_stops_a_live_run_cleanly(converted_home, tmp_path):
    """SIGTERM during a live run (a looping camera that never ends by itself): the JSONL keeps every
    result written, one complete record a line, in order; the summary says why it stopped."""
    import json
    import signal
    import subprocess
    import sys

    jsonl, part = tmp_path / "live.jsonl", tmp_path / "live.jsonl.part"
    proc = subprocess.Popen([sys.executable, "-m", "edgeface", "run", "sim:samples:obama@30", "--json", str(jsonl),
                             "--precision", "int8", "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if part.exists() and part.read_text().count("\n") >= 15:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert "stopped: stopped by SIGTERM" in out and "live:" in out
    frames = [json.loads(s)["frame"] for s in jsonl.read_text().splitlines()]
    assert 15 <= len(frames) < 158 and frames == sorted(set(frames)) and not part.exists()
