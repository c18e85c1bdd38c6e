"""Issue 27, classes 7 and 9-12: a corpus of hostile outputs and inputs, each run as a user would
(`python -m edgeface` in a subprocess, so a traceback or a hang shows), asserting for every case: exit
code 2 or 3, exactly one `error:` line naming the path or option at fault, no traceback, and the whole
working folder exactly as before (nothing written outside, or inside, the target; the inputs, the FIFO,
the symlink and the character devices made here with os.mknod untouched: same type, inode, size, bytes).

The guard's rules as properties over generated paths are tests/test_output_guard.py; this file also
holds the behaviour that is not an error: a folder with an image bomb goes on, folder outputs keep the
input names, a FaceAligner shared by two threads.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import struct
import subprocess
import sys
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import pytest

DEV_NULL = os.makedev(1, 3)
DEV_FULL = os.makedev(1, 7)


def _png_bomb(w: int = 50000, h: int = 50000) -> bytes:
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IEND", b"")


def _jpeg_bomb(w: int = 60000, h: int = 60000) -> bytes:
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, h, w, 3) + b"\x01\x11\x00\x02\x11\x00\x03\x11\x00"
    return b"\xff\xd8" + sof + b"\xff\xd9"


def _webp_bomb() -> bytes:
    body = b"VP8X" + struct.pack("<I", 10) + b"\x00" * 4 + (16383).to_bytes(3, "little") + (16383).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


def _bmp_bomb() -> bytes:
    return b"BM" + struct.pack("<IHHI", 54, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, 30000, -30000, 1, 24, 0, 0, 0, 0, 0, 0)


@dataclass
class W:
    """The working folder of one case: inputs, special files, and the eval report to re-render."""

    root: Path

    def __getattr__(self, name: str) -> str:  # w.me -> str(root / "me.jpg") etc.
        return str(self.root / FILES[name])


FILES = {
    "me": "me.jpg", "clip": "clip.mp4", "faces": "faces", "fifo": "pipe", "fifo_jpg": "pipe.jpg",
    "fifo_mp4": "pipe.mp4", "null": "null", "null_jpg": "null.jpg", "full": "full", "link": "link.jsonl",
    "dangling": "dangling.jsonl", "adir": "adir", "ro": "ro", "report": "report.json", "png_bomb": "bomb.png",
    "jpg_bomb": "bomb.jpg", "webp_bomb": "bomb.webp", "bmp_bomb": "bomb.bmp", "null_mp4": "null.mp4",
    "target": "target.txt", "part_fifo": "held.jsonl",
}


def _make_workdir(root: Path, samples: dict) -> None:
    shutil.copy(samples["emma"], root / "me.jpg")
    shutil.copy(samples["obama"], root / "clip.mp4")
    (root / "faces").mkdir()
    shutil.copy(samples["jianzhuguo"], root / "faces" / "a.jpg")
    shutil.copy(samples["trump_hillary"], root / "faces" / "b.jpg")
    for name in ("pipe", "pipe.jpg", "pipe.mp4", "held.jsonl.part"):
        os.mkfifo(root / name)
    for name, dev in (("null", DEV_NULL), ("null.jpg", DEV_NULL), ("null.mp4", DEV_NULL), ("full", DEV_FULL)):
        os.mknod(root / name, 0o666 | stat.S_IFCHR, dev)
    (root / "target.txt").write_text("the file a symlink points at\n")
    (root / "link.jsonl").symlink_to(root / "target.txt")
    (root / "dangling.jsonl").symlink_to(root / "gone" / "x.jsonl")
    (root / "adir").mkdir()
    (root / "ro").mkdir()
    (root / "bomb.png").write_bytes(_png_bomb())
    (root / "bomb.jpg").write_bytes(_jpeg_bomb())
    (root / "bomb.webp").write_bytes(_webp_bomb())
    (root / "bomb.bmp").write_bytes(_bmp_bomb())
    (root / "report.json").write_text((Path(__file__).parents[1] / "benchmarks" / "eval-faces68.json").read_text())


def _snapshot(root: Path) -> dict:
    """Every entry under `root`: type, inode, size, and the bytes' digest of regular files (never opening
    a FIFO or a device)."""
    snap = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = os.lstat(p)
            digest = hashlib.sha256(p.read_bytes()).hexdigest() if stat.S_ISREG(st.st_mode) else None
            link = os.readlink(p) if stat.S_ISLNK(st.st_mode) else None
            snap[str(p.relative_to(root))] = (stat.S_IFMT(st.st_mode), st.st_ino, st.st_size, st.st_rdev, digest, link)
    return snap


@dataclass
class Case:
    id: str
    argv: Callable[[W], list]
    names: str  # in the error line: the path or option at fault
    env: Optional[Callable[[W], dict]] = None
    readonly: bool = False  # `ro/` is made a read-only mount for this case (root ignores mode bits)


def _run(*extra) -> Callable[[W], list]:
    return lambda w: ["run", *[getattr(w, a[1:]) if a.startswith("@") else a for a in extra]]


def _cmd(*extra) -> Callable[[W], list]:
    return lambda w: [getattr(w, a[1:]) if a.startswith("@") else a for a in extra]


CASES = [
    # --- class 9: an output that is the input, or inside the input folder being read
    Case("save-onto-input-photo", _run("--source", "@me", "--save", "@me"), "is the input"),
    Case("json-onto-input-photo", _run("--source", "@me", "--json", "@me"), "is the input"),
    Case("json-onto-input-video", _run("--source", "@clip", "--json", "@clip"), "is the input"),
    Case("save-onto-input-video", _run("--source", "@clip", "--save", "@clip"), "is the input"),
    Case("save-into-input-folder", lambda w: ["run", "--source", w.faces, "--save", w.faces + "/annotated/"],
         "inside the input folder"),
    Case("json-into-input-folder", lambda w: ["run", "--source", w.faces, "--json", w.faces + "/r.jsonl"],
         "inside the input folder"),
    Case("mesh-into-input-folder", lambda w: ["run", "--source", w.faces, "--export-mesh", w.faces + "/m"],
         "inside the input folder"),
    Case("save-folder-holding-input", lambda w: ["run", "--source", w.me, "--save", str(w.root) + "/"], "holds the input"),
    Case("save-onto-input-via-dotdot", lambda w: ["run", "--source", w.me, "--save",
                                                  f"{w.root}/adir/../me.jpg"], "is the input"),
    Case("same-path-json-and-save", lambda w: ["run", "--source", w.me, "--json", f"{w.root}/o.jsonl", "--save",
                                               f"{w.root}/o.jsonl"], "both name"),
    Case("same-path-json-and-mesh", lambda w: ["run", "--source", w.me, "--json", f"{w.root}/o", "--export-mesh",
                                               f"{w.root}/o"], "--json"),
    # --- class 9: outputs that are special files: refused, nothing replaced
    Case("json-fifo", _run("--source", "@me", "--json", "@fifo"), "is a FIFO"),
    Case("json-char-device", _run("--source", "@me", "--json", "@null"), "is a character device"),
    Case("json-symlink", _run("--source", "@me", "--json", "@link"), "is a symlink"),
    Case("json-dangling-symlink", _run("--source", "@me", "--json", "@dangling"), "is a symlink"),
    Case("save-image-char-device", _run("--source", "@me", "--save", "@null_jpg"), "is a character device"),
    Case("save-video-fifo", _run("--source", "@clip", "--save", "@fifo_mp4"), "is a FIFO"),
    Case("save-video-char-device", _run("--source", "@clip", "--save", "@null_mp4"), "is a character device"),
    Case("save-folder-char-device", _run("--source", "@me", "--save", "@full"), "is a character device"),
    Case("mesh-fifo", _run("--source", "@me", "--export-mesh", "@fifo"), "is a FIFO"),
    Case("jsonl-part-is-a-fifo", lambda w: ["run", "--source", w.me, "--json", w.part_fifo], "held.jsonl.part"),
    Case("pack-out-dev-full", _cmd("pack", "-o", "@full"), "is a character device"),
    Case("pack-out-folder", _cmd("pack", "-o", "@adir"), "is a folder"),
    Case("collect-json-char-device", _cmd("collect", "mqtt://127.0.0.1:9/x", "--json", "@null", "--duration", "1"),
         "is a character device"),
    # --- class 12: folders and read-only folders found before the work
    Case("json-is-a-folder", _run("--source", "@me", "--json", "@adir"), "is a folder"),
    Case("json-under-a-file", lambda w: ["run", "--source", w.me, "--json", w.target + "/r.jsonl"], "is not a folder"),
    Case("json-read-only-folder", lambda w: ["run", "--source", w.me, "--json", w.ro + "/r.jsonl"], "read-only",
         readonly=True),
    Case("save-read-only-folder", lambda w: ["run", "--source", w.clip, "--save", w.ro + "/sub/out.mp4"], "read-only",
         readonly=True),
    Case("edgeface-home-is-a-file", lambda w: ["run", "--source", w.me, "--json", f"{w.root}/adir/r.jsonl"],
         "EDGEFACE_HOME", env=lambda w: {"EDGEFACE_HOME": w.me}),
    # --- bench report files
    Case("eval-json-onto-from-json", _cmd("bench", "eval", "--from-json", "@report", "--json", "@report"), "is the input"),
    Case("eval-json-and-markdown-one-path", lambda w: ["bench", "eval", "--from-json", w.report, "--json",
                                                       f"{w.root}/r.x", "--markdown", f"{w.root}/r.x"], "both name"),
    Case("eval-plot-fifo", _cmd("bench", "eval", "--from-json", "@report", "--plot", "@fifo"), "is a FIFO"),
    # --- class 7: image bombs, refused from the header before decoding
    Case("png-bomb", lambda w: ["run", "--source", w.png_bomb, "--json", f"{w.root}/adir/r.jsonl"], "50000x50000"),
    Case("jpeg-bomb", lambda w: ["run", "--source", w.jpg_bomb, "--json", f"{w.root}/adir/r.jsonl"], "60000x60000"),
    Case("webp-bomb", lambda w: ["run", "--source", w.webp_bomb, "--json", f"{w.root}/adir/r.jsonl"], "16384x16384"),
    Case("bmp-bomb", lambda w: ["run", "--source", w.bmp_bomb, "--json", f"{w.root}/adir/r.jsonl"], "30000x30000"),
    Case("pixel-limit-lowered", lambda w: ["run", "--source", w.me, "--max-pixels", "1000", "--json",
                                           f"{w.root}/adir/r.jsonl"], "--max-pixels"),
    # --- class 10 and 12: limits and hostile sources
    Case("camera-index-huge", _cmd("run", "--camera", "99999999999999999999"), "99999999999999999999"),
    Case("camera-index-above-255", _cmd("run", "--camera", "256"), "0-255"),
    Case("source-fifo", lambda w: ["run", "--source", w.fifo_jpg, "--json", f"{w.root}/adir/r.jsonl"], "is a FIFO"),
    Case("source-char-device", lambda w: ["run", "--source", w.null_mp4, "--json", f"{w.root}/adir/r.jsonl"],
         "is a character device"),
]


def test_the_corpus_is_big_enough():
    assert len(CASES) >= 30 and len({c.id for c in CASES}) == len(CASES)


@pytest.fixture
def workdir(tmp_path, samples):
    if os.geteuid() != 0:
        pytest.skip("the corpus makes character devices with os.mknod: run as root")
    root = tmp_path / "w"
    root.mkdir()
    _make_workdir(root, samples)
    return root


def _read_only_mount(path: Path) -> Optional[str]:
    r = subprocess.run(["mount", "--bind", str(path), str(path)], capture_output=True, text=True)
    if r.returncode != 0:
        return f"cannot bind-mount here ({r.stderr.strip()})"
    r = subprocess.run(["mount", "-o", "remount,bind,ro", str(path)], capture_output=True, text=True)
    if r.returncode != 0:
        subprocess.run(["umount", str(path)], check=False)
        return f"cannot remount read-only ({r.stderr.strip()})"
    return None


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_io(case, workdir, edgeface_home):
    w = W(workdir)
    mounted = False
    if case.readonly:
        why = _read_only_mount(workdir / "ro")
        if why:
            pytest.skip(why)
        mounted = True
    before = _snapshot(workdir)
    env = {**os.environ, "EDGEFACE_HOME": str(edgeface_home), "COLUMNS": "300", **(case.env(w) if case.env else {})}
    try:
        proc = subprocess.run([sys.executable, "-m", "edgeface", *case.argv(w)], capture_output=True, text=True,
                              timeout=120, env=env, cwd=workdir / "adir")
    finally:
        if mounted:
            subprocess.run(["umount", str(workdir / "ro")], check=False)
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output, output
    assert proc.returncode in (2, 3), output
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and len(proc.stderr.strip().splitlines()) <= 3, output
    assert case.names in errors[0], errors[0]
    assert _snapshot(workdir) == before  # nothing written, replaced or removed anywhere under the folder


def test_a_folder_with_an_image_bomb_goes_on_with_input_names(workdir, converted_home, samples):
    """Not an error: the bomb in a folder is skipped with one warning and counted; the outputs keep the
    input names (a.jpg, b.jpg), two inputs with one stem are told apart and said; the inputs are untouched."""
    faces = workdir / "faces"
    (faces / "0_bomb.png").write_bytes(_png_bomb())
    shutil.copy(faces / "a.jpg", faces / "a.png")
    before = _snapshot(faces)
    out = workdir / "adir"
    proc = subprocess.run([sys.executable, "-m", "edgeface", "run", "--source", str(faces), "--precision", "int8",
                           "--json", str(out / "r.jsonl"), "--save", str(out / "annotated") + "/", "--export-mesh",
                           str(out / "meshes")], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "EDGEFACE_HOME": str(converted_home), "COLUMNS": "300"})
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "0_bomb.png" in warnings[0] and "50000x50000" in warnings[0], proc.stderr
    assert "a.png written as a_png.jpg" in proc.stderr
    assert "skipped 1 file(s)" in proc.stdout
    assert sorted(p.name for p in (out / "annotated").iterdir()) == ["a.jpg", "a_png.jpg", "b.jpg"]
    meshes = sorted(p.name for p in (out / "meshes").iterdir())
    assert meshes and {m.split("_face")[0] for m in meshes} == {"a", "a_png", "b"}
    recs = [json.loads(line) for line in (out / "r.jsonl").read_text().splitlines()]
    assert [Path(r["source"]).name for r in recs] == ["a.jpg", "a.png", "b.jpg"]
    assert _snapshot(faces) == before


def test_one_aligner_shared_by_two_threads(converted_home, samples):
    """Class 11: calls from two threads serialise on the aligner's lock: no raw TFLite RuntimeError, and
    every result is the one a single thread gets."""
    import cv2

    import edgeface

    images = [cv2.imread(str(samples[k])) for k in ("emma", "trump_hillary", "jianzhuguo")]
    with edgeface.FaceAligner.create(precision="int8", cache_root=converted_home, running_mode="image") as aligner:
        want = [len(aligner.detect(im).faces) for im in images]
        got: list = []
        errors: list = []

        def work(k: int) -> None:
            for i in range(6):
                try:
                    im = images[(i + k) % len(images)]
                    got.append(((i + k) % len(images), len(aligner.detect(im).faces)))
                except Exception as e:  # what issue 27 saw: RuntimeError from the interpreter
                    errors.append(repr(e))

        threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
    assert not errors, errors
    assert len(got) == 12 and all(n == want[i] for i, n in got), (got, want)


@pytest.mark.system
def test_two_boards_with_one_id_are_told_apart_from_a_slow_broker(tmp_path):
    """Class 12: two boards with the same default id (`raspberrypi`) kick each other off a real broker; the
    publisher says so (and how to fix it) instead of blaming the broker for the backlog."""
    import time

    from mosquitto import Broker

    from edgeface.fleet.disk_queue import DiskQueue
    from edgeface.fleet.mqtt_link import parse_url
    from edgeface.fleet.mqtt_publisher import MqttPublisher

    broker = Broker(tmp_path / "broker").start()
    pubs = []
    try:
        target = parse_url(broker.url())
        for k in range(2):
            pubs.append(MqttPublisher(target, "raspberrypi", DiskQueue(tmp_path / f"q{k}"), status_interval=0.2).start())
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(p.taken_over for p in pubs):
            time.sleep(0.1)
    finally:
        for p in pubs:
            p.close(0.0)
        broker.stop()
    taken = [p for p in pubs if p.taken_over]
    assert taken, "the broker never dropped either board"
    assert "another board using the id 'raspberrypi'" in taken[0].last_problem
    assert "--board-id" in taken[0].last_problem


def test_mp4_on_a_disk_already_full_says_so(workdir, converted_home, samples):
    """Class 12: an MP4 asked for on a full disk said "install an OpenCV build with FFmpeg"."""
    disk = workdir / "adir" / "disk"
    disk.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip()})")
    try:
        subprocess.run(["dd", "if=/dev/zero", f"of={disk / 'fill'}", "bs=4k", "count=100"], capture_output=True)
        proc = subprocess.run([sys.executable, "-m", "edgeface", "run", "--source", str(samples["obama"]), "--max-frames",
                               "5", "--save", str(disk / "out.mp4")], capture_output=True, text=True, timeout=300,
                              env={**os.environ, "EDGEFACE_HOME": str(converted_home), "COLUMNS": "300"})
        names = sorted(p.name for p in disk.iterdir())
    finally:
        subprocess.run(["umount", str(disk)], check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "the disk is full" in errors[0] and "FFmpeg" not in errors[0], proc.stderr
    assert names == ["fill"]


def test_eval_skips_an_image_bomb_and_counts_it(tmp_path, converted_home):
    """Class 7: an image bomb among the annotated images aborted `eval` with a cv2 traceback; now it is
    skipped with one warning, listed in the report, and the other images are scored."""
    faces68 = Path(__file__).parents[2] / "shared" / "eval" / "faces68"
    if not faces68.is_dir():
        pytest.skip(f"no {faces68}")
    folder = tmp_path / "set"
    folder.mkdir()
    image = sorted(faces68.glob("*.jpg"))[0]
    pts = sorted(faces68.glob(f"{image.stem}_*.pts"))
    shutil.copy(image, folder / image.name)
    for p in pts:
        shutil.copy(p, folder / p.name)
    (folder / "bomb.png").write_bytes(_png_bomb())
    shutil.copy(pts[0], folder / "bomb.pts")
    report = tmp_path / "eval.json"
    proc = subprocess.run([sys.executable, "-m", "edgeface", "bench", "eval", str(folder), "-p", "int8", "--json",
                           str(report)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "EDGEFACE_HOME": str(converted_home), "COLUMNS": "300"})
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "bomb.png" in warnings[0] and "50000x50000" in warnings[0], proc.stderr
    result = json.loads(report.read_text())["results"][0]
    assert len(result["skipped"]) == 1 and result["skipped"][0].startswith("bomb.png")
    assert result["faces_total"] == len(pts) and result["faces_found"] >= 1


def test_threads_above_the_cores_are_capped_and_said(tmp_path, converted_home, samples):
    """Class 10: --threads 100000 hung after writing its outputs; now it runs on the usable cores and says so."""
    proc = subprocess.run([sys.executable, "-m", "edgeface", "run", "--source", str(samples["emma"]), "--precision",
                           "int8", "--threads", "100000", "--json", str(tmp_path / "r.jsonl")], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "EDGEFACE_HOME": str(converted_home), "COLUMNS": "300"})
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    cores = len(os.sched_getaffinity(0))
    assert f"--threads 100000 capped at {cores}" in proc.stderr, proc.stderr
    assert (tmp_path / "r.jsonl").read_text().count("\n") == 1
