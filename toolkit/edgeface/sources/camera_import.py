"""Importing picamera2, and saying why it failed: `probe_picamera2()`.

On Raspberry Pi OS picamera2 comes from apt (`python3-picamera2`, with apt's libcamera bindings,
simplejpeg and numpy) and a venv sees it only when created with `--system-site-packages`. pip then
installs its own numpy into the venv, in front of apt's; apt's compiled modules (simplejpeg, built
against apt's numpy) can fail to import beside it ("numpy.dtype size changed", "A module that was
compiled using NumPy 1.x cannot be run in NumPy 2.x"). Swallowing that error would leave `--camera`
on OpenCV's V4L2 reader, which cannot read a camera module under libcamera: the user gets no camera
and no reason. So the import is probed here and every failure becomes one line naming the cause and
the fix (`Picamera2Probe.error` / `.fix`); `sources.cameras` and `app.doctor` print them.

`explain_import_failure` is pure (texts and versions in, cause and fix out), so every case is
testable without a Pi; `probe_picamera2` imports for real (the emulated Debian guests of tests/arm
run it against apt's libcamera 0.4.0 on trixie and a numpy-1.24 extension on bookworm).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import os
import sys
import traceback
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

#: where Debian and Raspberry Pi OS put apt's Python packages
SYSTEM_SITE = Path("/usr/lib/python3/dist-packages")
#: the guide with the working recipes (bookworm and trixie)
CAMERA_GUIDE = "docs/guides/raspberry-pi-camera.md"
#: the constraints that keep pip from putting numpy 2 in front of a numpy-1.x system (Raspberry Pi OS 12)
NUMPY1_PINS = '"numpy<2" "opencv-python-headless<4.12"'

# what numpy and Cython say when a compiled module meets another numpy ABI than it was built against
_NUMPY_ABI_MARKERS = (
    "numpy.dtype size changed", "compiled using numpy 1.x cannot be run in numpy 2", "_array_api not found",
    "numpy.core.multiarray failed to import", "numpy._core.multiarray failed to import",
    "module compiled against abi version", "module compiled against api version", "numpy.ndarray size changed",
)


@dataclass(frozen=True)
class NumpyInstall:
    version: str
    location: str  # the folder holding the package
    system: bool  # apt's (outside this environment's prefix), not pip's in the venv


@dataclass(frozen=True)
class Picamera2Probe:
    """What importing picamera2 gave: the module, or why not and what to do.

    installed: picamera2 is on this Python's path (it may still fail to import);
    error: one line, the cause ("" when it imported or is simply not installed);
    fix: one line, what to do (also for "not installed").
    """

    module: Any = None
    installed: bool = False
    error: str = ""
    fix: str = ""
    version: str = ""

    @property
    def ok(self) -> bool:
        return self.module is not None

    @property
    def summary(self) -> str:
        """One line: importable (version), not installed, or the failure."""
        if self.ok:
            return f"picamera2 {self.version} imports".replace("  ", " ")
        if not self.installed:
            return "picamera2 is not installed"
        return f"picamera2 is installed but does not import: {self.error}"


def numpy_installs(paths: Optional[Sequence[str]] = None, prefix: Optional[str] = None,
                   base_prefix: Optional[str] = None) -> list:
    """Every numpy distribution on the import path, in path order (the first is the one imported);
    `system` marks the system Python's (apt's /usr/lib/python3/dist-packages, seen through
    --system-site-packages): under the base prefix and outside this environment's."""
    prefix = str(Path(prefix or sys.prefix).resolve())
    base = str(Path(base_prefix or sys.base_prefix).resolve())
    out, seen = [], set()
    for d in metadata.distributions(path=list(paths if paths is not None else sys.path)):
        name = (d.metadata.get("Name") or "").lower()
        if name != "numpy":
            continue
        loc = str(Path(str(d.locate_file(""))).resolve())
        if loc in seen:
            continue
        seen.add(loc)
        system = loc.startswith(base + "/") and (prefix == base or not loc.startswith(prefix + "/"))
        out.append(NumpyInstall(str(d.version), loc, system))
    return out


def _major(version: str) -> int:
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else -1


def _vtuple(version: str) -> tuple:
    parts = []
    for p in version.split(".")[:3]:
        digits = "".join(c for c in p if c.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def is_numpy_abi_error(text: str) -> bool:
    t = text.lower()
    return any(m in t for m in _NUMPY_ABI_MARKERS)


def explain_import_failure(error: str, where: str = "", missing: str = "", numpy_used: Optional[str] = None,
                           numpy_system: Optional[str] = None, stderr: str = "") -> tuple:
    """(cause, fix) of a failed `import picamera2`, one line each.

    error: "Type: first line" of the exception; where: the import statement that raised (file:line);
    missing: the module a ModuleNotFoundError names; numpy_used / numpy_system: the numpy this Python
    imports and apt's (None: unknown or absent); stderr: what the import printed (numpy 2 prints its
    "compiled using NumPy 1.x" notice there, not in the exception).
    """
    at = f" (at {where})" if where else ""
    if is_numpy_abi_error(error) or is_numpy_abi_error(stderr):
        if numpy_used and numpy_system and numpy_used != numpy_system:
            cause = (f"numpy ABI mismatch: apt's compiled modules were built against numpy {numpy_system} (apt), "
                     f"this venv imports pip's numpy {numpy_used} in front of it; {error}{at}")
        else:
            cause = f"numpy ABI mismatch: a compiled module was built against another numpy than {numpy_used or 'the one imported'}; {error}{at}"
        if numpy_system and _major(numpy_system) == 1:
            fix = (f"in this venv run pip install {NUMPY1_PINS} (Raspberry Pi OS 12 bookworm: apt's numpy "
                   f"{numpy_system} is 1.x, so the venv must not get numpy 2; recipe: {CAMERA_GUIDE})")
        elif numpy_system and numpy_used and _vtuple(numpy_used) < _vtuple(numpy_system):
            fix = (f'in this venv run pip install "numpy>={numpy_system}" (apt\'s modules need at least the numpy '
                   f"they were built with; Raspberry Pi OS 13 trixie: {CAMERA_GUIDE})")
        else:
            fix = (f"give the venv the numpy apt's packages were built with ({numpy_system or 'see `apt policy python3-numpy`'}), "
                   f"or remove the venv's own: pip uninstall numpy ({CAMERA_GUIDE})")
        return cause, fix
    if missing == "libcamera" or missing.startswith("libcamera."):
        return (f"picamera2 needs libcamera's Python bindings, which this Python cannot import{at}",
                "sudo apt install python3-libcamera (Raspberry Pi OS: python3-picamera2 brings it) and create the venv "
                f"with python3 -m venv --system-site-packages ({CAMERA_GUIDE})")
    if missing:
        return (f"picamera2 needs the module {missing}, which is not installed{at}",
                f"sudo apt install python3-picamera2 (it brings every dependency) and use a venv made with "
                f"--system-site-packages, or pip install {missing} ({CAMERA_GUIDE})")
    return (f"{error}{at}", f"reinstall it: sudo apt install --reinstall python3-picamera2 ({CAMERA_GUIDE})")


def not_installed_fix(system_site: Path = SYSTEM_SITE, system_site_packages: Optional[bool] = None) -> str:
    """What to do when picamera2 is not on the path: apt, or a venv that can see apt's packages."""
    if system_site_packages is None:
        system_site_packages = str(system_site) in sys.path
    if (system_site / "picamera2").is_dir() and not system_site_packages:
        return ("apt's picamera2 is installed but this venv cannot see it: recreate the venv with "
                f"python3 -m venv --system-site-packages ({CAMERA_GUIDE})")
    return (f"sudo apt install python3-picamera2, and create the venv with python3 -m venv --system-site-packages "
            f"({CAMERA_GUIDE})")


def _raised_at(exc: BaseException) -> str:
    """The last import statement outside importlib that raised: "picamera2/request.py:13 import simplejpeg"."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "importlib" not in f.filename
              and not f.filename.startswith("<frozen")]
    if not frames:
        return ""
    f = frames[-1]
    parts = Path(f.filename).parts
    short = "/".join(parts[-2:]) if len(parts) >= 2 else f.filename
    return f"{short}:{f.lineno} {(f.line or '').strip()}".strip()


def probe_picamera2(importer: Callable[[str], Any] = importlib.import_module, name: str = "picamera2") -> Picamera2Probe:
    """Import picamera2 for real and say what happened. Never raises (but for KeyboardInterrupt);
    whatever the import prints on stderr (numpy's notice with a traceback) is kept out of the terminal,
    and libcamera's own log is limited to fatal errors unless LIBCAMERA_LOG_LEVELS is set."""
    try:
        installed = importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        installed = False
    if not installed:
        return Picamera2Probe(installed=False, fix=not_installed_fix())
    # libcamera logs INFO/WARN lines of its own to fd 2 when it starts; keep them out unless asked for
    os.environ.setdefault("LIBCAMERA_LOG_LEVELS", "*:FATAL")
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            module = importer(name)
    except Exception as e:  # any failure is explained, none is swallowed
        text = str(e).strip().splitlines()
        error = f"{type(e).__name__}: {text[0] if text else ''}".rstrip(": ")
        missing = getattr(e, "name", None) or "" if isinstance(e, ModuleNotFoundError) else ""
        installs = numpy_installs()
        used = installs[0].version if installs else None
        system = next((n.version for n in installs if n.system), None)
        cause, fix = explain_import_failure(error, _raised_at(e), missing, used, system, captured.getvalue())
        return Picamera2Probe(installed=True, error=cause, fix=fix)
    try:
        version = metadata.version(name)
    except metadata.PackageNotFoundError:
        version = str(getattr(module, "__version__", ""))
    return Picamera2Probe(module=module, installed=True, version=version)


__all__: Sequence[str] = ("Picamera2Probe", "NumpyInstall", "probe_picamera2", "explain_import_failure",
                          "numpy_installs", "is_numpy_abi_error", "not_installed_fix", "NUMPY1_PINS", "CAMERA_GUIDE")
