"""Systems timed as a pair (`bench peers --baseline`): real worker processes, each building its system from a module
on its own PYTHONPATH, answering one timed pass per request, the parent asking each in turn."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from edgeface.tools.bench.peers.paired import paired_command, run_paired

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def frames_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("paired") / "frames.npy"
    np.save(path, np.random.default_rng(0).integers(0, 255, (6, 48, 64, 3), dtype=np.uint8))
    return path


def _cmds(frames_file: Path, **kinds) -> dict:
    env = dict(os.environ, PYTHONPATH=str(HERE))
    return {key: (paired_command(frames_file, "paired_peer", [kind]), env) for key, kind in kinds.items()}


def test_each_system_gets_its_passes_in_turn(frames_file):
    cpus = sorted(os.sched_getaffinity(0))[:1]
    res = run_paired(_cmds(frames_file, a="sum", b="sum"), cpus, passes=3, frames=6, timeout_s=60)
    assert list(res) == ["a", "b"]
    for key, other in (("a", "b"), ("b", "a")):
        r = res[key]
        assert "error" not in r, r
        assert len(r["pass_fps"]) == 3 and all(v > 0 for v in r["pass_fps"])
        assert r["frames"] == 6 and r["faces_per_frame"] == 1.0  # what `process` returned, every timed frame
        assert r["paired_with"] == [other] and r["runtime"] == "test sum" and r["cores"] == 1


def test_a_failing_system_is_one_line_and_the_other_goes_on(frames_file):
    cpus = sorted(os.sched_getaffinity(0))
    res = run_paired(_cmds(frames_file, ok="sum", broken="fail", dead="die"), cpus, passes=2, frames=6, timeout_s=60)
    assert res["broken"] == {"error": "RuntimeError: this system cannot start: model file missing (a test)"}
    assert res["dead"]["error"].startswith("the worker exited with code 3")
    assert len(res["ok"]["pass_fps"]) == 2 and res["ok"]["paired_with"] == ["broken", "dead"]
