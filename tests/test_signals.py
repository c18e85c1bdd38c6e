"""SIGTERM (systemctl stop) and SIGHUP (a closed SSH session) stop `edgeface run` like Ctrl-C:
the video is finalized and holds every frame processed before the signal, the JSONL is renamed
into place, the summary is printed, exit code 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import cv2
import pytest

from edgeface.app.signals import StopSignal, stop_on_signals


def test_stop_on_signals_raises_once_then_ignores():
    with stop_on_signals() as state:
        with pytest.raises(StopSignal) as e:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
        assert isinstance(e.value, KeyboardInterrupt) and e.value.name == "SIGTERM"
        os.kill(os.getpid(), signal.SIGHUP)  # while finishing: noted, not raised
        time.sleep(0.05)
        assert state.received == ["SIGTERM", "SIGHUP"] and state.stopped_by == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # handlers restored


def _frames(path):
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_signal_during_run_keeps_a_playable_video(sig, samples, converted_home, tmp_path):
    video, jsonl = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    part = tmp_path / "out.jsonl.part"
    proc = subprocess.Popen([sys.executable, "-m", "edgeface", "run", "--source", str(samples["obama"]),
                             "--save", str(video), "--json", str(jsonl), "--precision", "fp32"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if part.exists() and part.read_text().count("\n") >= 20:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert f"stopped: stopped by {signal.Signals(sig).name}" in out
    lines = jsonl.read_text().splitlines()
    assert 20 <= len(lines) < 158  # stopped before the end of the video
    assert not part.exists() and not list(tmp_path.glob(".*.part*"))
    assert _frames(video) == len(lines)  # every frame processed before the signal is in the video


def test_a_signal_inside_hold_waits_for_the_end_of_the_block():
    done = []
    with stop_on_signals() as state:
        with pytest.raises(StopSignal):
            with state.hold():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)
                done.append("first sink")  # not interrupted
                done.append("second sink")
    assert done == ["first sink", "second sink"] and state.stopped_by == "SIGTERM"
