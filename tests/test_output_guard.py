"""The output-path guard (`edgeface.hub.output_guard`) and the limits of issue 27 (classes 7, 9-12), as
properties over generated paths, names, headers and hosts (random with fixed seeds), plus the source
scan that keeps the guard the one place that renames onto an output.

The CLI corpus over the same rules is tests/test_hostile_io.py.
"""

from __future__ import annotations

import ast
import os
import random
import stat
import string
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

import edgeface
from edgeface.errors import EdgefaceError
from edgeface.hub.output_guard import DIR, FILE, Output, OutputPathError, check_output, check_outputs, commit
from edgeface.sinks.images import DirSink, output_name
from edgeface.sinks.stream_access import StreamAccess
from edgeface.sources.image_header import DEFAULT_MAX_PIXELS, ImageTooLargeError, check_pixels, image_size
from edgeface.sources.images import ImageSource

PACKAGE = Path(edgeface.__file__).parent
#: the chokepoint, and what may rename without it (each with the reason)
RENAMERS_ALLOWED = {
    "hub/output_guard.py": "the chokepoint itself",
    "tools/bench/peers/timing.py": "runs in MediaPipe's own venv without edgeface; its --out is a temporary file "
                                   "its parent process chose",
    "bundle.py": "the bundle extractor (issue 27's own chokepoint): swaps members into the cache with a rollback",
    "fleet/systemd_unit.py": "the one writer of systemd units and their 0600 secret files (issue 27)",
}


def _renames(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, call) of every os.replace / os.rename / os.renames / shutil.move and Path.rename / Path.replace
    (a `.replace(x)` with one argument: str.replace always has two)."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        f = node.func
        owner = f.value.id if isinstance(f.value, ast.Name) else None
        if owner == "os" and f.attr in ("replace", "rename", "renames"):
            found.append((node.lineno, f"os.{f.attr}"))
        elif owner == "shutil" and f.attr == "move":
            found.append((node.lineno, "shutil.move"))
        elif f.attr == "rename" and owner != "os":
            found.append((node.lineno, ".rename()"))
        elif f.attr == "replace" and owner != "os" and len(node.args) + len(node.keywords) == 1:
            found.append((node.lineno, ".replace(path)"))
    return found


def test_only_the_guard_renames_onto_outputs():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel in RENAMERS_ALLOWED:
            continue
        for line, call in _renames(ast.parse(path.read_text(encoding="utf-8"))):
            offenders.append(f"{rel}:{line} {call}")
    assert not offenders, ("rename onto an output outside edgeface.hub.output_guard: use output_guard.commit "
                           f"(or hub.atomic.atomic_path): {offenders}")


def test_the_scan_finds_what_it_must():
    """The scan itself: every spelling of a rename is found, a str.replace is not."""
    src = ("import os, shutil\nos.replace(a, b)\nos.rename(a, b)\nshutil.move(a, b)\np.rename(q)\np.replace(q)\n"
           "s.replace('a', 'b')\n")
    assert [c for _, c in _renames(ast.parse(src))] == ["os.replace", "os.rename", "shutil.move", ".rename()",
                                                        ".replace(path)"]
    assert (PACKAGE / "hub/output_guard.py").is_file()


# ------------------------------------------------------------------ generated paths

NAME_CHARS = string.ascii_letters + string.digits + " _-.[]()'é中"


def _name(rng: random.Random) -> str:
    while True:
        n = "".join(rng.choice(NAME_CHARS) for _ in range(rng.randint(1, 12)))
        if n not in (".", "..") and not n.startswith("."):
            return n


def _spellings(rng: random.Random, root: Path, target: Path) -> list[Path]:
    """Other ways to name `target`: relative with '..', through a symlinked folder, a hard link."""
    rel = Path(os.path.relpath(target, Path.cwd()))
    detour = target.parent / ".." / target.parent.name / target.name
    link_dir = root / f"ln{rng.randint(0, 10**6)}"
    link_dir.symlink_to(target.parent, target_is_directory=True)
    hard = root / f"hard{rng.randint(0, 10**6)}{target.suffix}"
    os.link(target, hard)
    return [target, rel, detour, link_dir / target.name, hard]


@pytest.mark.parametrize("seed", range(6))
def test_an_input_is_never_an_output_however_it_is_spelled(tmp_path, seed, monkeypatch):
    rng = random.Random(seed)
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / _name(rng)
    folder.mkdir()
    src = folder / (_name(rng) + rng.choice([".jpg", ".png", ".mp4", ""]))
    src.write_bytes(b"input")
    for spelled in _spellings(rng, tmp_path, src):
        for kind in (FILE,):
            with pytest.raises(OutputPathError, match="is the input"):
                check_outputs([Output(spelled, "--save", kind)], inputs=[src])
    # a folder being read: anything inside it (however deep, however spelled) is refused
    deep = folder.joinpath(*[_name(rng) for _ in range(rng.randint(0, 3))], _name(rng) + ".jsonl")
    for out in (deep, tmp_path / ".." / tmp_path.name / folder.name / deep.name):
        with pytest.raises(OutputPathError, match="inside the input folder"):
            check_outputs([Output(out, "--json", FILE)], inputs=[folder])
    # a folder output that holds the input file
    with pytest.raises(OutputPathError, match="holds the input"):
        check_outputs([Output(folder, "--save", DIR)], inputs=[src])
    assert src.read_bytes() == b"input"


@pytest.mark.parametrize("seed", range(6))
def test_outputs_beside_the_inputs_are_accepted_and_duplicates_refused(tmp_path, seed, monkeypatch):
    rng = random.Random(100 + seed)
    monkeypatch.chdir(tmp_path)
    inp = tmp_path / "in"
    inp.mkdir()
    (inp / "a.jpg").write_bytes(b"x")
    names = {_name(rng) for _ in range(5)}
    outs = [Output(tmp_path / "out" / (n + ".jsonl"), f"--o{i}", FILE) for i, n in enumerate(sorted(names))]
    assert check_outputs(outs, inputs=[inp]) == tuple(outs)
    assert not (tmp_path / "out").exists()  # checking creates nothing (the probe is in the nearest folder, removed)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]
    twin = outs[rng.randrange(len(outs))]
    again = Output(Path(os.path.relpath(twin.path)), "--again", FILE)
    with pytest.raises(OutputPathError, match="both name"):
        check_outputs(outs + [again], inputs=[inp])


def _special(kind: str, path: Path) -> None:
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "chr":
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # what /dev/null is
    elif kind == "symlink":
        path.symlink_to(path.parent / "target.txt")
    elif kind == "dangling":
        path.symlink_to(path.parent / "nowhere" / "x")
    elif kind == "socket":
        import socket

        s = socket.socket(socket.AF_UNIX)
        s.bind(str(path))
        s.close()


SPECIALS = ["fifo", "chr", "symlink", "dangling", "socket"]


@pytest.mark.parametrize("kind", SPECIALS)
def test_special_files_are_refused_and_never_replaced(tmp_path, kind):
    if kind == "chr" and os.geteuid() != 0:
        pytest.skip("mknod of a character device needs root")
    (tmp_path / "target.txt").write_text("keep")
    rng = random.Random(kind)
    for ext in (".jsonl", ".jpg", ".mp4", ""):
        dest = tmp_path / (_name(rng) + ext)
        _special(kind, dest)
        before = os.lstat(dest)
        with pytest.raises(OutputPathError, match="edgeface writes only new or regular files"):
            check_output(dest, "--json")
        with pytest.raises(OutputPathError):
            check_output(dest, "--save", DIR)
        tmp = tmp_path / ".part"
        tmp.write_bytes(b"new")
        with pytest.raises(OutputPathError):
            commit(tmp, dest, replace_symlink=False)  # the last-moment check of a user output: never onto it
        after = os.lstat(dest)
        assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
        if kind in ("symlink", "dangling"):  # a cache write replaces the link itself, never its target
            commit(tmp, dest)
            assert not dest.is_symlink() and dest.read_bytes() == b"new"
        else:
            with pytest.raises(OutputPathError):
                commit(tmp, dest)
            assert os.lstat(dest).st_ino == before.st_ino
            tmp.unlink()
    assert (tmp_path / "target.txt").read_text() == "keep"


def test_commit_replaces_a_regular_file_and_creates_a_new_one(tmp_path):
    for dest in (tmp_path / "old.txt", tmp_path / "new.txt"):
        if dest.name == "old.txt":
            dest.write_text("old")
        tmp = tmp_path / ".part"
        tmp.write_text("new")
        commit(tmp, dest)
        assert dest.read_text() == "new" and not tmp.exists()


def test_folder_where_a_file_goes_and_a_file_where_a_folder_goes(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputPathError, match="is a folder: give a file name inside it, e.g."):
        check_output(tmp_path / "d", "--json")
    with pytest.raises(OutputPathError, match="is a file, not a folder"):
        check_output(tmp_path / "f", "--save", DIR)
    with pytest.raises(OutputPathError, match="is not a folder"):
        check_output(tmp_path / "f" / "x.jsonl", "--json")


def test_read_only_folder_is_found_before_any_work(tmp_path):
    """A read-only mount (root ignores mode bits, so a bind mount made read-only); skipped without root."""
    import subprocess

    ro = tmp_path / "ro"
    ro.mkdir()
    if os.geteuid() != 0:
        ro.chmod(0o555)
    else:
        r = subprocess.run(["mount", "--bind", "-o", "ro", str(ro), str(ro)], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot make a read-only bind mount here: {r.stderr.strip()}")
        subprocess.run(["mount", "-o", "remount,bind,ro", str(ro)], check=False)
    try:
        with pytest.raises(OutputPathError, match="read-only"):
            check_output(ro / "sub" / "r.jsonl", "--json")
        assert list(ro.iterdir()) == []
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(ro)], check=False)


# ------------------------------------------------------------------ output names


@pytest.mark.parametrize("seed", range(5))
def test_output_names_are_unique_predictable_and_kept(seed):
    rng = random.Random(seed)
    stems = [rng.choice(["a", "A", "b", "x_png", "x", "photo 1"]) for _ in range(30)]
    exts = [rng.choice([".jpg", ".png", ".JPG", ".webp", ".bmp"]) for _ in stems]

    def names():
        taken: set = set()
        out = []
        for s, e in zip(stems, exts):
            n = output_name(s, e, ".jpg", taken)
            taken.add(n.lower())
            out.append(n)
        return out

    first = names()
    assert first == names()  # the same inputs always give the same names
    assert len({n.lower() for n in first}) == len(first)  # never one file over another
    seen = set()
    for s, n in zip(stems, first):  # the first input of a stem keeps its plain name
        if s.lower() not in seen and f"{s}.jpg".lower() not in {m.lower() for m in first[:first.index(n)]}:
            assert n == f"{s}.jpg"
        seen.add(s.lower())


def test_dir_sink_names_files_after_their_inputs(tmp_path):
    from edgeface.frames import Frame
    from edgeface.results import FrameResult

    img = np.full((8, 8, 3), 200, np.uint8)
    notes = []
    with DirSink(tmp_path / "out") as sink:
        sink.on_note = notes.append
        for i, src in enumerate(["in/a.jpg", "in/a.png", "in/b.jpg", "clip.mp4"]):
            sink.write(Frame(i, img, None, src), FrameResult(frame=i, source=src, faces=[]), None)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.jpg", "a_png.jpg", "b.jpg", "frame_000003.jpg"]
    assert len(notes) == 1 and "a.png written as a_png.jpg" in notes[0]


# ------------------------------------------------------------------ image headers and the pixel limit


def _png_header(w: int, h: int) -> bytes:
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IEND", b"")


def _jpeg_header(w: int, h: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, h, w, 3) + b"\x01\x11\x00\x02\x11\x00\x03\x11\x00"
    return b"\xff\xd8" + app0 + sof + b"\xff\xd9"


def _bmp_header(w: int, h: int) -> bytes:
    return b"BM" + struct.pack("<IHHI", 54, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, w, -h, 1, 24, 0, 0, 0, 0, 0, 0)


def _webp_header(w: int, h: int) -> bytes:
    body = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + (w - 1).to_bytes(3, "little") + (h - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


def _tiff_header(w: int, h: int) -> bytes:
    entries = struct.pack("<HHII", 256, 4, 1, w) + struct.pack("<HHII", 257, 4, 1, h)
    return b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 2) + entries + b"\x00\x00\x00\x00"


BOMBS = {".png": _png_header, ".jpg": _jpeg_header, ".bmp": _bmp_header, ".webp": _webp_header, ".tif": _tiff_header}


@pytest.mark.parametrize("seed", range(4))
def test_header_sizes_of_generated_images(seed):
    rng = random.Random(seed)
    for ext, make in BOMBS.items():
        for _ in range(20):
            w, h = rng.randint(1, 65535 if ext != ".webp" else 16383), rng.randint(1, 65535 if ext != ".webp" else 16383)
            assert image_size(make(w, h)) == (w, h), (ext, w, h)
    for ext in (".png", ".jpg", ".bmp", ".webp", ".tif"):  # real files from the encoder agree with the header
        w, h = rng.randint(1, 300), rng.randint(1, 300)
        ok, buf = cv2.imencode(ext, np.zeros((h, w, 3), np.uint8))
        assert ok and image_size(buf.tobytes()) == (w, h), ext


def test_random_bytes_never_raise_in_the_header_reader():
    rng = np.random.default_rng(27)
    prefixes = [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8", b"BM", b"RIFF\x00\x00\x00\x00WEBP", b"II*\x00", b"GIF89a"]
    for i in range(3000):
        data = prefixes[i % len(prefixes)] + rng.integers(0, 256, int(rng.integers(0, 64)), dtype=np.uint8).tobytes()
        size = image_size(data)
        assert size is None or (len(size) == 2 and all(isinstance(v, int) and v >= 0 for v in size))


def test_pixel_limit(tmp_path):
    check_pixels((10000, 5000), "x", DEFAULT_MAX_PIXELS)  # exactly 50 MP: allowed
    with pytest.raises(ImageTooLargeError, match="above the limit of 50 MP"):
        check_pixels((10000, 5001), "x")
    folder = tmp_path / "photos"
    folder.mkdir()
    cv2.imwrite(str(folder / "0_ok.png"), np.zeros((20, 30, 3), np.uint8))
    for ext, make in BOMBS.items():
        (folder / f"1_bomb{ext}").write_bytes(make(50000, 50000))
    src = ImageSource(sorted(folder.iterdir()), name=str(folder))
    frames = list(src)
    assert [Path(f.source).name for f in frames] == ["0_ok.png"]
    assert len(src.skipped) == len(BOMBS) and all("50000x50000" in why for _, why in src.skipped)
    with pytest.raises(ImageTooLargeError):  # a single image: an error before any decoding
        ImageSource([folder / "1_bomb.png"])
    with pytest.raises(EdgefaceError, match="pixel limit"):
        ImageSource([folder / "0_ok.png"], max_pixels=0)
    assert list(ImageSource([folder / "0_ok.png"], max_pixels=600))[0].image.shape == (20, 30, 3)
    with pytest.raises(ImageTooLargeError):
        ImageSource([folder / "0_ok.png"], max_pixels=599)


# ------------------------------------------------------------------ the loopback stream's Host check


@pytest.mark.parametrize("seed", range(3))
def test_loopback_stream_answers_only_to_this_machine(seed):
    rng = random.Random(seed)
    access = StreamAccess.for_bind("127.0.0.1")
    port = rng.randint(1, 65535)
    for host in ("localhost", "127.0.0.1", "[::1]", "127.0.0.5", "LOCALHOST"):
        assert access.host_allowed(host) and access.host_allowed(f"{host}:{port}"), host
    assert access.host_allowed(None)  # HTTP/1.0 without Host: not a browser
    for _ in range(200):  # a rebinding page names its own domain; it never passes
        label = "".join(rng.choice(string.ascii_lowercase + string.digits + "-") for _ in range(rng.randint(1, 20)))
        evil = rng.choice([f"{label}.example", f"127.0.0.1.{label}.example", f"localhost.{label}.example",
                           f"{label}.localhost.example", "0.0.0.0", "10.0.0.1", f"[{label}]"])
        assert not access.host_allowed(evil) and not access.host_allowed(f"{evil}:{port}"), evil
    named = StreamAccess.for_bind("localhost")
    assert named.host_allowed("localhost:8080") and not named.host_allowed("example.com")
    assert StreamAccess.for_bind("0.0.0.0", token="t" * 20).host_allowed("anything.example")  # the token guards it


def test_exported_serve_token_does_not_break_runs_without_serve(tmp_path, monkeypatch, capsys):
    """Class 12: EDGEFACE_SERVE_TOKEN in the environment (a service's) made every run without --serve fail."""
    from inprocess_cli import cli

    monkeypatch.setenv("EDGEFACE_SERVE_TOKEN", "x" * 24)
    code, _, err = cli(capsys, "run", "--source", tmp_path / "none.jpg", "--json", tmp_path / "r.jsonl")
    assert code == 2 and "input not found" in err and "--serve" not in err
    code, _, err = cli(capsys, "run", "--source", tmp_path / "none.jpg", "--serve-token", "x" * 24)
    assert code == 2 and "need --serve" in err


def test_threads_are_capped_and_camera_indices_checked():
    from edgeface.aligner import resolve_options
    from edgeface.boards.machine import usable_cores
    from edgeface.options import FaceAlignerOptions
    from edgeface.sources.cameras import check_camera_index

    po, _ = resolve_options(FaceAlignerOptions.from_keywords(threads=100000, target="x86_64"))
    assert po.threads == usable_cores() and po.stage_threads("regressor") <= usable_cores()
    for bad in (-1, 256, 10**20, "99999999999999999999", "x", True, 1.5):
        with pytest.raises(EdgefaceError, match="camera"):
            check_camera_index(bad)
    for good in (0, 255, "/dev/video3"):
        check_camera_index(good)


def test_the_loopback_server_refuses_a_rebound_host():
    """The real server: a request naming another host gets 403 on every route; localhost gets the page."""
    import http.client

    from edgeface.sinks.mjpeg import MjpegServer

    with MjpegServer("127.0.0.1", 0) as server:
        server.start()
        for host, want in (("evil.example:%d", 403), ("localhost:%d", 200), ("127.0.0.1:%d", 200), ("[::1]:%d", 200),
                           ("127.0.0.1.evil.example", 403)):
            for path in ("/", "/stats.json"):
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
                conn.putrequest("GET", path, skip_host=True)
                conn.putheader("Host", host % server.port if "%d" in host else host)
                conn.endheaders()
                status = conn.getresponse().status
                conn.close()
                assert status == want, (host, path, status)


def test_safe_pickle_refuses_deep_nesting_and_huge_arrays():
    import pickle

    from edgeface.hub import safe_pickle

    n = 100_000  # lists nested 100,000 deep, written as opcodes (pickle.dumps itself would recurse)
    deep = b"\x80\x02" + b"]" * n + b"a" * (n - 1) + b"."
    with pytest.raises(EdgefaceError, match="nested"):
        safe_pickle.loads(deep, "deep.pkl")
    good = pickle.dumps(np.zeros(4, np.uint8), protocol=2)
    huge = good.replace(b"(K\x01K\x04\x85", b"(K\x01\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x0f\x85")
    assert huge != good
    with pytest.raises(EdgefaceError, match="huge.pkl: not a plain numpy pickle"):
        safe_pickle.loads(huge, "huge.pkl")
    assert safe_pickle.loads(good).shape == (4,)


def test_one_jsonl_path_written_by_two_runs_at_once(tmp_path):
    """Class 12: the same .jsonl given to two runs at once: the second is refused (the first keeps writing);
    a `.part` nobody holds is a killed run's and is kept aside as before."""
    from edgeface.sinks.jsonl import JsonlSink

    path = tmp_path / "r.jsonl"
    first = JsonlSink(path)
    with pytest.raises(EdgefaceError, match="another edgeface run is writing"):
        JsonlSink(path)
    assert first.part.exists() and not list(tmp_path.glob("*.killed-*"))
    first.close()
    assert path.exists() and not first.part.exists()
    first.part.write_text('{"frame": 0}\n')  # left by a killed run: no lock on it
    second = JsonlSink(path)
    assert second.recovered is not None and second.recovered.read_text() == '{"frame": 0}\n'
    second.abort()
