"""benchmarks/memory_limit.py (issue 25): the Zero 2 W profile's real `edgeface run` inside a cgroup v1 memory
limit after dropping the page cache, and the cgroup removed afterwards. System tier: needs root and a writable
cgroup v1 memory hierarchy (skipped with the reason otherwise); ~15 s."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CGROUP_ROOT = Path("/sys/fs/cgroup/memory")


def _why_not() -> str:
    if not (CGROUP_ROOT / "cgroup.procs").exists():
        return f"no cgroup v1 memory hierarchy at {CGROUP_ROOT}"
    if not os.access(CGROUP_ROOT, os.W_OK) or not os.access("/proc/sys/vm/drop_caches", os.W_OK):
        return "memory cgroups / drop_caches are not writable here (needs root)"
    return ""


@pytest.mark.system
@pytest.mark.skipif(bool(_why_not()), reason=_why_not() or "-")
def test_zero2w_run_finishes_under_a_300_mb_limit_and_the_cgroup_is_removed(tmp_path, converted_home, samples):
    home = tmp_path / "home"  # as tests/test_board_report.py: the session's converted models and samples
    home.mkdir()
    for sub in ("tflite", "files", "assets"):
        (home / sub).symlink_to(converted_home / sub)
    env = dict(os.environ, EDGEFACE_HOME=str(home))
    r = subprocess.run([sys.executable, str(REPO / "benchmarks" / "memory_limit.py"), "--limits", "300,0",
                        "--frames", "20", "--trials", "1", "--timeout", "120", "--no-plot", "--out", str(tmp_path / "lim")],
                       capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    rep = json.loads((tmp_path / "lim.json").read_text())
    by = {x["limit_mb"]: x for x in rep["runs"]}
    assert set(by) == {300, 0}
    for x in by.values():  # 300 MB is above the run's working memory and its page cache: it runs through
        assert x["finished"] and not x["oom_killed"] and not x["timed_out"] and x["frames"] == 20 and x["fps"] > 0, x
    assert by[300]["cgroup_peak_mb"] <= 300 and by[300]["major_faults"] > 0  # the cache was dropped: libraries read
    assert not [p for p in CGROUP_ROOT.iterdir() if p.name.startswith("edgeface-memlimit-")]
    md = (tmp_path / "lim.md").read_text()
    assert md.startswith("# Zero 2 W profile under a memory limit\n") and "| 300 MB | 1/1 | 0 | 0 |" in md
