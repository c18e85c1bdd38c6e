"""Board profiles (`targets/*.toml`, package data `edgeface.targets`) and picking one for this machine.

A profile holds the runtime defaults for one kind of board: threads, model precision, detector
input size and re-detection interval, camera resolution, smoothing parameters and the dense-mesh
vertex budget. `edgeface run --target auto` reads the board model (/proc/device-tree/model, else the
`Model` line of /proc/cpuinfo) and matches it against each profile's `match` patterns; a board
without a profile falls back on the CPU architecture (generic-aarch64 or x86_64).

Everything that inspects the machine takes the file contents as arguments (`detect_target`,
`parse_cpuinfo`), so it is testable with the text of any board.
"""

from __future__ import annotations

import platform
import re
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Optional, Sequence

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .errors import EdgefaceError
from .smoothing import SmoothingConfig

DEVICE_TREE_MODEL = Path("/proc/device-tree/model")
CPUINFO = Path("/proc/cpuinfo")
ARM_FALLBACK = "generic-aarch64"
X86_FALLBACK = "x86_64"

#: ARM "CPU part" ids (implementer 0x41) of the cores found on boards
ARM_PARTS = {
    "0xb76": "ARM1176", "0xc07": "Cortex-A7", "0xc08": "Cortex-A8", "0xc09": "Cortex-A9", "0xc0f": "Cortex-A15",
    "0xd03": "Cortex-A53", "0xd04": "Cortex-A35", "0xd05": "Cortex-A55", "0xd07": "Cortex-A57",
    "0xd08": "Cortex-A72", "0xd09": "Cortex-A73", "0xd0a": "Cortex-A75", "0xd0b": "Cortex-A76",
    "0xd0c": "Neoverse-N1", "0xd0d": "Cortex-A77", "0xd40": "Neoverse-V1", "0xd41": "Cortex-A78",
    "0xd44": "Cortex-X1", "0xd46": "Cortex-A510", "0xd47": "Cortex-A710", "0xd48": "Cortex-X2",
    "0xd49": "Neoverse-N2", "0xd4f": "Neoverse-V2", "0xd80": "Cortex-A520", "0xd81": "Cortex-A720",
}


@dataclass(frozen=True)
class TargetProfile:
    name: str
    title: str
    cpu: str
    match: tuple  # regular expressions searched (case-insensitive) in the board model string
    threads: int
    precision: str  # fp32 | fp16 | int8 | int8_floatio
    detector_size: tuple  # (width, height), multiples of 32
    detect_interval: int  # re-detect every N frames while tracking
    camera_size: tuple  # (width, height)
    camera_fps: float
    smoothing: SmoothingConfig = field(default_factory=SmoothingConfig)
    dense_max_vertices: int = 0  # dense mesh vertex budget (0: the full mesh)

    def matches(self, board_model: str) -> bool:
        return any(re.search(p, board_model, re.IGNORECASE) for p in self.match)

    def to_dict(self) -> dict:
        s = self.smoothing
        return {
            "name": self.name, "title": self.title, "cpu": self.cpu, "threads": self.threads,
            "precision": self.precision, "detector_size": list(self.detector_size),
            "detect_interval": self.detect_interval, "camera_size": list(self.camera_size),
            "camera_fps": self.camera_fps, "dense_max_vertices": self.dense_max_vertices,
            "smoothing": {"min_cutoff": s.min_cutoff, "beta": s.beta, "d_cutoff": s.d_cutoff, "nominal_fps": s.nominal_fps},
        }


def _pair(v, what: str, name: str) -> tuple:
    if not (isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, int) and x > 0 for x in v)):
        raise EdgefaceError(f"target profile {name}: {what} must be [width, height] in pixels, got {v!r}")
    return int(v[0]), int(v[1])


def parse_profile(d: dict) -> TargetProfile:
    """A profile from the TOML table of one `targets/*.toml` file (checked)."""
    name = d.get("name", "?")
    try:
        rt, det, cam = d["runtime"], d["detector"], d["camera"]
        sm = d.get("smoothing", {})
        det_size = _pair(det["size"], "detector.size", name)
        if det_size[0] % 32 or det_size[1] % 32:
            raise EdgefaceError(f"target profile {name}: detector.size {list(det_size)} must be multiples of 32")
        for p in d.get("match", []):
            re.compile(p)
        precision = str(rt["precision"])
        if precision not in ("fp32", "fp16", "int8", "int8_floatio"):
            raise EdgefaceError(f"target profile {name}: precision {precision!r} is not fp32, fp16, int8 or int8_floatio")
        prof = TargetProfile(
            name=str(d["name"]), title=str(d.get("title", name)), cpu=str(d.get("cpu", "")),
            match=tuple(d.get("match", [])), threads=int(rt["threads"]), precision=precision,
            detector_size=det_size, detect_interval=int(det["interval"]),
            camera_size=_pair(cam["size"], "camera.size", name), camera_fps=float(cam.get("fps", 30)),
            smoothing=SmoothingConfig(**{k: float(v) for k, v in sm.items()}),
            dense_max_vertices=int(d.get("dense", {}).get("max_vertices", 0)),
        )
    except KeyError as e:
        raise EdgefaceError(f"target profile {name} lacks {e.args[0]!r}") from None
    except re.error as e:
        raise EdgefaceError(f"target profile {name}: bad match pattern ({e})") from None
    except TypeError as e:
        raise EdgefaceError(f"target profile {name}: bad [smoothing] table ({e})") from None
    if prof.threads < 1 or prof.detect_interval < 0 or prof.dense_max_vertices < 0:
        raise EdgefaceError(f"target profile {name}: threads must be >= 1, detector.interval and dense.max_vertices >= 0")
    return prof


def load_targets() -> dict:
    """All profiles by name (package data `edgeface.targets`), in file-name order."""
    out = {}
    for entry in sorted(resources.files("edgeface.targets").iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".toml"):
            prof = parse_profile(tomllib.loads(entry.read_text(encoding="utf-8")))
            out[prof.name] = prof
    return out


def get_target(name: str) -> TargetProfile:
    targets = load_targets()
    if name not in targets:
        raise EdgefaceError(f"unknown target '{name}': choose auto or one of {', '.join(targets)}")
    return targets[name]


# ----------------------------------------------------------------------------- this machine

@dataclass
class CpuInfo:
    """What /proc/cpuinfo says (fields absent on a platform stay empty)."""

    model_name: str = ""  # x86 "model name", or the ARM core name from implementer/part
    cores: int = 0  # "processor" entries
    features: tuple = ()  # ARM "Features" / x86 "flags" (of the first core)
    arch: str = ""  # "arm64", "arm", "x86" or "" (unknown)
    cpu_part: str = ""  # ARM "CPU part", e.g. 0xd08
    hardware: str = ""  # "Hardware" line (e.g. BCM2835)
    board_model: str = ""  # "Model" line (Raspberry Pi OS adds it)

    def has(self, *flags: str) -> bool:
        return any(f in self.features for f in flags)


def parse_cpuinfo(text: str) -> CpuInfo:
    """Parse the text of /proc/cpuinfo (x86 or ARM)."""
    info = CpuInfo()
    feats: Optional[list] = None
    implementer = ""
    arch_line = ""
    for line in (text or "").splitlines():
        if ":" not in line:
            continue
        raw_key, _, value = line.partition(":")
        key, value = raw_key.strip().lower(), value.strip()
        if key == "processor" and value.isdigit():
            info.cores += 1
        elif key == "model name" and not info.model_name:
            info.model_name = value
        elif key in ("features", "flags") and feats is None:
            feats = value.split()
            if key == "flags":
                info.arch = "x86"
        elif key == "cpu part" and not info.cpu_part:
            info.cpu_part = value.lower()
        elif key == "cpu implementer" and not implementer:
            implementer = value.lower()
        elif key == "cpu architecture" and not arch_line:
            arch_line = value
        elif key == "hardware":
            info.hardware = value
        elif raw_key.strip() == "Model":  # Raspberry Pi OS; x86's lowercase "model" is a number
            info.board_model = value
    info.features = tuple(feats or ())
    if info.arch != "x86":
        if "asimd" in info.features:
            info.arch = "arm64"  # a 64-bit kernel lists asimd (Advanced SIMD = NEON)
        elif "neon" in info.features or arch_line or info.cpu_part:
            info.arch = "arm"  # 32-bit kernel (also on ARMv8 cores): lists neon
    if info.arch in ("arm", "arm64"):
        core = ARM_PARTS.get(info.cpu_part) if implementer in ("0x41", "") else None
        if core:
            info.model_name = core
        elif not info.model_name:
            info.model_name = f"ARM core (implementer {implementer or '?'}, part {info.cpu_part or '?'})"
    return info


def read_text(path, limit: int = 1 << 20) -> Optional[str]:
    """A small system file's text (NULs removed), or None if unreadable."""
    try:
        with open(path, "rb") as f:
            data = f.read(limit)
    except OSError:
        return None
    return data.replace(b"\x00", b"").decode("utf-8", "replace").strip()


@dataclass(frozen=True)
class TargetChoice:
    profile: TargetProfile
    reason: str  # how it was chosen (one line)
    board_model: str = ""


def detect_target(board_model: Optional[str] = None, cpuinfo_text: Optional[str] = None,
                  machine: Optional[str] = None, targets: Optional[dict] = None) -> TargetChoice:
    """The profile for a machine described by the text of /proc/device-tree/model (`board_model`),
    of /proc/cpuinfo and `platform.machine()` (`machine`). Pure: reads nothing itself."""
    targets = targets or load_targets()
    cpu = parse_cpuinfo(cpuinfo_text or "")
    model = (board_model or "").replace("\x00", "").strip() or cpu.board_model
    if model:
        for prof in targets.values():
            if prof.match and prof.matches(model):
                return TargetChoice(prof, f"board '{model}' matches profile {prof.name}", model)
    mach = (machine or "").lower()
    arch = cpu.arch or ("x86" if mach in ("x86_64", "amd64", "i686", "i386") else
                        "arm64" if mach in ("aarch64", "arm64", "armv8l") else
                        "arm" if mach.startswith("arm") else "")
    what = f"board '{model}'" if model else "no board model"
    if arch in ("arm64", "arm"):
        note = "" if arch == "arm64" else " (32-bit ARM: install tflite-runtime)"
        return TargetChoice(targets[ARM_FALLBACK], f"{what}, ARM CPU: {ARM_FALLBACK}{note}", model)
    if arch == "x86":
        return TargetChoice(targets[X86_FALLBACK], f"{what}, x86-64 CPU: {X86_FALLBACK}", model)
    return TargetChoice(targets[X86_FALLBACK], f"{what}, unknown CPU '{machine or '?'}': {X86_FALLBACK} (pass --target)", model)


def read_machine() -> tuple:
    """(board model text or None, /proc/cpuinfo text or None, platform.machine()) of this machine."""
    return read_text(DEVICE_TREE_MODEL), read_text(CPUINFO), platform.machine()


def resolve_target(spec: Optional[str] = "auto") -> TargetChoice:
    """`auto` (or None): detect this machine; otherwise the named profile."""
    if spec in (None, "", "auto"):
        model, cpuinfo, machine = read_machine()
        return detect_target(model, cpuinfo, machine)
    return TargetChoice(get_target(spec), f"--target {spec}")


__all__: Sequence[str] = (
    "TargetProfile", "parse_profile", "load_targets", "get_target", "CpuInfo", "parse_cpuinfo", "read_text",
    "TargetChoice", "detect_target", "read_machine", "resolve_target", "ARM_PARTS",
)
