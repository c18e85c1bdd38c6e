"""`edgeface bench peers`: edgeface side by side with upstream 3DDFA_V2 and MediaPipe FaceMesh.

Every system processes the same pre-decoded frames of the sample video (obama.mp4, 158 frames,
decoded once by edgeface's own reader: PyAV with `ignore_editlist`; decoding is never timed), one
fresh process per system and core count, pinned to the first N cores this process may use
(`sched_setaffinity`, what `taskset -c 0[,1]` does). Each worker runs one untimed warm-up pass
and `passes` timed passes (`timing`); its fps is the median pass. Systems:

  upstream-video     upstream 3DDFA_V2's `demo_video.py` loop (its `--onnx` code, mb05)    upstream_loop
  upstream-perframe  upstream `demo.py` on every frame (detector every frame)              upstream_loop
  mediapipe          MediaPipe FaceMesh 0.10.18, tracking mode, 1 face (its own venv)      mediapipe_loop
  edgeface-*         edgeface.FaceAligner (VIDEO mode): int8 / fp32, tracking with scans
                     for new faces, and detector on every frame                          edgeface_loop

`--baseline DIR` adds an earlier edgeface checkout's INT8 tracking row. It is timed as a pair with this
checkout's (`paired`: both in their own process on the same cores, their timed passes taken in turn), so
their ratio does not carry the drift of a shared machine between two runs.

Then the live path (`tools.bench.latency.live`): the sample video as a simulated camera at 30 and 60 fps into a
LIVE_STREAM aligner, capture-to-result latency p50/p99 and dropped frames, at each core count.

A peer that cannot run here (no upstream sources, MediaPipe not installable, a model not
converted) is skipped with one line saying why; nothing is ever estimated or faked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional

from edgeface.boards.machine import load_avg, machine_info
from edgeface.errors import EdgefaceError, OptionsError
from edgeface.hub import store
from edgeface.hub.assets import sample_path
from edgeface.hub.atomic import atomic_path
from edgeface.sources.video import have_pyav, open_video
from edgeface.tools.bench.peers.paired import paired_command, pinned_to, run_paired
from edgeface.tools.bench.peers.upstream_loop import prepare_upstream, upstream_source

MEDIAPIPE_VERSION = "0.10.18"
FORMAT = "edgeface-peers/1"
BENCH_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class PeerSystem:
    key: str
    label: str
    kind: str  # upstream | mediapipe | edgeface
    args: tuple  # worker arguments after `--`
    baseline: str  # the upstream system its ratio is taken against


SYSTEMS = (
    PeerSystem("upstream-video", "upstream 3DDFA_V2 demo_video.py loop (ONNX, mb05)", "upstream", ("video",), "upstream-video"),
    PeerSystem("upstream-perframe", "upstream demo.py per frame (detector every frame)", "upstream", ("perframe",),
               "upstream-perframe"),
    PeerSystem("mediapipe", f"MediaPipe FaceMesh {MEDIAPIPE_VERSION} (tracking, 1 face)", "mediapipe", (), "upstream-video"),
    PeerSystem("edgeface-int8-track", "edgeface INT8, tracking (scans: profile interval)", "edgeface",
               ("int8", "track", "profile"), "upstream-video"),
    PeerSystem("edgeface-int8-track25", "edgeface INT8, tracking, scan every 25 frames", "edgeface",
               ("int8", "track", "25"), "upstream-video"),
    PeerSystem("edgeface-int8-track0", "edgeface INT8, tracking, detector only when lost (as upstream's loop)", "edgeface",
               ("int8", "track", "0"), "upstream-video"),
    PeerSystem("edgeface-int8-floor25", "edgeface INT8 models alone: crop + regressor, scan every 25 frames (the floor)",
               "edgeface", ("int8", "floor", "25"), "upstream-video"),
    PeerSystem("edgeface-fp32-track", "edgeface fp32, tracking (scans: profile interval)", "edgeface",
               ("fp32", "track", "profile"), "upstream-video"),
    PeerSystem("edgeface-int8-detect", "edgeface INT8, detector every frame", "edgeface", ("int8", "detect", "0"),
               "upstream-perframe"),
    PeerSystem("edgeface-fp32-detect", "edgeface fp32, detector every frame", "edgeface", ("fp32", "detect", "0"),
               "upstream-perframe"),
)
SYSTEM_KEYS = tuple(s.key for s in SYSTEMS)


@dataclass
class PeerOptions:
    systems: Optional[List[str]] = None  # keys of SYSTEMS (None: all)
    cores: List[int] = field(default_factory=lambda: [1, 2])  # capped at the usable cores
    passes: int = 3
    rounds: int = 1  # run every system this many times, round-robin (fresh processes), and keep the median round
    frames: Optional[int] = None  # first N frames of the video (None: all 158)
    upstream: Optional[Path] = None  # upstream 3DDFA_V2 sources (default $EDGEFACE_MIRROR/3ddfa_v2)
    work_dir: Optional[Path] = None  # scratch (upstream copy, frames); default ~/.cache/edgeface-peers
    mediapipe_python: Optional[Path] = None  # a python with mediapipe; default: the venv in work_dir (created)
    install_mediapipe: bool = True  # create that venv (pip install mediapipe==0.10.18) when missing
    root: Optional[Path] = None  # edgeface model cache
    timeout_s: float = 900.0
    live_fps: List[float] = field(default_factory=lambda: [30.0, 60.0])  # live-camera latency runs (tools.bench.latency.live)
    baseline: Optional[Path] = None  # an earlier edgeface checkout: its INT8 tracking row beside this one's (same run)

    def __post_init__(self):
        if self.systems:
            bad = [s for s in self.systems if s not in SYSTEM_KEYS]
            if bad:
                raise OptionsError(f"unknown peer system {', '.join(bad)}: use {', '.join(SYSTEM_KEYS)}")
        if not self.cores or any(int(c) < 1 for c in self.cores):
            raise OptionsError(f"core counts must be >= 1, got {self.cores}")
        if int(self.passes) < 1:
            raise OptionsError(f"passes must be >= 1, got {self.passes}")
        if int(self.rounds) < 1:
            raise OptionsError(f"rounds must be >= 1, got {self.rounds}")
        if self.frames is not None and int(self.frames) < 1:
            raise OptionsError(f"frames must be >= 1, got {self.frames}")
        self.work_dir = Path(self.work_dir or os.environ.get("EDGEFACE_PEERS_DIR") or "~/.cache/edgeface-peers").expanduser()
        if self.baseline is not None:
            self.baseline = Path(self.baseline).expanduser().resolve()
            if baseline_worker(self.baseline) is None:
                raise OptionsError(f"{self.baseline} is not an edgeface checkout (no toolkit/edgeface with a peer "
                                   "worker): give the root of a clone, e.g. `git worktree add /tmp/base <commit>`")


#: the peer worker module of an edgeface checkout, by layout (tools/bench/peers since 2026-12-06, bench/ before)
BASELINE_WORKERS = (("edgeface/tools/bench/peers/edgeface_loop.py", "edgeface.tools.bench.peers.edgeface_loop"),
                    ("edgeface/bench/peers_edgeface.py", "edgeface.bench.peers_edgeface"))
BASELINE_KEY = "edgeface-int8-track-baseline"
PAIRED_KEY = "edgeface-int8-track"  # this checkout's row timed beside the baseline's


def baseline_worker(checkout: Path) -> Optional[str]:
    """The peer worker module of the edgeface checkout at `checkout` (None: not one)."""
    toolkit = Path(checkout) / "toolkit"
    return next((mod for rel, mod in BASELINE_WORKERS if (toolkit / rel).is_file()), None)


def baseline_path(checkout: Path, dest: Path) -> Path:
    """A directory to put on PYTHONPATH that imports the checkout's `edgeface` as its wheel would: the package
    from `toolkit/`, its data packages (board profiles, model cards, recipes) from the top-level folders
    pyproject.toml maps them to, as symbolic links in `dest` (the checkout itself is not touched)."""
    checkout = Path(checkout)
    pkg = dest / "edgeface"
    pkg.mkdir(parents=True, exist_ok=True)
    for entry in (checkout / "toolkit" / "edgeface").iterdir():
        (pkg / entry.name).symlink_to(entry)
    try:
        mapping = tomllib.loads((checkout / "pyproject.toml").read_text()).get("tool", {}).get("setuptools", {}).get(
            "package-dir", {})
    except (OSError, tomllib.TOMLDecodeError):
        mapping = {}
    for name, folder in mapping.items():
        parts = name.split(".")
        if parts[0] == "edgeface" and len(parts) == 2 and not (pkg / parts[1]).exists() and (checkout / folder).is_dir():
            (pkg / parts[1]).symlink_to((checkout / folder).resolve())
    return dest


def baseline_system(checkout: Path) -> PeerSystem:
    """The INT8 tracking row of an earlier checkout, labelled with its commit."""
    p = subprocess.run(["git", "-C", str(checkout), "log", "-1", "--format=%h %cs"], capture_output=True, text=True)
    rev = p.stdout.strip() if p.returncode == 0 and p.stdout.strip() else Path(checkout).name
    return PeerSystem(BASELINE_KEY, f"edgeface INT8, tracking (scans: profile interval), baseline {rev}", "baseline",
                      ("int8", "track", "profile"), "upstream-video")


def usable_cpus() -> List[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


def decode_frames(dest: Path, root: Optional[Path], frames: Optional[int]) -> dict:
    """Decode the sample video once (edgeface's reader: PyAV, edit lists ignored) into one .npy."""
    import numpy as np

    video = sample_path("obama", root)
    if not video.is_file():
        raise EdgefaceError(f"the sample video is not in the cache ({video}): run `edgeface fetch samples`")
    with open_video(video, max_frames=frames) as src:
        images = [f.image for f in src]
    if not images:
        raise EdgefaceError(f"no frames decoded from {video}")
    with atomic_path(dest, suffix=".npy") as tmp:
        np.save(tmp, np.stack(images))
    h, w = images[0].shape[:2]
    return {"video": video.name, "frames": len(images), "size": [w, h], "decoder": "pyav" if have_pyav() else "opencv"}


def mediapipe_python(opts: PeerOptions, log: Callable[[str], None]) -> tuple:
    """(python path or None, reason): a python that imports mediapipe==0.10.18, its venv made on demand."""
    if opts.mediapipe_python:
        p = Path(opts.mediapipe_python)
        return (p, "") if p.is_file() else (None, f"{p} does not exist")
    venv = opts.work_dir / f"venv-mediapipe-{MEDIAPIPE_VERSION}"
    py = venv / "bin" / "python"
    ok = venv / ".installed"
    if py.is_file() and ok.is_file():
        return py, ""
    if not opts.install_mediapipe:
        return None, f"no MediaPipe venv at {venv} (run without --no-install, or give --mediapipe-python)"
    if sys.version_info[:2] not in ((3, 9), (3, 10), (3, 11), (3, 12)):
        return None, f"mediapipe {MEDIAPIPE_VERSION} has wheels for Python 3.9-3.12, not {sys.version.split()[0]}"
    log(f"mediapipe: creating {venv} (pip install mediapipe=={MEDIAPIPE_VERSION}, once)")
    steps = ([sys.executable, "-m", "venv", str(venv)],
             [str(py), "-m", "pip", "install", "-q", f"mediapipe=={MEDIAPIPE_VERSION}"])
    for cmd in steps:
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            last = ((p.stderr or p.stdout).strip().splitlines() or ["no output"])[-1]
            return None, f"could not install mediapipe=={MEDIAPIPE_VERSION}: {last}"
    ok.write_text(MEDIAPIPE_VERSION)
    return py, ""


def run_worker(cmd: List[str], cpus: List[int], out: Path, timeout_s: float) -> dict:
    """One worker process pinned to `cpus`; its JSON result (or {"error": ...})."""
    out.unlink(missing_ok=True)
    try:
        p = subprocess.run(cmd, preexec_fn=pinned_to(cpus), capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout_s:.0f} s"}
    if out.is_file():
        return json.loads(out.read_text())
    last = ((p.stderr or p.stdout).strip().splitlines() or [f"exit code {p.returncode}"])[-1]
    return {"error": last}


def _commands(opts: PeerOptions, frames_file: Path, out: Path, log) -> tuple:
    """{system key: argv} for the systems that can run here, {key: (argv, env)} of the systems timed as a pair
    (`--baseline`: the earlier checkout and this one's INT8 tracking row), and [(key, reason)] for those that
    cannot run."""
    wanted = [s for s in SYSTEMS if not opts.systems or s.key in opts.systems]
    common = ["--frames", str(frames_file), "--out", str(out), "--passes", str(opts.passes)]
    cmds, skipped = {}, []
    upstream_dir, upstream_reason = None, ""
    if any(s.kind == "upstream" for s in wanted):
        src = upstream_source(opts.upstream)
        if src is None:
            upstream_reason = ("no upstream 3DDFA_V2 sources: give --upstream DIR (a clone of cleardusk/3DDFA_V2 "
                               "at 1b6c676) or set EDGEFACE_MIRROR")
        else:
            try:
                upstream_dir = prepare_upstream(src, opts.work_dir / "3ddfa_v2", opts.root, log=log)
            except (RuntimeError, OSError, EdgefaceError) as e:
                upstream_reason = str(e)
    mp_py, mp_reason = (None, "")
    if any(s.kind == "mediapipe" for s in wanted):
        mp_py, mp_reason = mediapipe_python(opts, log)
    for s in wanted:
        if s.kind == "upstream":
            if upstream_dir is None:
                skipped.append((s.key, upstream_reason))
                continue
            cmds[s.key] = [sys.executable, "-m", "edgeface.tools.bench.peers.upstream_loop", *common, "--", str(upstream_dir), *s.args]
        elif s.kind == "mediapipe":
            if mp_py is None:
                skipped.append((s.key, mp_reason))
                continue
            cmds[s.key] = [str(mp_py), str(BENCH_DIR / "mediapipe_loop.py"), *common, "--rgb"]
        else:
            variant = "int8" if s.args[0] == "int8" else "float32"
            if not store.model_path("mb05", variant, opts.root).is_file():
                skipped.append((s.key, f"mb05 is not converted at {s.args[0]}: run edgeface convert --model mb05"
                                       + (" --int8" if s.args[0] == "int8" else "")))
                continue
            cmds[s.key] = [sys.executable, "-m", "edgeface.tools.bench.peers.edgeface_loop", *common, "--", *s.args,
                           str(opts.root or "")]
    pair: dict = {}
    if opts.baseline is not None:  # timed as a pair with this checkout's INT8 tracking row (`paired`)
        mine = next(s for s in SYSTEMS if s.key == PAIRED_KEY)
        cmds.pop(mine.key, None)
        if not store.model_path("mb05", "int8", opts.root).is_file():
            skipped.append((BASELINE_KEY, "mb05 is not converted at int8: run edgeface convert --model mb05 --int8"))
        else:
            s = baseline_system(opts.baseline)
            env = dict(os.environ, PYTHONPATH=str(baseline_path(opts.baseline, out.parent / "baseline")))
            pair[mine.key] = (paired_command(frames_file, "edgeface.tools.bench.peers.edgeface_loop",
                                             [*mine.args, str(opts.root or "")]), None)
            pair[s.key] = (paired_command(frames_file, baseline_worker(opts.baseline), [*s.args, str(opts.root or "")]), env)
    return cmds, pair, skipped


def _median_round(results: list) -> dict:
    """The round with the median fps (its own pass figures kept), with every round's fps as `round_fps` and, for
    systems timed as a pair, every round's passes as `round_pass_fps` (None for a failed round: rounds stay aligned
    with the partner's)."""
    ok = sorted((r for r in results if "error" not in r), key=lambda r: r.get("fps", 0.0))
    if not ok:
        return results[-1]
    best = dict(ok[(len(ok) - 1) // 2])
    best["round_fps"] = [r.get("fps") for r in results if "error" not in r]
    if best.get("paired_with"):
        best["round_pass_fps"] = [None if "error" in r else r.get("pass_fps") for r in results]
    return best


def run_peers(opts: PeerOptions, progress: Optional[Callable[[str, int, int], None]] = None,
              log: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> dict:
    """Run every available system at every core count; the report dict (`report` renders it)."""
    machine = machine_info()  # its load_avg_start: before the first worker
    cpus = usable_cpus()
    cores = sorted({min(int(c), len(cpus)) for c in opts.cores})
    opts.work_dir.mkdir(parents=True, exist_ok=True)
    frames_file = opts.work_dir / f"obama_frames_{opts.frames or 'all'}.npy"
    video = decode_frames(frames_file, opts.root, opts.frames)
    with tempfile.TemporaryDirectory(prefix="edgeface-peers-") as tmp:
        out = Path(tmp) / "result.json"
        cmds, pair, skipped = _commands(opts, frames_file, out, log)
        # round-robin: a slow spell of a shared machine hits every system of a round, not one system
        jobs = [(r, c, k) for r in range(int(opts.rounds)) for c in cores for k in [*cmds, *(["pair"] if pair else [])]]
        by_case: dict = {}
        for i, (r, c, key) in enumerate(jobs):
            what = " beside ".join(pair) if key == "pair" else key
            if progress:
                progress(f"{what} on {c} core{'s' if c > 1 else ''}" + (f", round {r + 1}" if opts.rounds > 1 else ""),
                         i, len(jobs))
            load0 = load_avg()
            t0 = time.time()
            if key == "pair":
                results = run_paired(pair, cpus[:c], opts.passes, video["frames"], opts.timeout_s)
            else:
                results = {key: run_worker(cmds[key], cpus[:c], out, opts.timeout_s)}
            for k, res in results.items():
                res.update(system=k, cores_requested=c, load_before=load0[0] if load0 else None,
                           wall_s=round(time.time() - t0, 1))
                if "error" in res:
                    log(f"peer {k} on {c} core(s) failed: {res['error']}")
                by_case.setdefault((c, k), []).append(res)
        keys = [k for k in (*SYSTEM_KEYS, BASELINE_KEY) if k in cmds or k in pair]
        rows = [_median_round(by_case[(c, k)]) for c in cores for k in keys]
        live = []
        if opts.live_fps and store.model_path("mb05", "int8", opts.root).is_file():
            for c in cores:
                for fps in opts.live_fps:
                    if progress:
                        progress(f"live {fps:g} fps on {c} core{'s' if c > 1 else ''}", len(jobs), len(jobs))
                    cmd = [sys.executable, "-m", "edgeface.tools.bench.latency.live", "--fps", str(fps), "--out", str(out)]
                    if opts.root:
                        cmd += ["--root", str(opts.root)]
                    res = run_worker(cmd, cpus[:c], out, opts.timeout_s)
                    res.update(cores_requested=c)
                    if "error" in res:
                        log(f"live {fps:g} fps on {c} core(s) failed: {res['error']}")
                    live.append(res)
        if progress:
            progress("done", len(jobs), len(jobs))
    machine["load_avg_end"] = load_avg()
    # whether edgeface's TFLite models ran through XNNPACK (its workers say; None if none ran)
    machine["xnnpack"] = next((r["xnnpack"] for r in rows if r.get("xnnpack") is not None), None)
    return {"format": FORMAT, "machine": machine, "video": video, "passes": opts.passes, "rounds": int(opts.rounds), "cores": cores,
            "cpus": cpus[:max(cores)], "systems": {s.key: {"label": s.label, "baseline": s.baseline}
                                                    for s in SYSTEMS + ((baseline_system(opts.baseline),) if opts.baseline else ())},
            "results": rows, "live": live, "skipped": [{"system": k, "reason": r} for k, r in skipped]}


__all__ = ("FORMAT", "PeerOptions", "PeerSystem", "SYSTEMS", "SYSTEM_KEYS", "BASELINE_KEY", "run_peers", "decode_frames",
           "run_worker", "baseline_worker", "baseline_system")
