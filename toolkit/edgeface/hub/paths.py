"""Where edgeface keeps its cache: `$EDGEFACE_HOME`, default `~/.cache/edgeface`.

Layout (all outside the repository; nothing here is ever committed):
    files/<repo alias>/<upstream path>   verified upstream files, byte for byte
    assets/<name>.npz                    arrays derived from them (pickles converted safely)
    onnx/                                exported ONNX graphs + JSON sidecars
    tflite/                              converted TFLite models + manifests
    calibration/                         calibration sets (.npz)
    profiles/local.toml                  this board's own profile, measured by `edgeface tune` (+ local.json:
                                         every measurement); `--target auto` prefers it on the board it was tuned on
"""

from __future__ import annotations

import os
from pathlib import Path

from edgeface.errors import EdgefaceError


def home(override: str | os.PathLike | None = None) -> Path:
    if override is not None:
        return Path(override).expanduser()
    env = os.environ.get("EDGEFACE_HOME")
    if env:
        root = Path(env).expanduser()
        if os.path.lexists(root) and not root.is_dir():
            raise EdgefaceError(f"EDGEFACE_HOME={env} is not a folder: point it at a folder for the model cache "
                                "(or unset it to use ~/.cache/edgeface)")
        return root
    return Path("~/.cache/edgeface").expanduser()


def files_dir(root: Path | None = None) -> Path:
    return (root or home()) / "files"


def assets_dir(root: Path | None = None) -> Path:
    return (root or home()) / "assets"


def onnx_dir(root: Path | None = None) -> Path:
    return (root or home()) / "onnx"


def tflite_dir(root: Path | None = None) -> Path:
    return (root or home()) / "tflite"


def calibration_dir(root: Path | None = None) -> Path:
    return (root or home()) / "calibration"


def profiles_dir(root: Path | None = None) -> Path:
    return (root or home()) / "profiles"


def local_profile_path(root: Path | None = None) -> Path:
    """`edgeface tune`'s profile of this board."""
    return profiles_dir(root) / "local.toml"
