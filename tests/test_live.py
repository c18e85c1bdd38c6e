"""The live path: a simulated camera on a real clock, the capture thread's latest-frame policy,
and `edgeface run` / LIVE_STREAM on it (real models, real video frames)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from edgeface.errors import EdgefaceError
from edgeface.io.capture import LatestFrameCapture
from edgeface.io.sim_camera import SimCamera, parse_sim_spec
from edgeface.io.sources import open_source


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
    assert 11 / 60 * 0.9 <= took <= 11 / 60 + 0.5
    ts = np.array([f.timestamp_s for f in got])
    assert np.all(np.diff(ts) >= 1 / 60 - 1e-9)  # delivery times on the camera's own grid


def test_slow_reader_gets_the_latest_frame(frames):
    """A consumer slower than the camera never sees a stale frame; the frames it skipped are counted."""
    cam = SimCamera(frames[:30], fps=60)
    seen = []
    with LatestFrameCapture(cam) as cap:
        for f in cap:
            seen.append(f.timestamp_s)
            time.sleep(0.05)  # 3 camera periods per frame
        dropped, captured = cap.dropped, cap.captured
    assert 5 <= len(seen) <= 16
    assert captured + cam.missed == 30 and dropped + cam.missed >= 30 - len(seen) - 1
    assert np.all(np.diff(seen) >= 2 / 60 - 1e-6)  # it jumped ahead to the newest frame every time


def test_sim_spec():
    assert parse_sim_spec("sim:samples:obama@30") == ("samples:obama", 30.0)
    assert parse_sim_spec("sim:clip.mp4") == ("clip.mp4", None)
    with pytest.raises(EdgefaceError, match="rate"):
        parse_sim_spec("sim:clip.mp4@0")
    with pytest.raises(EdgefaceError, match="no video"):
        open_source("sim:/nonexistent.mp4@30")


def test_live_stream_at_30_fps(converted_home):
    """LIVE_STREAM on the simulated camera at 30 fps: every frame accounted for (result or counted drop)."""
    from edgeface.bench.live import live_run

    r = live_run(30, "int8", frames=60, root=converted_home)
    assert r["frames"] == 60 and r["results"] + r["dropped"] == 60
    assert r["results"] >= 30 and r["latency_p50_ms"] is not None and r["latency_p50_ms"] < 1000 / 30 * 3


def test_run_on_sim_camera(converted_home, tmp_path, capsys):
    import json

    from inprocess_cli import cli

    jsonl = tmp_path / "live.jsonl"
    code, out, err = cli(capsys, "run", "--source", "sim:samples:obama@30", "--max-frames", "30", "--precision", "int8",
                         "--json", jsonl, "--quiet")
    assert code == 0, err
    lines = [json.loads(s) for s in jsonl.read_text().splitlines()]
    assert 10 <= len(lines) <= 30 and all(len(d["faces"]) == 1 for d in lines)
    assert "capture:" in out and "dropped" in out
