"""A bundle packed on this x86 host runs on the emulated arm64 board (tests/arm, step "bundle"):
unpacked into an empty cache, `edgeface run --bundle` gives the host's results within the INT8
bounds, and a tampered copy is refused. Skipped where the ARM harness cannot run (see test_arm_emulated)."""

from __future__ import annotations

import os
import re

import pytest

from test_arm_emulated import RUN_SH, _run_harness, skip_reason


@pytest.mark.system
def test_x86_bundle_runs_on_emulated_arm64(request, tmp_path):
    reason = skip_reason()
    if reason:
        pytest.skip(f"ARM emulation harness not run: {reason}")
    home = request.getfixturevalue("converted_home")
    from edgeface.bundle import pack

    pack(home / "bundles" / "rpi4.edgeface", target="rpi4", root=home)
    env = dict(os.environ, EDGEFACE_ARM_STEP_TIMEOUT=os.environ.get("EDGEFACE_ARM_STEP_TIMEOUT", "300"))
    cmd = ["bash", str(RUN_SH), "--edgeface-home", str(home), "--out", str(tmp_path / "arm-out"), "bundle"]
    rc, text = _run_harness(cmd, tmp_path / "arm-harness.log", env)
    tail = "\n".join(text.splitlines()[-40:])
    m = re.search(r"^(\d+) passed, (\d+) failed$", text, flags=re.M)
    assert rc == 0 and m and int(m.group(2)) == 0 and int(m.group(1)) >= 1, tail
    assert "tampered bundle refused" in text and "bundle.int8.jsonl" in text, tail
