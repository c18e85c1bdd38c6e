"""The checks of the issue-25 guest steps fail when they should (fast, no emulation): steps/camera_check.py
(the picamera2 path) and steps/board_tune_check.py (edgeface tune, then --target auto). The outputs are the
ones the guests wrote (trimmed), then broken one way at a time."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

STEPS = Path(__file__).resolve().parent / "steps"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"arm_{name}", STEPS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


camera_check = _load("camera_check")
board_tune_check = _load("board_tune_check")

LIBCAMERA_NONE = ("error: libcamera found no camera: check the ribbon cable (contacts facing the board's connector, "
                  "latch closed) and `rpicam-hello --list-cameras`; a USB camera: --camera-backend opencv\nexit=2\n")
AUTO_NONE = ("error: no camera: picamera2: libcamera found no camera: check the ribbon cable; OpenCV: no camera at "
             "camera:0: connect a camera\nexit=2\n")


def _doctor(status: str, n: int, advice: list, ok: bool = True, fix: str = "") -> str:
    return json.dumps({"picamera2": ok, "picamera2_status": status, "picamera2_fix": fix, "libcamera_cameras": n,
                       "advice": advice}) + "\nexit=0\n"


def _trixie(tmp: Path, **over) -> Path:
    files = {"picamera2_backend": LIBCAMERA_NONE, "auto_backend": AUTO_NONE,
             "doctor": _doctor("picamera2 0.3.38 imports", 0, ["picamera2 imports but libcamera found no camera: check"])}
    files.update(over)
    for k, v in files.items():
        (tmp / f"{k}.txt").write_text(v)
    return tmp


def failed(res) -> list:
    return [what for what, ok, _ in res if not ok]


def test_trixie_outputs_pass_and_each_break_fails(tmp_path):
    assert failed(camera_check.checks("guest", "trixie", _trixie(tmp_path))) == []
    tb = "Traceback (most recent call last):\n  File ...\n" + LIBCAMERA_NONE
    assert failed(camera_check.checks("guest", "trixie", _trixie(tmp_path, picamera2_backend=tb)))
    silent = "camera backend opencv (auto)\nexit=0\n"  # a run that "worked" on V4L2 instead of saying why
    assert failed(camera_check.checks("guest", "trixie", _trixie(tmp_path, auto_backend=silent)))
    broken = _doctor("picamera2 is installed but does not import: x", None, [], ok=False)
    assert failed(camera_check.checks("guest", "trixie", _trixie(tmp_path, doctor=broken)))


def test_bookworm_without_the_pins_or_the_numpys_fails(tmp_path):
    msg = ("error: picamera2 is installed but does not import: numpy ABI mismatch: apt's compiled modules were built "
           "against numpy 1.24.2 (apt), this venv imports pip's numpy 2.4.6 in front of it; ImportError: x. Fix: in this "
           'venv run pip install "numpy<2" "opencv-python-headless<4.12" (docs/guides/raspberry-pi-camera.md)\nexit=2\n')
    (tmp_path / "numpy_abi.txt").write_text(msg)
    (tmp_path / "doctor.txt").write_text(_doctor(msg.split("error: ")[1].split(". Fix")[0], None, [], ok=False,
                                                 fix='pip install "numpy<2" "opencv-python-headless<4.12"'))
    (tmp_path / "fixed_import.txt").write_text("fixed: numpy 1.26.4 /x cv2 4.11.0 bottleneck 1.3.5\nexit=0\n")
    (tmp_path / "fixed_run.txt").write_text("wrote\nexit=0\n")
    (tmp_path / "fixed.int8.json").write_text("\n".join(json.dumps({"faces": [{}] * n}) for n in (3, 1, 2)))
    assert failed(camera_check.checks("guest", "bookworm", tmp_path)) == []
    (tmp_path / "numpy_abi.txt").write_text(msg.replace('"numpy<2" "opencv-python-headless<4.12"', "numpy"))
    assert failed(camera_check.checks("guest", "bookworm", tmp_path))
    (tmp_path / "numpy_abi.txt").write_text(msg)
    (tmp_path / "fixed_import.txt").write_text("fixed: numpy 2.4.6 /x\nexit=0\n")  # the pins did not take
    assert failed(camera_check.checks("guest", "bookworm", tmp_path))


def test_board_tune_check_needs_every_measurement_and_the_local_profile_used(tmp_path):
    stages = [{"stage": s, "precision": p, "threads": t, "median_ms": 5.0} for s in ("detector", "regressor")
              for p in ("int8", "fp32") for t in (1, 2)]
    pipes = [{"interval": i, "fps": 3.0} for i in (10, 20)]
    workers = [{"workers": w, "faces": 4, "fps": 2.0} for w in (1, 2)]
    prof = {"detect_interval": 10, "precision": "int8", "regressor_workers": 2}
    (tmp_path / "local.json").write_text(json.dumps({"stages": stages, "pipelines": pipes, "workers": workers, "profile": prof}))
    (tmp_path / "local.toml").write_text('name = "local"\n[runtime]\nprecision = "int8"\nregressor_workers = 2\n'
                                         '[detector]\ninterval = 10\n')
    (tmp_path / "run.txt").write_text("obama.mp4 | target local (local profile from `edgeface tune` 2026, based on rpi4)")
    (tmp_path / "after_tune.json").write_text("{}\n{}\n{}\n")
    assert board_tune_check.main(tmp_path) == 0
    (tmp_path / "run.txt").write_text("obama.mp4 | target rpi4 (board matches)")
    assert board_tune_check.main(tmp_path) == 1
    (tmp_path / "run.txt").write_text("obama.mp4 | target local (local profile from `edgeface tune` 2026, based on rpi4)")
    (tmp_path / "local.json").write_text(json.dumps({"stages": stages[:-1], "pipelines": pipes, "workers": workers, "profile": prof}))
    assert board_tune_check.main(tmp_path) == 1
    # the worker step missing (an edgeface without it), or its choice not in the profile
    (tmp_path / "local.json").write_text(json.dumps({"stages": stages, "pipelines": pipes, "profile": prof}))
    assert board_tune_check.main(tmp_path) == 1
    (tmp_path / "local.json").write_text(json.dumps({"stages": stages, "pipelines": pipes, "workers": workers,
                                                     "profile": {**prof, "regressor_workers": 1}}))
    assert board_tune_check.main(tmp_path) == 1
