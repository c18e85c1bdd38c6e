"""Issue 25 on the emulated boards: the camera path with the real packages, and `edgeface tune`.

`tests/arm/run.sh --release R --no-host camera board_tune` per release (guest-only steps; their checks are
tests/arm/steps/camera_check.py and board_tune_check.py, whose own failure cases tests/arm/test_board_steps.py
covers):
- trixie (today's Raspberry Pi OS base): apt's python3-libcamera + pip's picamera2 in a
  `--system-site-packages` venv import for real; the guest has no camera, so `--camera` (picamera2 and auto)
  and `edgeface doctor` must say that libcamera found none, never fall back silently;
- bookworm: a Debian extension module built against apt's numpy 1.24 beside pip's numpy 2 (the ABI break
  Pi owners hit): `--camera` and `doctor` must name the mismatch and the fix, and the documented pins fix it;
- both: `edgeface tune` measures the board and writes the local profile, and `edgeface run --target auto`
  then uses it (a smoke run: emulated timings mean nothing).
Skipped where the harness cannot run (see test_arm_emulated.skip_reason).
"""

from __future__ import annotations

import os
import re

import pytest

from test_arm_emulated import RUN_SH, TIMEOUT_S, _run_harness, skip_reason

STEPS = ("camera", "board_tune")
EXPECT = {  # a line each step's output must hold, per release (besides the step's own checks passing)
    "trixie": ("camera/picamera2_backend.txt", "libcamera found no camera"),
    "bookworm": ("camera/numpy_abi.txt", "numpy ABI mismatch"),
}


@pytest.mark.system
@pytest.mark.parametrize("release", ("bookworm", "trixie"))
def test_camera_path_and_tune_on_the_emulated_board(request, tmp_path, release):
    reason = skip_reason()
    if reason:
        pytest.skip(f"ARM emulation harness not run: {reason}")
    converted_home = request.getfixturevalue("converted_home")
    out = tmp_path / "arm-out"
    env = dict(os.environ, EDGEFACE_ARM_STEP_TIMEOUT=os.environ.get("EDGEFACE_ARM_STEP_TIMEOUT", "600"))
    cmd = ["bash", str(RUN_SH), "--release", release, "--edgeface-home", str(converted_home), "--extras", "video",
           "--no-host", "--out", str(out), *STEPS]
    rc, text = _run_harness(cmd, tmp_path / "arm-board.log", env)
    tail = "\n".join(text.splitlines()[-60:])
    assert rc is not None, f"the ARM harness did not finish within {TIMEOUT_S:.0f} s:\n{tail}"
    m = re.search(r"^(\d+) passed, (\d+) failed$", text, flags=re.M)
    assert m and rc == 0 and (int(m.group(1)), int(m.group(2))) == (len(STEPS), 0), \
        f"run.sh exited {rc} ({m.group(0) if m else 'no closing line'}):\n{tail}"
    rel, needle = EXPECT[release]
    said = (out / "arm" / rel).read_text(encoding="utf-8", errors="replace")
    assert needle in said and "Traceback" not in said, said
    profile = (out / "arm" / "board_tune" / "local.toml").read_text(encoding="utf-8")
    assert 'name = "local"' in profile, profile
