"""Board profiles (`targets/*.toml`, package data `edgeface.targets`) and picking one for this machine.

A profile holds the runtime defaults for one kind of board: threads, model precision, detector
input size and re-detection interval, camera resolution, smoothing parameters and the dense-mesh
vertex budget. `edgeface run --target auto` reads the board model (/proc/device-tree/model, else the
`Model` line of /proc/cpuinfo) and matches it against each profile's `match` patterns; a board
without a profile falls back on the CPU architecture (generic-aarch64 or x86_64).

Picking a profile (`detect_target`) takes the machine's texts as arguments, so it is testable with
the text of any board; reading them (and parsing /proc/cpuinfo) is `boards.machine`'s job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional, Sequence

from edgeface.boards.machine import parse_cpuinfo, read_machine
from edgeface.errors import EdgefaceError
from edgeface.hub import package_data
from edgeface.runtime.smoothing_config import SmoothingConfig
from edgeface.vocab import PRECISIONS, check_detector_size

ARM_FALLBACK = "generic-aarch64"
X86_FALLBACK = "x86_64"

@dataclass(frozen=True)
class TargetProfile:
    name: str
    title: str
    cpu: str
    match: tuple  # regular expressions searched (case-insensitive) in the board model string
    threads: int
    precision: str  # fp32 | fp16 | int8 | int8_floatio (the regressor's, and the detector's unless set below)
    detector_size: tuple  # (width, height), multiples of 32
    detect_interval: int  # re-detect every N frames while tracking
    camera_size: tuple  # (width, height)
    camera_fps: float
    smoothing: SmoothingConfig = field(default_factory=SmoothingConfig)
    dense_max_vertices: int = 0  # dense mesh vertex budget (0: the full mesh)
    regressor_threads: Optional[int] = None  # per-stage threads measured on the board ([runtime]; None: threads)
    detector_threads: Optional[int] = None
    scan_threads: int = 1  # threads of the asynchronous scan's detector ([runtime])
    scan: str = "async"  # periodic scans for new faces: async (a worker thread) | inline ([detector] scan)
    max_misses: int = 2  # scans a tracked face may go undetected while its landmarks hold ([detector])
    detector_precision: Optional[str] = None  # [detector] precision: the detector's own (None: `precision`)
    one_core_interval: Optional[int] = None  # [detector] one_core_interval: the interval when only one core is usable
    regressor_workers: int = 1  # [runtime] regressor_workers: faces of a frame regressed at once (capped at the cores)

    def matches(self, board_model: str) -> bool:
        return any(re.search(p, board_model, re.IGNORECASE) for p in self.match)

    def to_dict(self) -> dict:
        s = self.smoothing
        return {
            "name": self.name, "title": self.title, "cpu": self.cpu, "threads": self.threads,
            "precision": self.precision, "detector_precision": self.detector_precision or self.precision,
            "detector_size": list(self.detector_size),
            "detect_interval": self.detect_interval, "camera_size": list(self.camera_size),
            "camera_fps": self.camera_fps, "dense_max_vertices": self.dense_max_vertices,
            "regressor_threads": self.regressor_threads, "detector_threads": self.detector_threads,
            "scan_threads": self.scan_threads, "regressor_workers": self.regressor_workers,
            "scan": self.scan, "max_misses": self.max_misses, "one_core_interval": self.one_core_interval,
            "smoothing": {"min_cutoff": s.min_cutoff, "beta": s.beta, "d_cutoff": s.d_cutoff, "nominal_fps": s.nominal_fps},
        }


def _pair(v, what: str, name: str) -> tuple:
    if not (isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, int) and x > 0 for x in v)):
        raise EdgefaceError(f"target profile {name}: {what} must be [width, height] in pixels, got {v!r}")
    return int(v[0]), int(v[1])


def _opt_int(v) -> Optional[int]:
    return None if v is None else int(v)


def parse_profile(d: dict) -> TargetProfile:
    """A profile from the TOML table of one `targets/*.toml` file (checked)."""
    name = d.get("name", "?")
    try:
        rt, det, cam = d["runtime"], d["detector"], d["camera"]
        sm = d.get("smoothing", {})
        det_size = _pair(det["size"], "detector.size", name)
        check_detector_size(*det_size, what=f"target profile {name}: detector.size")
        for p in d.get("match", []):
            re.compile(p)
        precision = str(rt["precision"])
        det_precision = None if det.get("precision") is None else str(det["precision"])
        for key, p in (("runtime.precision", precision), ("detector.precision", det_precision)):
            if p is not None and p not in PRECISIONS:
                raise EdgefaceError(f"target profile {name}: {key} {p!r} is not {', '.join(PRECISIONS[:-1])} or {PRECISIONS[-1]}")
        prof = TargetProfile(
            name=str(d["name"]), title=str(d.get("title", name)), cpu=str(d.get("cpu", "")),
            match=tuple(d.get("match", [])), threads=int(rt["threads"]), precision=precision,
            detector_size=det_size, detect_interval=int(det["interval"]),
            camera_size=_pair(cam["size"], "camera.size", name), camera_fps=float(cam.get("fps", 30)),
            smoothing=SmoothingConfig(**{k: float(v) for k, v in sm.items()}),
            dense_max_vertices=int(d.get("dense", {}).get("max_vertices", 0)),
            regressor_threads=_opt_int(rt.get("regressor_threads")), detector_threads=_opt_int(rt.get("detector_threads")),
            scan_threads=int(rt.get("scan_threads", 1)),
            scan=str(det.get("scan", "async")), max_misses=int(det.get("max_misses", 2)),
            detector_precision=det_precision, one_core_interval=_opt_int(det.get("one_core_interval")),
            regressor_workers=int(rt.get("regressor_workers", 1)),
        )
    except KeyError as e:
        raise EdgefaceError(f"target profile {name} lacks {e.args[0]!r}") from None
    except re.error as e:
        raise EdgefaceError(f"target profile {name}: bad match pattern ({e})") from None
    except TypeError as e:
        raise EdgefaceError(f"target profile {name}: bad [smoothing] table ({e})") from None
    if prof.scan not in ("async", "inline"):
        raise EdgefaceError(f"target profile {name}: detector.scan must be async or inline, got {prof.scan!r}")
    if min(prof.regressor_threads or 1, prof.detector_threads or 1, prof.scan_threads, prof.regressor_workers) < 1 or prof.max_misses < 0:
        raise EdgefaceError(f"target profile {name}: stage threads must be >= 1 and detector.max_misses >= 0")
    if prof.one_core_interval is not None and prof.one_core_interval < 1:
        raise EdgefaceError(f"target profile {name}: detector.one_core_interval must be >= 1 frame")
    if prof.threads < 1 or prof.detect_interval < 0 or prof.dense_max_vertices < 0:
        raise EdgefaceError(f"target profile {name}: threads must be >= 1, detector.interval and dense.max_vertices >= 0")
    return prof


def load_targets() -> dict:
    """All profiles by name (package data `edgeface.targets`), in file-name order."""
    return package_data.load_named("edgeface.targets", parse_profile)


def get_target(name: str) -> TargetProfile:
    targets = load_targets()
    if name not in targets:
        raise EdgefaceError(f"unknown target '{name}': choose auto or one of {', '.join(targets)}")
    return targets[name]


# ----------------------------------------------------------------------------- picking a profile

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


def resolve_target(spec: Optional[str] = "auto") -> TargetChoice:
    """`auto` (or None): detect this machine; otherwise the named profile."""
    if spec in (None, "", "auto"):
        model, cpuinfo, machine = read_machine()
        return detect_target(model, cpuinfo, machine)
    return TargetChoice(get_target(spec), f"--target {spec}")


__all__: Sequence[str] = (
    "TargetProfile", "parse_profile", "load_targets", "get_target", "TargetChoice", "detect_target", "resolve_target",
)
