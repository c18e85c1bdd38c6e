"""`edgeface doctor`: what this machine offers the pipeline, and which profile fits it.

Reports the board and CPU (model, cores, the SIMD features that matter to TFLite kernels: NEON /
asimd, dotprod for INT8, fp16 arithmetic; SSE4.1 / AVX2 / FMA / AVX-512 / VNNI on x86), memory,
the TFLite runtime found and whether it applies the XNNPACK delegate (checked by loading a
converted model from the cache, else "unknown"), onnxruntime, PyAV, cameras (picamera2's
camera list, and the /dev/video* nodes whose V4L2 capabilities say video capture: a Pi's codec and
ISP nodes are not cameras), the converted models in the cache, and the recommended target
profile. `diagnose()` returns a plain dataclass (machine files can be passed in for tests);
`render()` makes a rich table of it.
"""

from __future__ import annotations

import dataclasses
import json
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from edgeface.hub import locate, paths
from edgeface.hub import store
from edgeface.boards.machine import CpuInfo, parse_cpuinfo, read_machine, read_meminfo
from edgeface.boards.video_nodes import libcamera_cameras, video_nodes
from edgeface.boards.profiles import detect_target, local_matches, machine_key, read_local_profile
from edgeface.hub.manifest import model_manifest, read_verified
from edgeface.runtime.tflite_backend import find_runtime
from edgeface.sources.camera_import import Picamera2Probe, probe_picamera2
from edgeface.vocab import VARIANTS, Precision, detector_name
from edgeface.runtime.native_stderr import native_info_filtered

#: feature flags that matter, per architecture: (label, flags any of which means "yes")
ARM_FEATURES = (
    ("NEON", ("asimd", "neon")),
    ("dotprod", ("asimddp",)),
    ("fp16", ("asimdhp", "fphp")),
    ("i8mm", ("i8mm",)),
)
X86_FEATURES = (
    ("SSE4.1", ("sse4_1",)),
    ("AVX2", ("avx2",)),
    ("FMA", ("fma",)),
    ("AVX-512", ("avx512f",)),
    ("VNNI", ("avx512_vnni", "avx_vnni")),
)


@dataclass
class ModelFile:
    name: str  # mb05, faceboxes_640x480...
    variant: str  # float32, float16, int8, int8_floatio
    path: Path
    size: int
    manifest: bool  # the .json manifest beside it exists
    verified_with: Optional[str] = None  # "ai-edge-litert 2.1.0": the runtime its manifest was converted/verified with
    source: str = ""  # where the runtime takes it from: "cache ...", "edgeface-models 0.1.0" (hub.locate)


@dataclass
class DoctorReport:
    board: Optional[str]  # /proc/device-tree/model (or cpuinfo Model), None when absent
    machine: str  # platform.machine()
    cpu: str
    cores: int
    arch: str  # arm64 | arm | x86 | ""
    features: dict  # label -> bool
    memory_mb: Optional[int]
    python: str
    runtime: Optional[str]  # "ai_edge_litert 2.1.0", None when no TFLite runtime is importable
    runtime_error: str
    xnnpack: Optional[bool]  # None: unknown
    xnnpack_note: str
    onnxruntime: Optional[str]
    pyav: Optional[str]
    picamera2: bool  # imports
    video_devices: list  # every /dev/video* node
    cache: str
    cameras: list = field(default_factory=list)  # what is a camera: libcamera sensors, then V4L2 capture nodes
    video_nodes: list = field(default_factory=list)  # {path, driver, card, role} per node (VIDIOC_QUERYCAP)
    models: list = field(default_factory=list)  # ModelFile
    target: str = ""
    target_reason: str = ""
    advice: list = field(default_factory=list)
    picamera2_status: str = ""  # "picamera2 0.3.38 imports" | "... is not installed" | "... does not import: <cause>"
    picamera2_fix: str = ""  # what to do when it is not installed or does not import
    libcamera_cameras: Optional[int] = None  # sensors libcamera lists (None: picamera2 not importable)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["models"] = [dict(m, path=str(m["path"])) for m in d["models"]]
        return d


def cpu_features(cpu: CpuInfo) -> dict:
    table = X86_FEATURES if cpu.arch == "x86" else ARM_FEATURES if cpu.arch in ("arm", "arm64") else ()
    return {label: cpu.has(*flags) for label, flags in table}


def memory_mb(meminfo_text: Optional[str]) -> Optional[int]:
    for line in (meminfo_text or "").splitlines():
        if line.startswith("MemTotal:"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                return int(parts[1]) // 1024
    return None


def cached_models(root: Optional[Path] = None) -> list:
    """Converted TFLite models the runtime can load, from every model source in lookup order (`hub.locate`:
    the cache `$EDGEFACE_HOME/tflite/<name>/<name>_<variant>.tflite`, then the installed models package);
    a model in two sources is listed once, from the one the runtime takes."""
    out, seen = [], set()
    for source in locate.model_sources(root):
        d = paths.tflite_dir(source.root)
        if not d.is_dir():
            continue
        for sub in sorted(p for p in d.iterdir() if p.is_dir()):
            for v in VARIANTS:
                p = store.model_path(sub.name, v, source.root)
                if p.is_file() and (sub.name, v) not in seen:
                    seen.add((sub.name, v))
                    mp = p.with_suffix(".json")
                    out.append(ModelFile(sub.name, v, p, p.stat().st_size, mp.is_file(), manifest_runtime(mp),
                                         source.label))
    return out


#: runtimes a manifest's converter.versions may name (distribution names, as pip spells them)
RUNTIME_DISTS = ("ai-edge-litert", "tflite-runtime", "tensorflow")


def manifest_runtime(manifest_path: Path) -> Optional[str]:
    """The TFLite runtime a model was converted and verified with ("ai-edge-litert 2.1.0"), from its
    manifest's converter.versions; None when there is no readable manifest or it names none."""
    try:
        versions = json.loads(Path(manifest_path).read_text()).get("converter", {}).get("versions", {})
    except (OSError, ValueError, AttributeError):
        return None
    for dist in RUNTIME_DISTS:  # the interpreter package, before tensorflow (the converter's)
        if isinstance(versions, dict) and versions.get(dist):
            return f"{dist} {versions[dist]}"
    return None


def runtime_mismatch(runtime: Optional[str], models: Sequence[ModelFile]) -> list:
    """Models whose manifest names another runtime (or version) than the one installed."""
    if not runtime:
        return []
    name, _, version = runtime.partition(" ")
    here = f"{name.replace('_', '-')} {version}"
    return [m for m in models if m.verified_with and m.verified_with != here]


def _version(dist: str) -> Optional[str]:
    """The installed version of a distribution, read from its metadata (the package is not imported:
    doctor must not load onnxruntime on a board just to say whether it is there)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def check_xnnpack(models: Sequence[ModelFile], runtime: Optional[str] = None) -> tuple:
    """(applied?, note): load the smallest float32 model (else any) and look for delegate nodes."""
    if not models:
        return None, "no converted model installed to load (pip install \"edgeface[models]\")"
    pick = sorted(models, key=lambda m: (m.variant != "float32", m.size))[0]
    try:
        rt = find_runtime(runtime)
        m = model_manifest(pick.path)  # never an interpreter on an unverified file
        with native_info_filtered():  # the runtime's INFO line: --verbose only
            it = rt.interpreter_cls(model_content=read_verified(pick.path, m["sha256"], m["size_bytes"]), num_threads=1)
            it.allocate_tensors()
        ops = it._get_ops_details()  # noqa: SLF001
    except Exception as e:
        return None, f"{pick.path.name} did not load ({str(e).splitlines()[0][:80] if str(e) else type(e).__name__})"
    applied = any("DELEGATE" in str(o.get("op_name", "")) for o in ops)
    return applied, f"checked with {pick.path.name}"


def find_cameras(dev_dir: Path = Path("/dev"), use_picamera2: bool = True, probe: Optional[Picamera2Probe] = None) -> tuple:
    """(camera labels, node dicts, libcamera sensor count or None): libcamera sensors from picamera2's camera
    list (`probe`: picamera2 as imported by `sources.camera_import`; probed here when None), and the V4L2
    nodes whose own capabilities say video capture (not a codec, ISP or metadata node)."""
    cams = []
    if use_picamera2 and probe is None:
        probe = probe_picamera2()
    listed = libcamera_cameras(probe.module) if use_picamera2 and probe is not None and probe.ok else None
    for i, c in enumerate(listed or []):
        cams.append(f"camera:{i} {c.get('Model', '?')} (libcamera, picamera2)")
    nodes = video_nodes(dev_dir)
    for n in nodes:
        if n.is_camera and n.driver not in ("unicam", "rp1-cfe"):  # CSI receivers: listed via libcamera
            cams.append(f"{n.path} {n.card or n.driver} ({n.driver}, V4L2 capture)")
    return cams, [{"path": n.path, "driver": n.driver, "card": n.card, "role": n.role} for n in nodes], (
        None if listed is None else len(listed))


def diagnose(root: Optional[Path] = None, board_model: Optional[str] = None, cpuinfo_text: Optional[str] = None,
             meminfo_text: Optional[str] = None, machine: Optional[str] = None, dev_dir: Path = Path("/dev"),
             read_system: bool = True, check_runtime: bool = True) -> DoctorReport:
    """Inspect this machine. Passing texts (or read_system=False) replaces reading /proc."""
    if read_system:
        sys_model, sys_cpuinfo, sys_machine = read_machine()
        board_model = board_model if board_model is not None else sys_model
        cpuinfo_text = cpuinfo_text if cpuinfo_text is not None else sys_cpuinfo
        meminfo_text = meminfo_text if meminfo_text is not None else read_meminfo()
        machine = machine or sys_machine
    cpu = parse_cpuinfo(cpuinfo_text or "")
    choice = detect_target(board_model, cpuinfo_text, machine)
    feats = cpu_features(cpu)

    runtime, runtime_error = None, ""
    if check_runtime:
        try:
            rt = find_runtime()
            runtime = f"{rt.name} {rt.version}"
        except Exception as e:
            runtime_error = str(e).splitlines()[0] if str(e) else type(e).__name__
    models = cached_models(root)
    if runtime is not None:
        xnn, xnn_note = check_xnnpack(models)
    else:
        xnn, xnn_note = None, "no TFLite runtime"

    probe = probe_picamera2() if check_runtime else None
    cameras, nodes, n_libcamera = find_cameras(dev_dir, check_runtime, probe)
    video = [n["path"] for n in nodes]
    report = DoctorReport(
        board=choice.board_model or None, machine=machine or "", cpu=cpu.model_name or (machine or "unknown"),
        cores=cpu.cores, arch=cpu.arch, features=feats, memory_mb=memory_mb(meminfo_text),
        python=platform.python_version(), runtime=runtime, runtime_error=runtime_error, xnnpack=xnn,
        xnnpack_note=xnn_note, onnxruntime=_version("onnxruntime") if check_runtime else None,
        pyav=_version("av") if check_runtime else None,
        picamera2=probe is not None and probe.ok,
        picamera2_status=probe.summary if probe is not None else "", picamera2_fix=probe.fix if probe is not None else "",
        libcamera_cameras=n_libcamera,
        video_devices=video, cache=str(paths.home(root) if root else paths.home()), models=models,
        cameras=cameras, video_nodes=nodes,
        target=choice.profile.name, target_reason=choice.reason,
    )
    report.advice = advice(report, choice.profile)
    local = read_local_profile(root)
    if local is not None:  # `edgeface tune`'s profile: --target auto takes it on the machine it was tuned on
        differs = local_matches(local, machine_key(board_model, cpuinfo_text, machine))
        report.target_reason += (f"; --target auto takes the local profile from `edgeface tune` "
                                 f"{local.tune_info.get('date', '')} instead" if not differs
                                 else f"; the local profile is not used: {differs}")
    return report


def advice(r: DoctorReport, profile) -> list:
    """One-line hints for what is missing."""
    out = []
    other = runtime_mismatch(r.runtime, r.models)
    if other:
        was = sorted({m.verified_with for m in other})
        out.append(f"{len(other)} model(s) were converted and verified with {', '.join(was)}, this machine runs "
                   f"{r.runtime}: tests/arm checks them bit-identical across those versions on x86 (step models); "
                   + ("to verify here, re-convert with this runtime (edgeface convert --force)" if locate.convert_available()
                      else "each model is still checked against its manifest's digest before it loads"))
    if r.runtime is None:
        out.append("no TFLite runtime: pip install ai-edge-litert (64-bit) or tflite-runtime (32-bit Pi OS)")
    if r.arch == "arm" and r.runtime is None:
        out.append("32-bit OS on an ARMv8 board: a 64-bit Raspberry Pi OS runs the INT8 kernels faster")
    if r.arch in ("arm", "arm64") and not r.features.get("NEON", False):
        out.append("the CPU reports no NEON/asimd: TFLite falls back on slow reference kernels")
    have = {(m.name, m.variant) for m in r.models}
    det = detector_name(*profile.detector_size)
    for name, prec in (("mb05", profile.precision), (det, profile.detector_precision or profile.precision)):
        want_var = Precision.parse(prec).variant
        if (name, want_var) not in have:
            size = tuple(profile.detector_size) if name == det else None
            fixes = [] if any(s.kind == "package" for s in locate.model_sources()) else ['pip install "edgeface[models]"']
            fixes.append(f"run {store.convert_command(name, want_var, size)} and copy the cache's tflite/ folder here"
                         if locate.convert_available() else
                         f"pack a bundle for this board on a workstation (`edgeface pack --target {profile.name}`)")
            out.append(f"{name}_{want_var}.tflite (profile {profile.name}) is not installed: {', or '.join(fixes)}")
    if r.picamera2_status and "does not import" in r.picamera2_status:
        out.append(f"{r.picamera2_status}. Fix: {r.picamera2_fix}")
    elif r.libcamera_cameras == 0:
        out.append("picamera2 imports but libcamera found no camera: check the ribbon cable and "
                   "`rpicam-hello --list-cameras`")
    if not r.cameras:
        others = f" ({len(r.video_devices)} /dev/video* nodes, none a camera: codec/ISP/metadata)" if r.video_devices else ""
        out.append(f"no camera found{others}: connect one (a camera module: `rpicam-hello --list-cameras`; "
                   "USB: `v4l2-ctl --list-devices`); files and folders still work")
    if r.pyav is None:
        out.append("PyAV not installed: some MP4 files lose frames (pip install 'edgeface[video]')")
    return out


def _yes(v: Optional[bool]) -> str:
    return "[green]yes[/]" if v else ("[yellow]unknown[/]" if v is None else "[red]no[/]")


def render(r: DoctorReport, text=None):
    """A rich renderable of the report. `text(str)` makes the cells that hold this machine's names (the
    cache path, cameras, video nodes, model sources): never rich markup; the CLI passes its escaping
    `cli.consoles.safe_text` (default: rich `Text`)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    text = text or Text

    t = Table(title="edgeface doctor", show_header=False, title_justify="left")
    t.add_column("item", style="bold")
    t.add_column("value", overflow="fold")
    t.add_row("board", r.board or "(no board model)")
    t.add_row("machine", f"{r.machine}  {r.arch or ''}".strip())
    t.add_row("CPU", f"{r.cpu}, {r.cores} cores" if r.cores else r.cpu)
    if r.features:
        t.add_row("CPU features", "  ".join(f"{k} {_yes(v)}" for k, v in r.features.items()))
    t.add_row("memory", f"{r.memory_mb} MiB" if r.memory_mb else "unknown")
    t.add_row("python", r.python)
    t.add_row("TFLite runtime", r.runtime or f"[red]none[/] ({r.runtime_error})")
    t.add_row("XNNPACK", f"{_yes(r.xnnpack)} ({r.xnnpack_note})")
    t.add_row("onnxruntime", r.onnxruntime or "not installed (only needed for --backend onnx)")
    t.add_row("PyAV", r.pyav or "not installed")
    t.add_row("cameras", text("\n".join(r.cameras)) if r.cameras else "[yellow]none found[/]")
    others = [f"{n['path']} ({n['driver'] or '?'}: {n['role']})" for n in r.video_nodes if n["role"] != "camera"]
    if others:
        t.add_row("other video nodes", text("\n".join(others)))
    pc = r.picamera2_status or ("importable" if r.picamera2 else "not importable")
    if r.libcamera_cameras is not None:
        pc += f"; libcamera lists {r.libcamera_cameras} camera(s)"
    pc_cell = text(pc)
    if not r.picamera2:
        pc_cell.stylize("yellow")
    t.add_row("picamera2", pc_cell)
    t.add_row("cache", text(r.cache))
    if r.models:
        other = {m.path for m in runtime_mismatch(r.runtime, r.models)}
        t.add_row("models", text("\n".join(f"{m.name}_{m.variant}.tflite  {m.size / 1048576:.1f} MiB"
                                           + (f"  from {m.source}" if m.source and not m.source.startswith("cache") else "")
                                           + ("" if m.manifest else "  (no manifest)")
                                           + (f"  (verified with {m.verified_with})" if m.path in other else "")
                                           for m in r.models)))
    else:
        t.add_row("models", "[yellow]none installed[/] (pip install \"edgeface[models]\", a bundle from `edgeface pack`, "
                            "or `edgeface convert` on a workstation)")
    t.add_row("recommended target", f"[bold]{r.target}[/] ({r.target_reason})")
    parts = [t]
    for a in r.advice:
        parts.append(text(f"- {a}"))
    return Group(*parts)


__all__: Sequence[str] = ("DoctorReport", "ModelFile", "diagnose", "render", "cpu_features", "cached_models",
                          "check_xnnpack", "memory_mb", "advice")
