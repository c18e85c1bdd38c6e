"""Board profiles (`targets/*.toml`, package data `edgeface.targets`) and picking one for this machine.

A profile holds the runtime defaults for one kind of board: threads, model precision, detector
input size and re-detection interval, camera resolution, smoothing parameters and the dense-mesh
vertex budget. `edgeface run --target auto` first takes this board's own profile, written by
`edgeface tune` into the cache (`<cache>/profiles/local.toml`, `LOCAL`), when it was measured on a
machine of the same board model, CPU and architecture; otherwise it reads the board model
(/proc/device-tree/model, else the `Model` line of /proc/cpuinfo) and matches it against each shipped
profile's `match` patterns; a board without a profile falls back on the CPU architecture
(generic-aarch64 or x86_64). `--target local` asks for the local profile by name.

Picking a profile (`detect_target`) takes the machine's texts as arguments, so it is testable with
the text of any board; reading them (and parsing /proc/cpuinfo) is `boards.machine`'s job.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from dataclasses import dataclass, field
from typing import Optional, Sequence

from edgeface.boards.machine import parse_cpuinfo, read_machine
from edgeface.errors import EdgefaceError
from edgeface.hub import package_data, paths
from edgeface.hub.atomic import write_text_atomic
from edgeface.runtime.smoothing_config import SmoothingConfig
from edgeface.vocab import PRECISIONS, check_detector_size

ARM_FALLBACK = "generic-aarch64"
LOCAL = "local"  # the name of `edgeface tune`'s profile
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
    memory_budget_mb: Optional[int] = None  # [memory] budget_mb: the working memory `edgeface run` must stay under (None: none)
    tuned: tuple = ()  # [tune] of a local profile: (key, value) pairs (board, cpu, machine, date, based_on...)

    @property
    def tune_info(self) -> dict:
        return dict(self.tuned)

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
            "memory_budget_mb": self.memory_budget_mb,
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
            memory_budget_mb=_opt_int(d.get("memory", {}).get("budget_mb")),
            tuned=tuple(sorted((str(k), v) for k, v in d.get("tune", {}).items() if isinstance(v, (str, int, float)))),
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
    if prof.memory_budget_mb is not None and prof.memory_budget_mb < 1:
        raise EdgefaceError(f"target profile {name}: memory.budget_mb must be >= 1 MB")
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


# ----------------------------------------------------------------------------- this board's own profile

def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    s = str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
    return f'"{s}"'


def profile_toml(prof: TargetProfile, tune: dict, comments: Sequence[str] = ()) -> str:
    """The TOML text of a profile (the schema of targets/*.toml, read back by `parse_profile`), with a
    [tune] table of scalars saying where and when it was measured."""
    s = prof.smoothing
    tables = {
        "runtime": {"threads": prof.threads, "precision": prof.precision, "regressor_threads": prof.regressor_threads,
                    "detector_threads": prof.detector_threads, "scan_threads": prof.scan_threads,
                    "regressor_workers": prof.regressor_workers},
        "detector": {"size": list(prof.detector_size), "interval": prof.detect_interval, "precision": prof.detector_precision,
                     "scan": prof.scan, "max_misses": prof.max_misses, "one_core_interval": prof.one_core_interval},
        "camera": {"size": list(prof.camera_size), "fps": prof.camera_fps},
        "smoothing": {k: getattr(s, k) for k in ("min_cutoff", "beta", "d_cutoff", "speed_floor", "shape_cutoff",
                                                  "shape_beta", "shape_floor", "nominal_fps") if hasattr(s, k)},
        "dense": {"max_vertices": prof.dense_max_vertices},
        "memory": {"budget_mb": prof.memory_budget_mb},
        "tune": {k: v for k, v in tune.items() if isinstance(v, (str, int, float))},
    }
    lines = [f"# {c}" for c in comments]
    lines += [f"name = {_toml_value(prof.name)}", f"title = {_toml_value(prof.title)}", f"cpu = {_toml_value(prof.cpu)}",
              f"match = {_toml_value(list(prof.match))}"]
    for name, table in tables.items():
        if all(v is None for v in table.values()):
            continue
        lines += ["", f"[{name}]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in table.items() if v is not None]
    return "\n".join(lines) + "\n"


def write_local_profile(prof: TargetProfile, tune: dict, comments: Sequence[str] = (), root: Optional[Path] = None) -> Path:
    """Write `edgeface tune`'s profile into the cache, atomically (checked by reading it back first)."""
    text = profile_toml(prof, tune, comments)
    parse_profile(package_data.parse_file(text, "local profile"))  # never write what cannot be read back
    return write_text_atomic(paths.local_profile_path(root), text)


def read_local_profile(root: Optional[Path] = None) -> Optional[TargetProfile]:
    """The local profile of the cache, or None when there is none. A damaged one is an `EdgefaceError`
    naming the file and the fix."""
    p = paths.local_profile_path(root)
    if not p.is_file():
        return None
    try:
        return parse_profile(package_data.parse_file(p.read_text(encoding="utf-8"), str(p)))
    except (EdgefaceError, ValueError) as e:
        raise EdgefaceError(f"local profile {p} is damaged ({str(e).splitlines()[0]}): run `edgeface tune` again, "
                            "or delete it to use the shipped profiles") from None


def machine_key(board_model: Optional[str], cpuinfo_text: Optional[str], machine: Optional[str]) -> dict:
    """What a local profile must match to be used: board model, CPU name, core count and architecture."""
    cpu = parse_cpuinfo(cpuinfo_text or "")
    model = (board_model or "").replace("\x00", "").strip() or cpu.board_model
    return {"board": model, "cpu_model": cpu.model_name or "", "cores": cpu.cores, "machine": machine or ""}


def local_matches(prof: TargetProfile, key: dict) -> str:
    """"" when the local profile was tuned on a machine like `key`; else what differs (one phrase)."""
    info = prof.tune_info
    for k in ("board", "cpu_model", "cores", "machine"):
        if str(info.get(k, "")) != str(key.get(k, "")):
            return f"it was tuned on {k} {info.get(k, '?')!r}, this machine has {key.get(k, '?')!r}"
    return ""


def resolve_target(spec: Optional[str] = "auto", root: Optional[Path] = None) -> TargetChoice:
    """`auto` (or None): this board's local profile (`edgeface tune`) when it was measured on this kind of
    machine, else detect the shipped one; `local`: the local profile; otherwise the named shipped profile."""
    if spec == LOCAL:
        prof = read_local_profile(root)
        if prof is None:
            raise EdgefaceError(f"no local profile ({paths.local_profile_path(root)}): run `edgeface tune` on this board")
        return TargetChoice(prof, f"--target local ({paths.local_profile_path(root)}, tuned {prof.tune_info.get('date', '?')})")
    if spec in (None, "", "auto"):
        model, cpuinfo, machine = read_machine()
        local = read_local_profile(root)
        choice = detect_target(model, cpuinfo, machine)
        if local is not None:
            differs = local_matches(local, machine_key(model, cpuinfo, machine))
            if not differs:
                return TargetChoice(local, f"local profile from `edgeface tune` {local.tune_info.get('date', '')}, "
                                           f"based on {local.tune_info.get('based_on', '?')}".replace("  ", " "),
                                    choice.board_model)
            return dataclasses.replace(choice, reason=f"{choice.reason}; local profile ignored: {differs}")
        return choice
    return TargetChoice(get_target(spec), f"--target {spec}")


__all__: Sequence[str] = (
    "TargetProfile", "parse_profile", "load_targets", "get_target", "TargetChoice", "detect_target", "resolve_target",
    "LOCAL", "profile_toml", "write_local_profile", "read_local_profile", "machine_key", "local_matches",
)
