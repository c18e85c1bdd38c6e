"""The hostile-fleet corpus (issue 27, classes 1-6): archive bombs and forged bundles, unchecked bundle
metadata, systemd unit injection, secrets in messages, a damaged MQTT queue and bad queue options.

Plain Python (no pytest), so that the same cases run in the emulated arm64 guest
(tests/arm/steps/hostile_fleet.sh) and on the host (tests/test_hostile_fleet.py). Each case runs
`python -m edgeface ...` in a subprocess in its own folder, as a user would, and must give:

- exit status 2 or 3, exactly one line of output in all (stdout + stderr), starting with `error:`,
  naming the problem (`needle`), and no traceback;
- no secret of the case (an MQTT password, a token) anywhere in the output;
- nothing written, changed or removed in the case's folder (the inputs, the pre-filled model cache,
  the unit folder), its special files (a FIFO, a symlink) still what they were, `/dev/null` still a
  character device, and nothing created outside (the injected `/tmp/edgeface-pwned-*` marker).

    python tests/hostile_corpus.py [--part fleet|all] [--python PY | --fork] [-k SUBSTRING]

exits 0 when every case passes and prints one line per case. `--fork` runs each case in a child
forked from a process that imported edgeface once (the same `main()` as `python -m edgeface`, its
own stdout, stderr, folder and environment): what the emulated guest uses, where a fresh Python
start costs seconds per case.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import stat
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

SECRET = "S3cretPW"
TOKEN = "tok_" + "Q" * 24 + "zz"
MARKER = f"/tmp/edgeface-pwned-{os.getpid()}"

# ---- bundles: forged with tarfile (or GNU tar for a sparse member) ----------------------------------

GOOD_FILE = "assets/param_stats.npz"


def index(files: List[dict], **over) -> dict:
    d = {"format": "edgeface-bundle/1", "edgeface": "0.1.0", "created": "2026-01-01T00:00:00Z", "precision": "int8",
         "target": "rpi4", "detector_size": [640, 480], "regressor": "mb05", "detector_precision": "int8",
         "files": files}
    d.update(over)
    return d


def entry(path: str, data: bytes, size: Optional[int] = None) -> dict:
    return {"path": path, "size": len(data) if size is None else size, "sha256": hashlib.sha256(data).hexdigest()}


def _add(tar: tarfile.TarFile, name: str, data: bytes, kind: bytes = tarfile.REGTYPE, size: Optional[int] = None,
         link: str = "") -> None:
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.mtime, ti.linkname = kind, 0o644, 0, link
    ti.size = len(data) if size is None else size
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        ti.devmajor, ti.devminor = 1, 3
    tar.addfile(ti, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def write_bundle(path: Path, idx, members: List[tuple], raw_index: Optional[bytes] = None) -> None:
    """A bundle: bundle.json (`idx`, or `raw_index` bytes), its sha256 member, then `members`
    (name, data, kind, header size, link target)."""
    raw = raw_index if raw_index is not None else json.dumps(idx).encode()
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tar:
        _add(tar, "bundle.json", raw)
        _add(tar, "bundle.json.sha256", hashlib.sha256(raw).hexdigest().encode())
        for m in members:
            name, data, kind, size, link = tuple(m) + (tarfile.REGTYPE, None, "")[len(m) - 2:]
            if size is not None and kind == tarfile.REGTYPE and size != len(data):
                ti = tarfile.TarInfo(name)  # a header that lies about the size
                ti.size, ti.mode = size, 0o644
                tar.fileobj.write(ti.tobuf(tarfile.GNU_FORMAT))
                tar.fileobj.write(data + b"\0" * (-len(data) % 512))
                tar.offset += 512 + len(data) + (-len(data) % 512)
                continue
            _add(tar, name, data, kind, size, link)


def sparse_bundle(path: Path, size: int) -> None:
    """A bundle whose one member is a sparse file of `size` bytes (GNU tar -S: a few KB on disk)."""
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        (root / "assets").mkdir()
        with open(root / GOOD_FILE, "wb") as f:
            f.truncate(size)
        raw = json.dumps(index([{"path": GOOD_FILE, "size": size, "sha256": "0" * 64}])).encode()
        (root / "bundle.json").write_bytes(raw)
        (root / "bundle.json.sha256").write_text(hashlib.sha256(raw).hexdigest())
        subprocess.run(["tar", "--format=gnu", "-S", "-cf", str(path), "-C", str(root), "bundle.json",
                        "bundle.json.sha256", GOOD_FILE], check=True)


DATA = b"\x93NUMPY fake but listed" * 20


def bundle_case(idx=None, members=None, raw_index=None) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        write_bundle(d / "b.edgeface", idx if idx is not None else index([entry(GOOD_FILE, DATA)]),
                     members if members is not None else [(GOOD_FILE, DATA)], raw_index)
    return setup


# ---- the cases ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    part: str  # "bundle", "service", "secret", "queue"
    args: Tuple[str, ...]  # after `python -m edgeface`; "{d}" is the case's folder
    needle: str  # a part of the one error line (case-insensitive)
    setup: Optional[Callable[[Path], None]] = None
    env: Dict[str, str] = field(default_factory=dict)
    secrets: Tuple[str, ...] = (SECRET, TOKEN)


UNPACK = ("unpack", "{d}/b.edgeface", "--to", "{d}/cache")
INSTALL = ("service", "install", "--unit-dir", "{d}/units", "--no-start")
A = 1 << 30
NL_PI = "pi\nExecStartPre=+/bin/touch " + MARKER


def _queue_with_head(text: str) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        (d / "queue").mkdir()
        (d / "queue" / "head.json").write_text(text)
    return setup


def _file_at(name: str) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        (d / name).write_text("not a folder\n")
    return setup


CASES: List[Case] = [
    # 1. archive bombs: sizes checked before a byte is written
    Case("bomb-sparse-member", "bundle", UNPACK, "sparse", lambda d: sparse_bundle(d / "b.edgeface", 100 << 20)),
    Case("bomb-listed-1GiB", "bundle", UNPACK, "limit",
         bundle_case(index([entry(GOOD_FILE, DATA, size=A)]))),
    Case("bomb-sum-over-limit", "bundle", UNPACK, "add up",
         bundle_case(index([entry(f"assets/f{i}.npz", DATA, size=500 << 20) for i in range(5)]))),
    Case("bomb-header-larger-than-list", "bundle", UNPACK, "bytes in the archive",
         bundle_case(members=[(GOOD_FILE, DATA + b"x" * 100)])),
    Case("bomb-header-lies-1GiB", "bundle", UNPACK, "",
         bundle_case(members=[(GOOD_FILE, DATA, tarfile.REGTYPE, A)])),
    Case("member-symlink", "bundle", UNPACK, "not a regular file",
         bundle_case(members=[(GOOD_FILE, b"", tarfile.SYMTYPE, 0, "/etc/passwd")])),
    Case("member-hardlink", "bundle", UNPACK, "not a regular file",
         bundle_case(members=[(GOOD_FILE, b"", tarfile.LNKTYPE, 0, "bundle.json")])),
    Case("member-char-device", "bundle", UNPACK, "not a regular file",
         bundle_case(members=[(GOOD_FILE, b"", tarfile.CHRTYPE, 0)])),
    Case("member-fifo", "bundle", UNPACK, "not a regular file",
         bundle_case(members=[(GOOD_FILE, b"", tarfile.FIFOTYPE, 0)])),
    Case("member-dotdot", "bundle", UNPACK, "unsafe path",
         bundle_case(index([entry("../escaped.npz", DATA)]), [("../escaped.npz", DATA)])),
    Case("member-absolute", "bundle", UNPACK, "unsafe path",
         bundle_case(index([entry("/tmp/abs.npz", DATA)]), [("/tmp/abs.npz", DATA)])),
    Case("member-not-listed", "bundle", UNPACK, "not in its digest list",
         bundle_case(members=[(GOOD_FILE, DATA), ("assets/extra.npz", DATA)])),
    Case("bundle-truncated", "bundle", UNPACK, "",
         lambda d: (bundle_case()(d), (d / "b.edgeface").write_bytes((d / "b.edgeface").read_bytes()[:1500]))),
    Case("bundle-not-a-tar", "bundle", UNPACK, "", lambda d: (d / "b.edgeface").write_bytes(b"\x89PNG" + b"\0" * 3000)),
    # 2. bundle metadata against its schema, before anything is unpacked (the cache is pre-filled)
    Case("meta-detector-size-empty", "bundle", UNPACK, "detector_size", bundle_case(index([entry(GOOD_FILE, DATA)], detector_size=[]))),
    Case("meta-detector-size-strings", "bundle", UNPACK, "detector_size",
         bundle_case(index([entry(GOOD_FILE, DATA)], detector_size=["640", "480"]))),
    Case("meta-detector-size-huge", "bundle", UNPACK, "detector_size",
         bundle_case(index([entry(GOOD_FILE, DATA)], detector_size=[10 ** 9, 480]))),
    Case("meta-target-markup", "bundle", UNPACK, "target", bundle_case(index([entry(GOOD_FILE, DATA)], target="[/x]"))),
    Case("meta-target-escape", "bundle", UNPACK, "target",
         bundle_case(index([entry(GOOD_FILE, DATA)], target="rpi4\x1b]0;pwned\x07"))),
    Case("meta-regressor-markup", "bundle", UNPACK, "regressor",
         bundle_case(index([entry(GOOD_FILE, DATA)], regressor="[bold]mb05"))),
    Case("meta-precision-number", "bundle", UNPACK, "precision", bundle_case(index([entry(GOOD_FILE, DATA)], precision=8))),
    Case("meta-files-not-list", "bundle", UNPACK, "files", bundle_case(index({"a": 1}))),
    Case("meta-file-path-newline", "bundle", UNPACK, "control",
         bundle_case(index([entry("assets/a\nb.npz", DATA)]), [("assets/a\nb.npz", DATA)])),
    Case("meta-deep-nesting", "bundle", UNPACK, "", bundle_case(raw_index=b"[" * 200000 + b"]" * 200000)),
    Case("meta-sha-not-hex", "bundle", UNPACK, "file entry",
         bundle_case(index([{"path": GOOD_FILE, "size": len(DATA), "sha256": "zz"}]))),
    Case("run-bundle-bomb", "bundle", ("run", "--bundle", "{d}/b.edgeface", "--source", "{d}/in.jpg"), "limit",
         bundle_case(index([entry(GOOD_FILE, DATA, size=A)]))),
    # 3. systemd unit injection
    Case("unit-run-as-newline", "service", (*INSTALL, "--run-as", NL_PI, "--", "run", "--camera"), "user name"),
    Case("unit-run-as-root", "service", (*INSTALL, "--run-as", "root", "--", "run", "--camera"), "root"),
    Case("unit-run-as-uid0", "service", (*INSTALL, "--run-as", "0", "--", "run", "--camera"), "root"),
    Case("unit-run-as-dash", "service", (*INSTALL, "--run-as", "-x", "--", "run", "--camera"), "user name"),
    Case("unit-run-as-markup", "service", (*INSTALL, "--run-as", "[bold]pi", "--", "run", "--camera"), "user name"),
    Case("unit-home-newline", "service", (*INSTALL, "--run-as", "daemon", "--", "run", "--camera"), "EDGEFACE_HOME",
         env={"EDGEFACE_HOME": "/x\nExecStartPre=+/bin/touch " + MARKER}),
    Case("unit-arg-newline", "service", (*INSTALL, "--run-as", "daemon", "--", "run", "--source", "a\nExecStartPre=+/x"),
         "control character"),
    Case("unit-arg-escape", "service", (*INSTALL, "--run-as", "daemon", "--", "run", "--source", "a\x1b[2Jb.mp4"),
         "control character"),
    Case("unit-name-slash", "service", (*INSTALL, "--run-as", "daemon", "--name", "../../etc/x", "--", "run", "--camera"),
         "service name"),
    Case("unit-bad-token", "service", (*INSTALL, "--run-as", "daemon", "--", "run", "--camera", "--serve", "0.0.0.0:8080",
                                       "--serve-token", TOKEN + "'; rm"), "serve-token", secrets=(TOKEN,)),
    # 4. secrets never printed
    Case("secret-flush-bad-port", "secret", ("mqtt", "flush", f"mqtt://board:{SECRET}@host:99999/s"), "bad port"),
    Case("secret-flush-scheme", "secret", ("mqtt", "flush", f"http://board:{SECRET}@host/s"), "mqtt://"),
    Case("secret-flush-no-host", "secret", ("mqtt", "flush", f"mqtt://board:{SECRET}@/s"), "no host"),
    Case("secret-collect-bad-port", "secret", ("collect", f"mqtt://board:{SECRET}@host:99999/s", "--json", "{d}/o.jsonl"),
         "bad port"),
    Case("secret-run-bad-port", "secret", ("run", "--source", "{d}/in.jpg", "--mqtt", f"mqtt://board:{SECRET}@h:99999/s"),
         "bad port"),
    Case("secret-run-slash-in-password", "secret",
         ("run", "--source", "{d}/in.jpg", "--mqtt", f"mqtts://board:{SECRET}/x@h:99999/s"), "MQTT URL"),
    Case("secret-run-env-unset", "secret", ("run", "--source", "{d}/in.jpg", "--mqtt", "env:EDGEFACE_NO_SUCH_VAR"),
         "is not set"),
    # 5. queue options and folders
    Case("queue-size-inf", "queue", ("run", "--source", "{d}/in.jpg", "--mqtt", "mqtt://h/s", "--mqtt-queue-size", "inf"),
         "bad size"),
    Case("queue-size-nan", "queue", ("run", "--source", "{d}/in.jpg", "--mqtt", "mqtt://h/s", "--mqtt-queue-size", "nan"),
         "bad size"),
    Case("queue-size-negative", "queue", ("run", "--source", "{d}/in.jpg", "--mqtt", "mqtt://h/s", "--mqtt-queue-size", "-5M"),
         "bad size"),
    Case("queue-size-1e400", "queue", ("run", "--source", "{d}/in.jpg", "--mqtt", "mqtt://h/s", "--mqtt-queue-size", "1e400"),
         "bad size"),
    Case("queue-folder-is-a-file", "queue", ("mqtt", "flush", f"mqtt://board:{SECRET}@127.0.0.1:9/s", "--mqtt-queue",
                                             "{d}/queuefile"), "queue folder", _file_at("queuefile")),
]


# ---- running one case ---------------------------------------------------------------------------


def _snapshot(root: Path) -> dict:
    """path -> (kind, size, sha256 / link target) of everything under `root`, without following links."""
    snap = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            if stat.S_ISREG(st.st_mode):
                snap[str(p)] = ("file", st.st_size, hashlib.sha256(p.read_bytes()).hexdigest(), st.st_mtime_ns)
            elif stat.S_ISLNK(st.st_mode):
                snap[str(p)] = ("link", os.readlink(p))
            else:
                snap[str(p)] = (stat.S_IFMT(st.st_mode),)
    return snap


def _prepare(d: Path, case: Case) -> None:
    (d / "cache" / "assets").mkdir(parents=True)
    (d / "cache" / GOOD_FILE).write_bytes(b"the file already in the cache\n")  # must survive a refused bundle
    (d / "units").mkdir()
    (d / "in.jpg").write_bytes(b"\xff\xd8\xff\xe0 an input that must not change\n")
    os.mkfifo(d / "fifo")
    (d / "link").symlink_to(d / "in.jpg")
    (d / "home").mkdir()
    if case.setup is not None:
        case.setup(d)


def _run_forked(args: List[str], cwd: Path, env: dict, timeout: float) -> Tuple[int, str, str]:
    """(exit status, stdout, stderr) of edgeface's `main(args)` in a forked child (see the module doc)."""
    from edgeface.cli.main import main  # imported once, in the parent

    pipes = [os.pipe(), os.pipe()]
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 1
        try:
            for fd, (_r, w) in zip((1, 2), pipes):
                os.dup2(w, fd)
            for r, w in pipes:
                os.close(r)
                os.close(w)
            os.chdir(cwd)
            os.environ.clear()
            os.environ.update(env)
            sys.argv = ["edgeface", *args]
            try:
                main(list(args))
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            except BaseException:  # what `python -m edgeface` would show
                traceback.print_exc()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)
    chunks: Dict[int, List[bytes]] = {0: [], 1: []}

    def drain(i: int, r: int) -> None:
        while True:
            b = os.read(r, 65536)
            if not b:
                break
            chunks[i].append(b)
        os.close(r)

    readers = []
    for i, (r, w) in enumerate(pipes):
        os.close(w)
        readers.append(threading.Thread(target=drain, args=(i, r), daemon=True))
        readers[-1].start()
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            raise subprocess.TimeoutExpired(args, timeout)
        time.sleep(0.02)
    for t in readers:
        t.join(10)
    text = [b"".join(chunks[i]).decode("utf-8", "replace") for i in (0, 1)]
    return os.waitstatus_to_exitcode(status), text[0], text[1]


def run_case(case: Case, python: Optional[str] = sys.executable, timeout: float = 120.0) -> List[str]:
    """The problems of one case ([] when it passes); `python` None runs it forked (`_run_forked`)."""
    """The problems of one case ([] when it passes)."""
    problems: List[str] = []
    with tempfile.TemporaryDirectory(prefix=f"hostile-{case.id}-") as tmp:
        d = Path(tmp)
        _prepare(d, case)
        before = _snapshot(d)
        env = {**os.environ, "EDGEFACE_HOME": str(d / "home"), "XDG_CONFIG_HOME": str(d / "config"),
               "COLUMNS": "200", "NO_COLOR": "1", **case.env}
        env.pop("SUDO_USER", None)
        env.pop("EDGEFACE_SERVE_TOKEN", None)
        args = [a.replace("{d}", str(d)) for a in case.args]
        t0 = time.monotonic()
        try:
            if python is None:
                rc, stdout, stderr = _run_forked(args, d, env, timeout)
            else:
                r = subprocess.run([python, "-m", "edgeface", *args], cwd=d, env=env, capture_output=True, text=True,
                                   timeout=timeout, stdin=subprocess.DEVNULL)
                rc, stdout, stderr = r.returncode, r.stdout, r.stderr
        except subprocess.TimeoutExpired:
            return [f"did not finish within {timeout:.0f} s"]
        text = stdout + stderr
        lines = [x for x in text.splitlines() if x.strip()]
        if rc not in (2, 3):
            problems.append(f"exit status {rc}, expected 2 or 3")
        if "Traceback" in text:
            problems.append("a traceback")
        if len(lines) != 1:
            problems.append(f"{len(lines)} lines of output, expected 1")
        elif not lines[0].startswith("error: "):
            problems.append("the line does not start with 'error: '")
        elif case.needle and case.needle.lower() not in lines[0].lower():
            problems.append(f"the line does not say {case.needle!r}")
        if any(c in text for c in "\x1b\x07\r"):
            problems.append("a raw control character in the output")
        for s in case.secrets:
            if s and s in text:
                problems.append(f"the secret {s[:3]}... is printed")
        after = _snapshot(d)
        changed = sorted(set(before) ^ set(after)) + sorted(k for k in before if k in after and before[k] != after[k])
        if changed:
            problems.append("changed in the case folder: " + ", ".join(os.path.relpath(c, d) for c in changed[:4]))
        if not stat.S_ISCHR(os.stat("/dev/null").st_mode):
            problems.append("/dev/null is no longer a character device")
        if os.path.lexists(MARKER):
            problems.append(f"{MARKER} was created: a command was injected")
        if problems:
            problems.append(f"output: {text.strip()[:300]!r} ({time.monotonic() - t0:.1f} s)")
    return problems


def main(argv: Optional[list] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", default="all", help="'fleet' (bundle, service, queue: the ARM step), or 'all'")
    ap.add_argument("--python", default=sys.executable, help="the Python that has edgeface installed")
    ap.add_argument("--fork", action="store_true", help="run each case in a child forked from this process")
    ap.add_argument("-k", default="", help="only the cases whose id contains this")
    a = ap.parse_args(argv)
    parts = {"fleet": ("bundle", "service", "queue"), "all": ("bundle", "service", "secret", "queue")}[a.part]
    failed = 0
    cases = [c for c in CASES if c.part in parts and a.k in c.id]
    for case in cases:
        problems = run_case(case, None if a.fork else a.python)
        failed += bool(problems)
        print(f"{'FAIL' if problems else 'ok  '} {case.part:8s} {case.id}" + ("".join(f"\n     {p}" for p in problems)),
              flush=True)
    print(f"{len(cases) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
