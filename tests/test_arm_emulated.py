"""The board runtime on arm64 without a board: the whole tests/arm harness, end to end.

`tests/arm/run.sh --release R --edgeface-home <converted cache> --extras video litert models doctor
run aligner`, once per release R: Debian bookworm (Python 3.11) and trixie (Python 3.13, the base of
today's Raspberry Pi OS). It builds (or reuses) an emulated Debian arm64 root filesystem
(qemu-user + binfmt_misc + chroot; natively on an aarch64 host), installs edgeface there with
`pip install <repo>[video]` as a Raspberry Pi user would, runs the steps there and on this host,
and compares the outputs with tests/arm/compare.py (bounds: tests/arm/README.md). Passing means:
the guest's `edgeface doctor` reports a Cortex-A72 with NEON and ai_edge_litert + XNNPACK,
`edgeface run` with the INT8 and float32 models gives the same faces, boxes, landmarks, pose and
params as the host within those bounds, on the 3 sample photos and the first frames of the
sample video, and edgeface.FaceAligner in VIDEO mode gives the CLI's records on the board too
(while this edgeface has no FaceAligner, the aligner step must report itself skipped instead).

Runs only where it can: Linux x86_64 or aarch64, as root (debootstrap, chroot, mounts,
binfmt_misc) with CAP_SYS_ADMIN, and debootstrap + qemu-user-static present or installable with
apt-get. Skipped otherwise, or when EDGEFACE_SKIP_ARM=1. One rootfs per release is cached in
EDGEFACE_ARM_CACHE (default ~/.cache/edgeface-arm): cold (no cache) about 6-7 min per release on an
idle 2-core machine (tests/arm/README.md has the measured times), warm 1-2 min. EDGEFACE_ARM_TIMEOUT
(seconds, default 2100: measured 1334 s cold at load 10-15) bounds each release's run.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RUN_SH = REPO / "tests" / "arm" / "run.sh"
STEPS = ("litert", "models", "doctor", "run", "aligner", "video_h264", "hostile_fleet")
RELEASES = ("bookworm", "trixie")
# litert, models, doctor, run: 2 exit statuses each; litert and models 1 .npz each; run 3 .jsonl
# (photos.int8, obama.int8, photos.fp32); video_h264: 2 statuses (H.264 written, no TFLite INFO line);
# hostile_fleet (tests/hostile_corpus.py --part fleet): 2 statuses;
# aligner (when edgeface has FaceAligner): 2 statuses + 1 .jsonl
MIN_CHECKS = 2 * 6 + 2 + 3
ALIGNER_PASS = ("PASS step aligner: guest (arm64) exit status 0", "PASS aligner/aligner.int8.jsonl (INT8 bounds)")
ALIGNER_SKIP = "SKIP step aligner: SKIP: edgeface.FaceAligner not available"
EXPECTED_PASS = ("PASS step doctor: guest (arm64) exit status 0", "PASS step run: guest (arm64) exit status 0",
                 "PASS run/photos.int8.jsonl (INT8 bounds)", "PASS run/obama.int8.jsonl (INT8 bounds)",
                 "PASS run/photos.fp32.jsonl (float bounds)", "PASS litert/rfb320_emma.npz",
                 "PASS step models: host exit status 0", "PASS models/models.npz",
                 "PASS step video_h264: guest (arm64) exit status 0", "PASS step video_h264: host exit status 0",
                 "PASS step hostile_fleet: guest (arm64) exit status 0", "PASS step hostile_fleet: host exit status 0")
TIMEOUT_S = float(os.environ.get("EDGEFACE_ARM_TIMEOUT", "2100"))
CAP_SYS_ADMIN = 21


def _has_cap_sys_admin() -> bool:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> CAP_SYS_ADMIN & 1)
    except (OSError, ValueError, IndexError):
        pass
    return False


def _missing_tools() -> list:
    need = [] if shutil.which("debootstrap") else ["debootstrap"]
    if platform.machine() == "x86_64" and not shutil.which("qemu-aarch64-static"):
        need.append("qemu-user-static")
    return need


def _install_tools(need: list) -> str:
    """apt-get install the missing host tools; '' on success, else why not."""
    if not shutil.which("apt-get"):
        return f"{', '.join(need)} missing and no apt-get to install them"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *need]):
        try:
            r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        except subprocess.TimeoutExpired:
            return f"`{' '.join(cmd)}` timed out"
        if r.returncode != 0:
            tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["no output"]
            return f"cannot install {', '.join(need)}: `{' '.join(cmd[:2])}` failed ({tail[0]})"
    return ""


def skip_reason() -> str:
    """Why the harness cannot run here ('' when it can)."""
    if os.environ.get("EDGEFACE_SKIP_ARM", "") not in ("", "0"):
        return "EDGEFACE_SKIP_ARM is set"
    if not sys.platform.startswith("linux"):
        return f"needs Linux (chroot, binfmt_misc), this is {sys.platform}"
    if platform.machine() not in ("x86_64", "aarch64"):
        return f"needs an x86_64 or aarch64 host, this is {platform.machine()}"
    if os.geteuid() != 0:
        return "needs root (debootstrap, chroot, mounts, binfmt_misc): run the suite as root, e.g. sudo make test"
    if not _has_cap_sys_admin():
        return "root without CAP_SYS_ADMIN (an unprivileged container?): mounts and binfmt_misc are not allowed"
    if platform.machine() == "x86_64" and not Path("/proc/sys/fs/binfmt_misc").is_dir():
        return "the kernel has no binfmt_misc (/proc/sys/fs/binfmt_misc): qemu-user cannot run arm64 binaries"
    for tool in ("chroot", "mount", "flock", "setsid"):
        if not shutil.which(tool):
            return f"{tool} not found"
    need = _missing_tools()
    if need:
        return _install_tools(need)
    return ""


def _run_harness(cmd: list, log_path: Path, env: dict) -> tuple:
    """(exit status, output); on timeout, TERM run.sh (its trap unmounts everything), then KILL."""
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, cwd=REPO, start_new_session=True)
        try:
            rc = proc.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)  # run.sh cleans up: kills the guest, unmounts, restores binfmt
            try:
                proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            rc = None
    return rc, log_path.read_text(encoding="utf-8", errors="replace")


def _has_face_aligner() -> bool:
    import edgeface

    return hasattr(edgeface, "FaceAligner")


@pytest.mark.system
@pytest.mark.parametrize("release", RELEASES)
def test_arm_emulated_board_runtime_matches_host(request, tmp_path, release):
    reason = skip_reason()
    if reason:
        pytest.skip(f"ARM emulation harness not run: {reason}")
    converted_home = request.getfixturevalue("converted_home")  # only converted when the harness can run
    out = tmp_path / "arm-out"
    env = dict(os.environ, EDGEFACE_ARM_STEP_TIMEOUT=os.environ.get("EDGEFACE_ARM_STEP_TIMEOUT", "300"))
    cmd = ["bash", str(RUN_SH), "--release", release, "--edgeface-home", str(converted_home), "--extras", "video",
           "--out", str(out), *STEPS]
    rc, text = _run_harness(cmd, tmp_path / "arm-harness.log", env)

    # what was compared (visible with -s or in the report of a failure)
    start = text.find("comparing")
    print(text[text.index("\n", start) + 1:] if start >= 0 else text[-6000:])
    tail = "\n".join(text.splitlines()[-60:])
    assert rc is not None, f"the ARM harness did not finish within {TIMEOUT_S:.0f} s (EDGEFACE_ARM_TIMEOUT):\n{tail}"
    m = re.search(r"^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?$", text, flags=re.M)
    assert m, f"run.sh exited {rc} without a 'N passed, N failed' line (log {tmp_path / 'arm-harness.log'}):\n{tail}"
    passed, failed = int(m.group(1)), int(m.group(2))
    assert rc == 0 and failed == 0, f"run.sh exited {rc}: {passed} passed, {failed} failed:\n{tail}"
    aligner = _has_face_aligner()
    need = MIN_CHECKS + (3 if aligner else 0)
    assert passed >= need, f"only {passed} checks passed, expected at least {need}:\n{tail}"
    for line in EXPECTED_PASS + (ALIGNER_PASS if aligner else (ALIGNER_SKIP,)):
        assert line in text, f"missing check '{line}' in the comparison:\n{tail}"
    want_py = {"bookworm": "Python 3.11", "trixie": "Python 3.13"}[release]
    assert re.search(rf"guest: aarch64 Debian GNU/Linux \d+ \({release}\).*{want_py}", text), \
        f"the guest is not Debian {release} with {want_py}:\n{tail}"
    assert "INT8 param bound from mb05_int8.tflite" in text, "the INT8 param bound was not derived from the model"
