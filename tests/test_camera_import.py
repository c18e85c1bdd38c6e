"""The picamera2 import is never swallowed (issue 25): a picamera2 that is installed but fails to import
is one line naming the cause and the fix, from `edgeface run --camera` and `edgeface doctor`; the CLI's
`--camera-backend auto|picamera2|opencv` says which reader it took.

The real packages are exercised in the emulated guests (tests/arm/steps/camera.sh: apt's libcamera 0.4.0
with pip's picamera2 on trixie; a Debian extension built against numpy 1.24 beside pip's numpy 2 on
bookworm). Here, on x86 without picamera2, a `picamera2` package written into a temporary folder fails
to import for real (an import of a module that does not exist, or a compiled module's numpy complaint
with numpy's stderr notice), and the real CLI runs in a subprocess with that folder on its path.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edgeface.app import doctor
from edgeface.errors import EdgefaceError
from edgeface.sources import camera_import
from edgeface.sources.camera_import import (NUMPY1_PINS, explain_import_failure, not_installed_fix, numpy_installs,
                                            probe_picamera2)
from edgeface.sources.cameras import open_camera

REPO = Path(__file__).resolve().parents[1]

NUMPY2_NOTICE = """
A module that was compiled using NumPy 1.x cannot be run in
NumPy 2.4.6 as it may crash. To support both 1.x and 2.x
versions of NumPy, modules must be compiled with NumPy 2.0.
Traceback (most recent call last):  File "<stdin>", line 1, in <module>
"""


def write_package(root: Path, body: str) -> Path:
    pkg = root / "picamera2"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(textwrap.dedent(body))
    return root


def run_cli(args, pythonpath: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(pythonpath),
               EDGEFACE_HOME=str(tmp_path / "home"), COLUMNS="200", NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "edgeface", *args], capture_output=True, text=True, env=env,
                          timeout=120, cwd=tmp_path)


# ----------------------------------------------------------------------------- the explanations (pure)

def test_bookworm_numpy_abi_break_names_both_numpys_and_the_pins():
    cause, fix = explain_import_failure("ImportError: numpy.core.multiarray failed to import",
                                        "picamera2/request.py:13 import simplejpeg", "", "2.4.6", "1.24.2",
                                        NUMPY2_NOTICE)
    assert "numpy ABI mismatch" in cause and "1.24.2 (apt)" in cause and "numpy 2.4.6" in cause
    assert "import simplejpeg" in cause
    assert NUMPY1_PINS in fix and "bookworm" in fix and "raspberry-pi-camera.md" in fix


def test_cython_dtype_size_message_is_the_same_break():
    cause, fix = explain_import_failure("ValueError: numpy.dtype size changed, may indicate binary incompatibility. "
                                        "Expected 96 from C header, got 88 from PyObject", "", "", "2.2.4", "1.24.2")
    assert cause.startswith("numpy ABI mismatch") and NUMPY1_PINS in fix


def test_trixie_venv_numpy_older_than_apts_needs_at_least_apts():
    cause, fix = explain_import_failure("ImportError: numpy.core.multiarray failed to import", "", "", "1.26.4", "2.2.4")
    assert "numpy ABI mismatch" in cause
    assert 'pip install "numpy>=2.2.4"' in fix and "trixie" in fix


def test_missing_libcamera_bindings_and_other_modules():
    cause, fix = explain_import_failure("ModuleNotFoundError: No module named 'libcamera'", "", "libcamera")
    assert "libcamera's Python bindings" in cause and "python3-libcamera" in fix and "--system-site-packages" in fix
    cause, fix = explain_import_failure("ModuleNotFoundError: No module named 'pykms'", "", "pykms")
    assert "pykms" in cause and "python3-picamera2" in fix


def test_not_installed_fix_says_when_apt_has_it_but_the_venv_cannot_see_it(tmp_path):
    (tmp_path / "picamera2").mkdir()
    assert "recreate the venv" in not_installed_fix(tmp_path, system_site_packages=False)
    assert "sudo apt install python3-picamera2" in not_installed_fix(tmp_path / "none", system_site_packages=False)


def test_numpy_installs_marks_the_imported_one_first():
    installs = numpy_installs()
    import numpy

    assert installs and installs[0].version == numpy.__version__


# ----------------------------------------------------------------------------- real imports

def test_probe_without_picamera2_is_not_installed():
    p = probe_picamera2()  # this x86 venv has no picamera2
    assert not p.installed and not p.ok and p.error == "" and "python3-picamera2" in p.fix
    assert p.summary == "picamera2 is not installed"


def test_probe_of_an_installed_picamera2_that_fails_to_import(tmp_path, monkeypatch, capsys):
    write_package(tmp_path, f'''
        import sys
        sys.stderr.write({NUMPY2_NOTICE!r})
        raise ImportError("numpy.core.multiarray failed to import")
        ''')
    monkeypatch.syspath_prepend(str(tmp_path))
    p = probe_picamera2()
    assert p.installed and not p.ok
    assert p.error.startswith("numpy ABI mismatch") and "ImportError: numpy.core.multiarray failed to import" in p.error
    assert "picamera2/__init__.py" in p.error  # where it was raised
    assert "Traceback" not in capsys.readouterr().err  # numpy's notice is captured, not printed
    sys.modules.pop("picamera2", None)
    with pytest.raises(EdgefaceError) as e:
        open_camera(0)  # auto: never a silent fall-back on OpenCV
    msg = str(e.value)
    assert "picamera2 is installed but does not import" in msg and "Fix:" in msg and "--camera-backend opencv" in msg
    assert "\n" not in msg


def test_cli_camera_with_a_broken_picamera2_prints_cause_and_fix(tmp_path):
    write_package(tmp_path / "pp", "import libcamera  # not on this machine\n")
    r = run_cli(["run", "--camera", "--max-frames", "1", "-q"], tmp_path / "pp", tmp_path)
    text = r.stdout + r.stderr
    assert r.returncode != 0 and "Traceback" not in text
    assert "libcamera's Python bindings" in text and "sudo apt install python3-libcamera" in text
    # the same cause in edgeface doctor
    r = run_cli(["doctor", "--json"], tmp_path / "pp", tmp_path)
    import json

    rep = json.loads(r.stdout)
    assert rep["picamera2"] is False and "does not import" in rep["picamera2_status"]
    assert "python3-libcamera" in rep["picamera2_fix"]
    assert any("does not import" in a and "Fix:" in a for a in rep["advice"])


def test_cli_camera_backend_choices(tmp_path):
    r = run_cli(["run", "--camera", "--camera-backend", "picamera2", "--max-frames", "1", "-q"], tmp_path, tmp_path)
    text = r.stdout + r.stderr
    assert r.returncode != 0 and "Traceback" not in text
    assert "picamera2 is not installed" in text and "python3-picamera2" in text
    r = run_cli(["run", "--camera", "--camera-backend", "vfw", "--max-frames", "1", "-q"], tmp_path, tmp_path)
    assert r.returncode != 0 and "unknown camera backend 'vfw'" in r.stdout + r.stderr
    r = run_cli(["run", "--camera", "/dev/video0", "--camera-backend", "picamera2", "-q"], tmp_path, tmp_path)
    assert r.returncode != 0 and "Traceback" not in r.stdout + r.stderr


def test_doctor_reports_picamera2_not_installed(tmp_path):
    rep = doctor.diagnose(root=tmp_path / "home", board_model="Raspberry Pi 4 Model B Rev 1.4", cpuinfo_text="",
                          meminfo_text="", machine="aarch64", dev_dir=tmp_path, read_system=False)
    assert rep.picamera2 is False and rep.picamera2_status == "picamera2 is not installed"
    assert rep.libcamera_cameras is None and "python3-picamera2" in rep.picamera2_fix


def test_the_guide_gives_the_fix_the_messages_name():
    guide = (REPO / camera_import.CAMERA_GUIDE).read_text()
    assert NUMPY1_PINS.replace('"', "") in guide.replace('"', "").replace("'", "")
    assert "--system-site-packages" in guide


def test_numpy_installs_tells_apts_from_the_venvs(tmp_path):
    def dist(folder: Path, version: str) -> str:
        info = folder / f"numpy-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: numpy\nVersion: {version}\n")
        return str(folder)

    venv_site = dist(tmp_path / "venv" / "lib" / "site-packages", "2.4.6")
    apt_site = dist(tmp_path / "usr" / "lib" / "python3" / "dist-packages", "1.24.2")
    other = dist(tmp_path / "opt" / "board-venv", "2.5.5")  # another venv's, through a .pth: not apt's
    found = numpy_installs([venv_site, other, apt_site], prefix=str(tmp_path / "venv"), base_prefix=str(tmp_path / "usr"))
    assert [(n.version, n.system) for n in found] == [("2.4.6", False), ("2.5.5", False), ("1.24.2", True)]
