"""The bad-input corpus: one table of bad inputs, each run as a user would (`python -m edgeface` in a
subprocess, so a segfault or a traceback shows), asserting for every case: the exit code, exactly
one `error:` line naming the file and the fix, no traceback, nothing half-written, and no earlier
output lost.

Damaged caches are light copies of the session cache (`cp -as`: symlinks) with the one file under
test replaced. A full disk is a 64 KiB tmpfs (root only; skipped with the reason otherwise). The
unreadable folder runs as root without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH (setpriv), since root
reads anything.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import cv2
import numpy as np
import pytest

from edgeface.errors import EdgefaceError

SENTINEL = '{"frame": 0, "earlier": "output of a previous run"}\n'
DISK_KB = 64


@dataclass
class Env:
    tmp: Path
    home: Path
    samples: dict
    out: Path = field(init=False)
    disk: Path = field(init=False)

    def __post_init__(self):
        self.out = self.tmp / "out"
        self.out.mkdir()
        self.disk = self.tmp / "disk"

    def replace(self, rel: str, data: bytes) -> Path:
        """Replace one cache file (a symlink in the light copy) by `data`."""
        p = self.home / rel
        original = p.resolve().read_bytes()
        p.unlink()
        p.write_bytes(data(original) if callable(data) else data)
        return p

    def edit_json(self, rel: str, fn: Callable[[dict], dict]) -> None:
        p = self.home / rel
        d = json.loads(p.read_text())
        self.replace(rel, json.dumps(fn(d)).encode())

    def folder(self, good: int, bad: dict) -> Path:
        d = self.tmp / "photos"
        d.mkdir(exist_ok=True)
        for i in range(good):
            shutil.copy(self.samples["jianzhuguo"], d / f"{i:02d}_ok.jpg")
        for name, data in bad.items():
            (d / name).write_bytes(data)
        return d


@dataclass
class Case:
    id: str
    argv: Callable[[Env], list]
    code: int
    names: str  # must appear in the error line (the file or option at fault)
    fix: str  # must appear in it too (what to do)
    setup: Optional[Callable[[Env], None]] = None
    check: Optional[Callable[[Env, subprocess.CompletedProcess], None]] = None
    disk: bool = False  # outputs go to a full (tiny) disk
    unprivileged: bool = False  # run without root's permission override


def _half(b: bytes) -> bytes:
    return b[: len(b) // 2]


def _garbage(b: bytes) -> bytes:
    return np.random.default_rng(7).integers(0, 256, len(b), dtype=np.uint8).tobytes()


def _run_img(env: Env, *extra) -> list:
    return ["run", "--source", str(env.samples["jianzhuguo"]), "--json", str(env.out / "out.jsonl"), *extra]


def _run_video(env: Env, dest: str, frames: int = 40) -> list:
    return ["run", "--source", str(env.samples["obama"]), "--max-frames", str(frames), *dest.format(d=env.disk).split()]


def _jsonl_kept(env: Env, proc) -> None:
    """The earlier out.jsonl is untouched and no partial output lies around."""
    assert (env.out / "out.jsonl").read_text() == SENTINEL
    assert not list(env.out.glob("*.part*")), list(env.out.iterdir())


def _nothing_on_disk_but_complete(env: Env, proc) -> None:
    for p in env.disk.rglob("*"):
        if p.is_dir():
            continue
        assert not p.name.startswith("."), f"temporary file left: {p}"
        if p.suffix in (".jpg", ".png"):
            assert cv2.imread(str(p)) is not None, f"half-written image {p}"
        if p.name.endswith(".jsonl.part"):  # the frames done before the disk filled: complete lines only
            text = p.read_text()
            assert text == "" or text.endswith("\n")
            [json.loads(line) for line in text.splitlines()]
        assert p.suffix not in (".mp4", ".jsonl", ".ply"), f"a broken output was renamed into place: {p}"


def _calib(env: Env, name: str, data) -> Path:
    p = env.tmp / name
    if isinstance(data, bytes):
        p.write_bytes(data)
    else:
        np.save(p, data) if name.endswith(".npy") else np.savez(p, **data)
    return p


def _record_then_replace(env: Env, asset: str, data) -> None:
    from edgeface.hub.assets import write_record

    p = env.home / "assets" / asset
    real = p.resolve()
    p.unlink()
    shutil.copy(real, p)
    write_record(p)  # the record of the good file, as `edgeface fetch` writes it
    p.write_bytes(data(p.read_bytes()))


REGRESSOR_INT8 = "tflite/mb05/mb05_int8.tflite"
CASES = [
    # --- models and their manifests (verify before load)
    Case("tflite-truncated", lambda e: _run_img(e, "--precision", "int8"), 3, "mb05_int8.tflite", "edgeface convert",
         setup=lambda e: e.replace(REGRESSOR_INT8, _half), check=_jsonl_kept),
    Case("tflite-garbage-same-size", lambda e: _run_img(e, "--precision", "int8"), 3, "faceboxes_640x480_int8.tflite",
         "sha256", setup=lambda e: e.replace("tflite/faceboxes_640x480/faceboxes_640x480_int8.tflite", _garbage),
         check=_jsonl_kept),
    Case("tflite-empty", lambda e: _run_img(e, "--precision", "fp32"), 3, "mb05_float32.tflite", "edgeface convert",
         setup=lambda e: e.replace("tflite/mb05/mb05_float32.tflite", b""), check=_jsonl_kept),
    Case("manifest-empty-object", lambda e: _run_img(e, "--precision", "int8"), 3, "mb05_int8.json", "edgeface convert",
         setup=lambda e: e.replace("tflite/mb05/mb05_int8.json", b"{}"), check=_jsonl_kept),
    Case("manifest-not-json", lambda e: _run_img(e, "--precision", "int8"), 3, "mb05_int8.json", "edgeface convert",
         setup=lambda e: e.replace("tflite/mb05/mb05_int8.json", _half), check=_jsonl_kept),
    Case("manifest-bad-dtype", lambda e: _run_img(e, "--precision", "int8"), 3, "input.dtype", "edgeface convert",
         setup=lambda e: e.edit_json("tflite/mb05/mb05_int8.json", lambda d: {**d, "input": {**d["input"], "dtype": "complex64"}}),
         check=_jsonl_kept),
    Case("manifest-of-another-model", lambda e: _run_img(e, "--precision", "int8"), 3, "mb05_int8_floatio.tflite",
         "edgeface convert", setup=lambda e: e.edit_json("tflite/mb05/mb05_int8.json",
                                                         lambda d: {**d, "file": "mb05_int8_floatio.tflite"}),
         check=_jsonl_kept),
    Case("float-head-truncated", lambda e: _run_img(e, "--precision", "int8"), 3, "mb05_head.npz", "edgeface convert",
         setup=lambda e: e.replace("tflite/mb05/mb05_head.npz", _half), check=_jsonl_kept),
    Case("onnx-garbage", lambda e: _run_img(e, "--backend", "onnx"), 2, "mb05.onnx", "edgeface export",
         setup=lambda e: e.replace("onnx/mb05.onnx", b"not an onnx model\n" * 50), check=_jsonl_kept),
    # --- assets (.npz): without a record (an older cache), and with one
    Case("npz-truncated-no-record", lambda e: _run_img(e), 3, "param_stats.npz", "edgeface fetch param_stats",
         setup=lambda e: (e.replace("assets/param_stats.npz", _half), (e.home / "assets/param_stats.json").unlink(missing_ok=True)),
         check=_jsonl_kept),
    Case("npz-truncated-with-record", lambda e: _run_img(e), 3, "sparse_bases.npz", "edgeface fetch sparse_bases",
         setup=lambda e: _record_then_replace(e, "sparse_bases.npz", _half), check=_jsonl_kept),
    Case("npz-garbage-with-record", lambda e: _run_img(e, "--dense", "--save", str(e.out / "mesh.jpg")), 3, "mesh.npz", "edgeface fetch mesh",
         setup=lambda e: _record_then_replace(e, "mesh.npz", _garbage), check=_jsonl_kept),
    # --- calibration sets
    Case("calibration-npy", lambda e: ["convert", "--model", "mb05", "--int8", "--calibration", str(_calib(e, "x.npy", np.zeros((4, 120, 120, 3), np.uint8)))],
         2, "x.npy", "edgeface calibrate"),
    Case("calibration-garbage-npz", lambda e: ["convert", "--model", "mb05", "--int8", "--calibration", str(_calib(e, "cal.npz", b"PK\x03\x04garbage"))],
         2, "cal.npz", "edgeface calibrate"),
    Case("calibration-wrong-arrays", lambda e: ["convert", "--model", "mb05", "--int8", "--calibration", str(_calib(e, "other.npz", {"x": np.zeros(3)}))],
         2, "other.npz", "edgeface calibrate"),
    # --- inputs
    Case("image-truncated", lambda e: ["run", "--source", str(_calib(e, "half.jpg", _half(e.samples["jianzhuguo"].read_bytes())))],
         2, "half.jpg", "re-export"),
    Case("image-garbage", lambda e: ["run", "--source", str(_calib(e, "notes.png", b"meeting notes, not a picture\n"))],
         2, "notes.png", "re-export"),
    Case("image-empty", lambda e: ["run", "--source", str(_calib(e, "empty.jpg", b""))], 2, "empty.jpg", "re-export"),
    Case("folder-all-corrupt", lambda e: ["run", "--source", str(e.folder(0, {"a.jpg": b"x", "b.png": b""}))],
         2, "photos", "re-export"),
    Case("folder-empty", lambda e: ["run", "--source", str(e.folder(0, {}))], 2, "photos", "expected files such as .jpg"),
    Case("folder-unreadable", lambda e: ["run", "--source", str(e.folder(1, {}))], 2, "photos", "chmod",
         setup=lambda e: os.chmod(e.folder(1, {}), 0), unprivileged=True),
    Case("video-truncated", lambda e: ["run", "--source", str(_calib(e, "clip.mp4", e.samples["obama"].read_bytes()[:3000]))],
         2, "clip.mp4", ""),
    Case("video-garbage", lambda e: ["run", "--source", str(_calib(e, "clip.avi", _garbage(b"x" * 20000)))],
         2, "clip.avi", ""),
    # --- outputs and options
    Case("save-unknown-type-keeps-jsonl", lambda e: _run_img(e, "--save", str(e.out / "out.xyz")), 2, ".xyz",
         "use .jsonl, .mp4", check=_jsonl_kept),
    Case("precision-unknown", lambda e: _run_img(e, "--precision", "int9"), 2, "int9", "fp32", check=_jsonl_kept),
    Case("serve-bad-port", lambda e: _run_img(e, "--serve", "99999"), 2, "99999", "[HOST:]PORT", check=_jsonl_kept),
    Case("serve-token-too-short", lambda e: _run_img(e, "--serve", "0.0.0.0:0", "--serve-token", "abc"), 2,
         "--serve-token", "at least 16", check=_jsonl_kept),
    Case("render-unknown", lambda e: _run_img(e, "--render", "wireframe"), 2, "wireframe", "use one of", check=_jsonl_kept),
    Case("detector-size-bad", lambda e: _run_img(e, "--detector-size", "12x7"), 2, "12x7", "", check=_jsonl_kept),
    Case("camera-bad", lambda e: ["run", "--camera", "front"], 2, "front", "--camera 1"),
    # --- a full disk, for every output kind
    Case("disk-full-jsonl", lambda e: _run_video(e, "--json {d}/out.jsonl"), 2, "out.jsonl", "free some space",
         disk=True, check=_nothing_on_disk_but_complete),
    Case("disk-full-mp4", lambda e: _run_video(e, "--save {d}/out.mp4"), 2, "out.mp4", "free some space",
         disk=True, check=_nothing_on_disk_but_complete),
    Case("disk-full-jpg", lambda e: ["run", "--source", str(e.samples["trump_hillary"]), "--save", f"{e.disk}/out.png"],
         2, "out.png", "free some space", disk=True, check=_nothing_on_disk_but_complete),
    Case("disk-full-folder", lambda e: _run_video(e, "--save {d}/frames/"), 2, "frames", "free some space",
         disk=True, check=_nothing_on_disk_but_complete),
    Case("disk-full-mesh", lambda e: ["run", "--source", str(e.samples["jianzhuguo"]), "--export-mesh", f"{e.disk}/meshes"],
         2, "meshes", "free some space", disk=True, check=_nothing_on_disk_but_complete),
]


@pytest.fixture(scope="module")
def base_home(converted_home):
    return converted_home


def _light_copy(base: Path, dest: Path) -> Path:
    subprocess.run(["cp", "-as", str(base.resolve()), str(dest)], check=True)
    return dest


def _mount_tmpfs(path: Path) -> Optional[str]:
    path.mkdir()
    if os.geteuid() != 0:
        return "a full disk needs a tiny tmpfs mount: run as root"
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_KB}k", "tmpfs", str(path)], capture_output=True, text=True)
    return None if r.returncode == 0 else f"cannot mount a tmpfs here ({r.stderr.strip()})"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case, base_home, samples, tmp_path):
    home = _light_copy(base_home, tmp_path / "home")
    env = Env(tmp_path, home, samples)
    (env.out / "out.jsonl").write_text(SENTINEL)  # an earlier run's output, to be kept
    if case.setup:
        case.setup(env)
    mounted = False
    if case.disk:
        why = _mount_tmpfs(env.disk)
        if why:
            pytest.skip(why)
        mounted = True
    cmd = [sys.executable, "-m", "edgeface", *case.argv(env)]
    if case.unprivileged:
        if os.geteuid() != 0:
            pass  # an ordinary user cannot read a mode-000 folder anyway
        elif shutil.which("setpriv") is None:
            pytest.skip("setpriv (util-linux) is needed to drop root's permission override")
        else:
            cmd = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--", *cmd]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                              env={**os.environ, "EDGEFACE_HOME": str(home), "COLUMNS": "300"})
        output = proc.stdout + proc.stderr
        assert "Traceback" not in output, output
        assert proc.returncode == case.code, output
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, output
        line = errors[0]
        assert case.names in line and case.fix in line, line
        if case.check:
            case.check(env, proc)
    finally:
        if mounted:
            subprocess.run(["umount", str(env.disk)], check=False)


def test_the_corpus_is_big_enough():
    assert len(CASES) >= 25 and len({c.id for c in CASES}) == len(CASES)


def test_a_folder_with_one_corrupt_photo_goes_on(samples, converted_home, tmp_path):
    """Not an error: the bad photo is skipped with one warning line and counted; the others are written."""
    env = Env(tmp_path, converted_home, samples)
    folder = env.folder(2, {"01_broken.jpg": _half(samples["jianzhuguo"].read_bytes())})
    proc = subprocess.run([sys.executable, "-m", "edgeface", "run", "--source", str(folder), "--json",
                           str(env.out / "r.jsonl"), "--save", str(env.out / "annotated/")],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "300"})
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "01_broken.jpg" in warnings[0] and "skipped" in warnings[0]
    assert "skipped 1 file(s)" in proc.stdout
    recs = [json.loads(line) for line in (env.out / "r.jsonl").read_text().splitlines()]
    assert [Path(r["source"]).name for r in recs] == ["00_ok.jpg", "01_ok.jpg"]
    assert len(list((env.out / "annotated").glob("*.jpg"))) == 2


def test_card_and_target_profile_damage_is_one_line():
    """Cards and target profiles are package data: a damaged one is one line naming the file."""
    from edgeface.boards.profiles import parse_profile
    from edgeface.hub import package_data
    from edgeface.hub.cards import _parse_card, load_repos

    bad = [
        lambda: package_data.parse_file("[runtime\nthreads = 4\n", "edgeface.targets file rpi4.toml"),
        lambda: package_data.parse_named("edgeface.targets file rpi4.toml", {"name": "rpi4"}, parse_profile),
        lambda: package_data.parse_file('name = "mb05"\nfiles = [', "edgeface.cards file mb05.toml"),
        lambda: package_data.parse_named("edgeface.cards file mb05.toml", {"name": "mb05"},
                                         lambda t: _parse_card(t, load_repos())),
        lambda: package_data.parse_named("edgeface.cards file mb05.toml", {"name": "mb05", "source": "x"},
                                         lambda t: _parse_card(t, load_repos())),
    ]
    for fn in bad:
        with pytest.raises(EdgefaceError) as e:
            fn()
        msg = str(e.value)
        assert "\n" not in msg and (".toml" in msg or "rpi4" in msg), msg
