"""Check the outputs of step "camera" (tests/arm/steps/camera.sh); standalone (standard library only).

    python camera_check.py --side guest|host [--release trixie|bookworm] --out DIR

One line per check, exit 1 if any failed. Every command must end with one clear line, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

PINS = '"numpy<2" "opencv-python-headless<4.12"'


def read(out: Path, name: str) -> tuple:
    text = (out / f"{name}.txt").read_text(errors="replace")
    m = re.search(r"^exit=(\d+)$", text, re.M)
    return text, int(m.group(1)) if m else -1


def doctor_json(text: str) -> dict:
    return json.loads(text[text.index("{"): text.rindex("}") + 1])


def checks(side: str, release: str, out: Path) -> list:
    res = []

    def check(what, ok, found=""):
        res.append((what, bool(ok), found))

    def failed_cleanly(name):
        text, rc = read(out, name)
        check(f"{name}: exits non-zero with one error line, no traceback", rc not in (0, -1) and "Traceback" not in text
              and "error:" in text, f"exit {rc}")
        return text

    if side == "host":
        t = failed_cleanly("host_picamera2")
        check("host: picamera2 not installed, says how to install it", "picamera2 is not installed" in t
              and "python3-picamera2" in t)
        return res
    if release == "trixie":
        t = failed_cleanly("picamera2_backend")
        check("picamera2 backend: libcamera found no camera", "libcamera found no camera" in t, t.splitlines()[0][:160])
        t = failed_cleanly("auto_backend")
        check("auto: picamera2 saw no camera, OpenCV none either", "picamera2: libcamera found no camera" in t
              and "OpenCV: no camera" in t, t.splitlines()[0][:160])
        text, rc = read(out, "doctor")
        d = doctor_json(text)
        check("doctor: picamera2 imports (real apt libcamera + pip picamera2)", rc == 0 and d["picamera2"] is True
              and d["picamera2_status"].endswith("imports"), d["picamera2_status"])
        check("doctor: libcamera lists 0 cameras and the advice says so", d["libcamera_cameras"] == 0
              and any("libcamera found no camera" in a for a in d["advice"]), str(d["libcamera_cameras"]))
    elif release == "bookworm":
        t = failed_cleanly("numpy_abi")
        check("--camera: numpy ABI mismatch named, apt's numpy 1.24 and pip's 2.x", "numpy ABI mismatch" in t
              and re.search(r"numpy 1\.24\.\d+ \(apt\)", t) and re.search(r"pip's numpy 2\.\d+", t), t.splitlines()[0][:200])
        check("--camera: the fix gives the documented pins", PINS in t and "raspberry-pi-camera.md" in t)
        text, rc = read(out, "doctor")
        d = doctor_json(text)
        check("doctor: the same cause and fix", rc == 0 and d["picamera2"] is False and "numpy ABI mismatch" in d["picamera2_status"]
              and PINS in d["picamera2_fix"], d["picamera2_status"][:160])
        text, rc = read(out, "fixed_import")
        m = re.search(r"fixed: numpy (\S+)", text)
        check("the pins: numpy 1.x, and the numpy-1.24 module imports", rc == 0 and m and m.group(1).startswith("1."),
              text.strip().splitlines()[-2][:160] if text.strip() else "")
        text, rc = read(out, "fixed_run")
        faces = 0
        try:
            faces = sum(len(json.loads(line)["faces"]) for line in (out / "fixed.int8.json").read_text().splitlines())
        except (OSError, ValueError, KeyError):
            pass
        check("the pins: edgeface runs (3 photos, INT8): 6 faces", rc == 0 and faces == 6, f"exit {rc}, {faces} faces")
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--side", required=True, choices=("guest", "host"))
    ap.add_argument("--release", default="")
    ap.add_argument("--out", required=True, type=Path)
    a = ap.parse_args(argv)
    res = checks(a.side, a.release, a.out)
    for what, ok, found in res:
        print(f"{'ok  ' if ok else 'FAIL'} {what}" + (f"  [{found}]" if found else ""))
    return 0 if res and all(ok for _, ok, _ in res) else 1


if __name__ == "__main__":
    sys.exit(main())
