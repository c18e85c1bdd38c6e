"""Issue 27, classes 1-6: a hostile fleet (archive bombs, forged bundle metadata, systemd unit
injection, printed secrets, a damaged MQTT queue, a poisoned collector) and the chokepoints that
handle each class in one place:

- `edgeface.bundle` is the one bundle extractor; `fleet/systemd_unit.py` checks every value written
  into a unit and is the one writer of units and secret files; `edgeface.redact` masks URLs, tokens
  and passwords; `cli/consoles.say` prints user text as plain text with control characters escaped.

The corpus (tests/hostile_corpus.py, also run in the emulated arm64 guest by
tests/arm/steps/hostile_fleet.sh) runs each bad input as a user would; the AST tests fail when code
outside a chokepoint writes a unit, builds markup from user text or reads a tar; property tests
(seeded random) back each class.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import os
import random
import shlex
import shutil
import stat
import string
import subprocess
import threading
from pathlib import Path

import pytest

import hostile_corpus as corpus
from inprocess_cli import cli

PKG = Path(__file__).resolve().parents[1] / "toolkit" / "edgeface"


def _sources():
    for p in sorted(PKG.rglob("*.py")):
        yield p.relative_to(PKG).as_posix(), ast.parse(p.read_text(encoding="utf-8"))


# ---- the corpus ---------------------------------------------------------------------------------


def test_corpus_is_large_enough():
    parts = {c.part for c in corpus.CASES}
    assert len(corpus.CASES) >= 30 and parts == {"bundle", "service", "secret", "queue"}
    assert len({c.id for c in corpus.CASES}) == len(corpus.CASES)


@pytest.mark.parametrize("case", corpus.CASES, ids=lambda c: c.id)
def test_hostile_input_is_one_line_and_changes_nothing(case):
    problems = corpus.run_case(case)
    assert not problems, "\n".join(problems)


# ---- chokepoints (AST) --------------------------------------------------------------------------

WRITERS = {"write_text", "write_bytes", "write_text_atomic", "write_json_atomic", "atomic_path", "fdopen"}


def test_only_systemd_unit_writes_unit_files():
    """A `.service` file is named only by the service modules, and only fleet/systemd_unit.py writes files
    among them (units 0644, secrets 0600)."""
    naming = set()
    for rel, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and ".service" in node.value \
                    and "systemd" not in node.value and "/" not in node.value:
                naming.add(rel)
            if isinstance(node, ast.JoinedStr) and any(isinstance(v, ast.Constant) and ".service" in str(v.value)
                                                       for v in node.values):
                naming.add(rel)
    assert naming <= {"fleet/service.py", "fleet/systemd_unit.py", "cli/service.py"}, naming
    for rel in ("fleet/service.py", "cli/service.py"):
        tree = ast.parse((PKG / rel).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
                is_os_open = isinstance(f, ast.Attribute) and f.attr in ("open", "replace", "rename", "move") and \
                    getattr(f.value, "id", "") in ("os", "shutil")
                opens_for_write = name == "open" and any(isinstance(a, ast.Constant) and str(a.value)[:1] in "wax"
                                                         for a in node.args[1:2])
                assert name not in WRITERS and not is_os_open and not opens_for_write, \
                    f"{rel}:{node.lineno} writes a file: only fleet/systemd_unit.py (write_unit, write_secret) may"


def _builds_text(node: ast.AST) -> bool:
    """An expression that builds a string from parts (f-string, concatenation, .format, .join, %)."""
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mod)):
        return True
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("format", "join")


def test_no_markup_built_from_user_text():
    """Outside cli/consoles.py no rich print, log, status or markup call takes a string built from parts
    (which is where user text gets in); a bare name needs markup=False (a table, a Text)."""
    bad = []
    for rel, tree in _sources():
        if rel == "cli/consoles.py":
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute) or not node.args:
                continue
            attr, first = node.func.attr, node.args[0]
            markup_off = any(k.arg == "markup" and isinstance(k.value, ast.Constant) and k.value.value is False
                             for k in node.keywords)
            if attr in ("print", "log") and (_builds_text(first) or (isinstance(first, ast.Name) and not markup_off)):
                if not (isinstance(node.func.value, ast.Name) and node.func.value.id in ("log", "logging", "logger")):
                    bad.append(f"{rel}:{node.lineno}")
            if attr in ("from_markup", "render_markup") and not isinstance(first, ast.Constant):
                bad.append(f"{rel}:{node.lineno}")
    assert not bad, f"prints built text as rich markup (use cli.consoles.say): {bad}"


def test_only_the_bundle_module_reads_archives():
    readers = set()
    for rel, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                    node.func.attr in ("extractall", "extractfile", "extract"):
                readers.add(rel)
    # tools/dist reads the sdist it has just built itself (workstation, reproducibility check)
    assert readers <= {"bundle.py", "tools/dist/repro.py", "tools/dist/build.py"}, readers


def test_error_lines_go_through_redaction():
    src = (PKG / "cli" / "main.py").read_text()
    assert src.count("redact(") >= 2  # EdgefaceError and OSError lines


# ---- class 4: redaction (property) --------------------------------------------------------------

PW_CHARS = string.ascii_letters + string.digits + "!$&'()*+,;=%~-._:@/"


def test_redact_never_shows_a_generated_password():
    from edgeface.redact import redact, redact_url

    rng = random.Random(27)
    for _ in range(2000):
        pw = "Pw" + "".join(rng.choice(PW_CHARS) for _ in range(rng.randrange(6, 24)))
        user = "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randrange(0, 8)))
        scheme = rng.choice(["mqtt", "mqtts", "http", "ftp"])
        host = rng.choice(["broker.local", "10.0.0.7", "[::1]", "", "h"])
        port = rng.choice(["", ":1883", ":99999", ":x"])
        url = f"{scheme}://{user}:{pw}@{host}{port}/{rng.choice(['edgeface', 'a/b', ''])}"
        for text in (url, f"MQTT URL '{url}' has a bad port", f"cannot reach {url}: refused", f"x \"{url}\" y"):
            out = redact(text)
            assert pw not in out and "***" in out, (text, out)
        assert pw not in redact_url(url)
        token = "".join(rng.choice(string.ascii_letters + "_-") for _ in range(22))
        assert token not in redact(f"streaming at http://h:8080/?token={token}&x=1")
        assert token not in redact(f"failed: {token} refused", token)
    assert redact("mqtt://broker.local:1883/edgeface") == "mqtt://broker.local:1883/edgeface"


def test_bad_mqtt_urls_never_carry_the_password():
    from edgeface.errors import OptionsError
    from edgeface.fleet.mqtt_link import parse_url

    rng = random.Random(4)
    for _ in range(500):
        pw = "Pw" + "".join(rng.choice(PW_CHARS.replace("@", "")) for _ in range(rng.randrange(6, 20)))
        bad = rng.choice([f"mqtt://u:{pw}@h:99999/s", f"http://u:{pw}@h/s", f"mqtt://u:{pw}@/s",
                          f"mqtt://u:{pw}@h/a+b", f"mqtt://u:{pw}@[::1/s", f"tcp://u:{pw}@h:1/s"])
        try:
            parse_url(bad)
        except OptionsError as e:
            assert pw not in str(e), str(e)


# ---- plain-text printing (property) -------------------------------------------------------------


def test_say_prints_user_text_as_itself_with_controls_escaped():
    from rich.console import Console

    from edgeface.cli.consoles import plain, say

    rng = random.Random(8)
    pieces = ["[bold]", "[/]", "[/bold]", "[red]x[/red]", "[", "]", "\x1b[2J", "\x1b]0;title\x07", "\r", "\x07", "\x9b",
              "\x08", "\u202e", "dir[", "é", "日本", "%s", "{x}", "\\", " "]
    for _ in range(500):
        text = "".join(rng.choice(pieces + list(string.ascii_letters)) for _ in range(rng.randrange(1, 12)))
        buf = io.StringIO()
        say(text, "ok", "green", to=Console(file=buf, width=400, color_system=None, force_terminal=False))
        printed = buf.getvalue()
        assert printed == f"ok {plain(text)}\n", (text, printed)
        assert not any(c in printed[:-1] for c in "\x1b\x07\r\x9b\x08\u202e\n")
        # escaping is reversible for what it touches: the brackets stay literal
        assert printed.count("[") == text.count("[") and printed.count("]") == text.count("]")


# ---- class 3: the unit validator (property) -----------------------------------------------------


def _unword(word: str) -> str:
    """What systemd's ExecStart unquoting gives for one word written by exec_word (POSIX-shell quoting of
    the same form, then %% and $$ back to single characters)."""
    (w,) = shlex.split(word)
    return w.replace("%%", "%").replace("$$", "$")


def test_exec_words_round_trip_or_are_refused():
    from edgeface.errors import OptionsError
    from edgeface.fleet.systemd_unit import exec_word

    rng = random.Random(3)
    alphabet = string.printable + "%$;\"'\\é日\x1b\x7f\x85\u2028"
    for _ in range(3000):
        arg = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 16)))
        try:
            word = exec_word(arg)
        except OptionsError as e:
            assert any(ord(c) < 0x20 or 0x7f <= ord(c) <= 0x9f or c == "\u2028" for c in arg), arg
            assert "\n" not in str(e).replace("\\n", "")
            continue
        assert "\n" not in word and "\r" not in word
        assert _unword(word) == arg, (arg, word)
        assert "%" not in word.replace("%%", "") and "$" not in word.replace("$$", "")


def test_user_names_follow_posix_and_never_root():
    from edgeface.errors import OptionsError
    from edgeface.fleet.systemd_unit import check_user

    rng = random.Random(5)
    for _ in range(2000):
        name = "".join(rng.choice(string.ascii_letters + string.digits + "_.-$ \n:/[]") for _ in range(rng.randrange(1, 40)))
        ok = (name not in ("root", "0") and not name.isdigit() and len(name) <= 32 and name[0] in string.ascii_letters + "_"
              and all(c in string.ascii_letters + string.digits + "_.-" for c in name))
        try:
            check_user(name)
            assert ok, name
        except OptionsError:
            assert not ok, name


def test_service_token_kept_across_reinstalls_and_never_in_the_unit(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("EDGEFACE_SERVE_TOKEN", raising=False)
    units = tmp_path / "units"
    code, out, err = cli(capsys, "service", "install", "--unit-dir", units, "--run-as", "daemon", "--no-start", "--",
                         "run", "--camera", "--serve", "0.0.0.0:8080", "--mqtt", f"mqtt://pi:{corpus.SECRET}@b/x")
    assert code == 0, err
    token_file, env_file, unit = units / "edgeface.token", units / "edgeface.env", units / "edgeface.service"
    token = token_file.read_text().strip()
    assert len(token) >= 16 and corpus.SECRET not in out + err and token not in out + err
    for p in (token_file, env_file):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert stat.S_IMODE(unit.stat().st_mode) == 0o644
    text = unit.read_text()
    assert token not in text and corpus.SECRET not in text and "${" not in text
    assert "--mqtt env:EDGEFACE_MQTT_URL" in text
    assert env_file.read_text() == f"EDGEFACE_MQTT_URL='mqtt://pi:{corpus.SECRET}@b/x'\nEDGEFACE_SERVE_TOKEN='{token}'\n"
    # re-install (another restart policy, same stream): the same token
    code, out, err = cli(capsys, "service", "install", "--unit-dir", units, "--run-as", "daemon", "--no-start", "--",
                         "run", "--camera", "--serve", "0.0.0.0:8080")
    assert code == 0, err
    assert token_file.read_text().strip() == token and f"EDGEFACE_SERVE_TOKEN='{token}'" in env_file.read_text()
    code, out, err = cli(capsys, "service", "status", "--unit-dir", units)
    assert code == 0 and f":8080/?token={token}" in out, out
    # a token given after -- leaves the command line for the environment file too
    given = "given_" + "k" * 20
    code, out, err = cli(capsys, "service", "install", "--unit-dir", units, "--run-as", "daemon", "--no-start", "--",
                         "run", "--camera", "--serve", "0.0.0.0:8080", "--serve-token", given)
    assert code == 0 and given not in unit.read_text() and given not in out + err
    assert token_file.read_text().strip() == given
    # loopback: no token
    code, out, err = cli(capsys, "service", "install", "--unit-dir", tmp_path / "lo", "--run-as", "daemon", "--no-start",
                         "--", "run", "--camera", "--serve", "8080")
    assert code == 0 and not (tmp_path / "lo" / "edgeface.token").exists()
    code, out, err = cli(capsys, "service", "uninstall", "--unit-dir", units)
    assert code == 0 and not token_file.exists() and not env_file.exists()


def test_run_reads_the_mqtt_url_from_the_environment(tmp_path, capsys, monkeypatch):
    """What the service passes: `--mqtt env:EDGEFACE_MQTT_URL`; the URL (and its password) never on argv."""
    monkeypatch.setenv("EDGEFACE_MQTT_URL", f"mqtt://pi:{corpus.SECRET}@b:99999/x")
    (tmp_path / "in.jpg").write_bytes(b"x")
    code, out, err = cli(capsys, "run", "--source", tmp_path / "in.jpg", "--mqtt", "env:EDGEFACE_MQTT_URL")
    assert code == 2 and "bad port" in err and corpus.SECRET not in err + out and "mqtt://pi:***@b:99999/x" in err


@pytest.mark.system
def test_random_accepted_arguments_give_units_systemd_accepts(tmp_path):
    """systemd-analyze verify (installed with apt-get when missing and root) on units whose arguments are
    random printable text: every argument exec_word accepts makes a unit systemd has no complaint about."""
    tool = shutil.which("systemd-analyze")
    if tool is None and os.geteuid() == 0:
        from mosquitto import ensure_installed

        tool = ensure_installed("systemd-analyze", "systemd")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    from edgeface.fleet.service import ServiceSpec, install

    rng = random.Random(9)
    alphabet = string.ascii_letters + string.digits + " %$;\"'\\é-_/.=:,"
    for i in range(6):
        args = ["run", "--source"] + ["".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 20))) for _ in range(4)]
        rep = install(ServiceSpec(args=args, run_as="daemon", name=f"rand{i}"), directory=tmp_path / str(i), start=False)
        r = subprocess.run([tool, "verify", str(rep.unit)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and not (r.stdout + r.stderr).strip(), (args, r.stdout + r.stderr)


# ---- class 1-2: the bundle extractor (property) -------------------------------------------------


def test_random_forged_bundles_are_refused_and_leave_the_cache_as_it_was(tmp_path):
    import tarfile

    from edgeface.bundle import unpack
    from edgeface.errors import EdgefaceError

    rng = random.Random(12)
    cache = tmp_path / "cache"
    (cache / "assets").mkdir(parents=True)
    (cache / corpus.GOOD_FILE).write_bytes(b"kept")
    names = [corpus.GOOD_FILE, "../x.npz", "/abs.npz", "assets/a\x1bb.npz", "assets/[b].npz", "a/./b", "", "bundle.json",
             "assets/" + "x" * 300, "assets/ok.npz", "assets/ok.npz"]
    kinds = [tarfile.REGTYPE] * 4 + [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.FIFOTYPE, tarfile.DIRTYPE]
    accepted = 0
    for i in range(150):
        members, files = [], []
        for _ in range(rng.randrange(1, 4)):
            name, kind = rng.choice(names), rng.choice(kinds)
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300))) if kind == tarfile.REGTYPE else b""
            listed = rng.choice([len(data), len(data), len(data) + 1, 1 << 31, -1])
            files.append({"path": name, "size": listed, "sha256": hashlib.sha256(data).hexdigest()})
            members.append((name, data, kind, None, "bundle.json"))
        idx = {**corpus.index(files), **rng.choice([{}, {}, {"detector_size": [0, 1]}, {"target": "x y"}, {"files": 3}])}
        path = tmp_path / f"b{i}.edgeface"
        corpus.write_bundle(path, idx, members)
        before = {p: p.read_bytes() for p in cache.rglob("*") if p.is_file()}
        try:
            unpack(path, cache)
            accepted += 1
            assert all(not f["path"].startswith(("/", "..")) and f["size"] >= 0 for f in files)
            for p in cache.rglob("*"):
                assert p.resolve().is_relative_to(cache.resolve()) and (p.is_file() or p.is_dir()) and not p.is_symlink()
            shutil.rmtree(cache)
            (cache / "assets").mkdir(parents=True)
            (cache / corpus.GOOD_FILE).write_bytes(b"kept")
        except EdgefaceError:
            after = {p: p.read_bytes() for p in cache.rglob("*") if p.is_file()}
            assert after == before and not [p for p in cache.iterdir() if p.name.startswith(".bundle-")]
        assert not (tmp_path / "x.npz").exists() and not Path("/abs.npz").exists()
    assert accepted < 150  # most of them are forged


def test_a_real_bundle_still_unpacks_and_a_failed_swap_restores_the_cache(converted_home, tmp_path, monkeypatch):
    from edgeface import bundle as bundle_mod
    from edgeface.errors import EdgefaceError

    path, info, _ = bundle_mod.pack(tmp_path / "b.edgeface", target="rpi4", root=converted_home)
    dest = tmp_path / "cache"
    assert bundle_mod.unpack(path, dest).files == info.files
    assert bundle_mod.verify_tree(dest, info)
    before = {p: p.read_bytes() for p in dest.rglob("*") if p.is_file()}
    real_replace, calls = os.replace, []

    def failing_replace(a, b):  # the fourth file's backup move fails (a full disk, a read-only file)
        calls.append(b)
        if len(calls) == 7:
            raise OSError(28, "No space left on device")
        return real_replace(a, b)

    monkeypatch.setattr(bundle_mod.os, "replace", failing_replace)
    with pytest.raises(EdgefaceError, match="the cache is as it was"):
        bundle_mod.unpack(path, dest)
    monkeypatch.setattr(bundle_mod.os, "replace", real_replace)
    assert {p: p.read_bytes() for p in dest.rglob("*") if p.is_file()} == before


# ---- class 5: the queue (property) --------------------------------------------------------------


def _filled_queue(d: Path, rng: random.Random, n: int):
    from edgeface.fleet.disk_queue import DiskQueue

    q = DiskQueue(d, 512 * 1024)
    recs = [json.dumps({"i": i, "pad": "x" * rng.randrange(1, 1500)}).encode() for i in range(n)]
    for r in recs:
        q.append(r)
    q.close()
    return recs


def test_damaged_queue_bytes_cost_only_the_damaged_records(tmp_path):
    from edgeface.fleet.disk_queue import DiskQueue

    rng = random.Random(27)
    for trial in range(120):
        d = tmp_path / f"q{trial}"
        recs = _filled_queue(d, rng, rng.randrange(20, 120))
        segs = sorted(d.glob("*.seg"))
        flips = rng.randrange(1, 4)
        for _ in range(flips):
            seg = rng.choice(segs)
            data = bytearray(seg.read_bytes())
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
            seg.write_bytes(bytes(data))
        cut = rng.random() < 0.25
        if cut:
            data = segs[-1].read_bytes()
            segs[-1].write_bytes(data[:rng.randrange(len(data))])
        q = DiskQueue(d, 512 * 1024)
        got = [p for _, p in q.read(0, 10 ** 6)]
        assert all(g in recs for g in got), "a damaged record was delivered"
        order = [recs.index(g) for g in got]
        assert order == sorted(order)
        if not cut:
            assert len(got) >= len(recs) - flips and q.lost == len(recs) - len(got)
        assert q.pending == len(got)
        q.ack(10 ** 9)
        assert q.pending == 0
        q.close()


@pytest.mark.parametrize("head", ['{"head": -3}', '{"head": 1e99}', "[]", '{"head": true}', "\x00garbage",
                                  '{"head": 99999999999999999999999}', '{"head": 2, "dropped": -1}', '{"head": "7"}'])
def test_a_damaged_head_file_resends_instead_of_crashing(tmp_path, head):
    from edgeface.fleet.disk_queue import DiskQueue

    recs = _filled_queue(tmp_path, random.Random(1), 5)
    (tmp_path / "head.json").write_text(head)
    q = DiskQueue(tmp_path, 512 * 1024)
    assert [p for _, p in q.read(0, 100)] == recs and "damaged" in q.state_problem
    q.append(b"after")  # appending works (a service would crash-loop on struct.error before)
    q.close()
    assert json.loads((tmp_path / "head.json").read_text())["head"] >= 0


@pytest.mark.parametrize("size", ["inf", "nan", "-1", "0", "1e400", "2000G", "12Q", "", "0x10"])
def test_bad_queue_sizes_are_option_errors(size):
    from edgeface.errors import OptionsError
    from edgeface.fleet.mqtt_sink import MqttOptions, parse_bytes

    with pytest.raises(OptionsError):
        parse_bytes(size)
    with pytest.raises(OptionsError):
        MqttOptions(url="mqtt://h/x", queue_bytes=float(size) if size in ("inf", "nan") else -5)


# ---- class 5-6 with a real broker ---------------------------------------------------------------


@pytest.fixture()
def broker(tmp_path):
    pytest.importorskip("paho.mqtt.client")
    from mosquitto import Broker

    try:
        b = Broker(tmp_path / "broker").start()
    except (FileNotFoundError, RuntimeError) as e:
        pytest.skip(f"no mosquitto: {e}")
    yield b
    b.stop()


def _records(n: int):
    return [json.dumps({"schema": "edgeface.frame/2", "frame": i, "source": "cam", "time_ms": {"total": 1.0},
                        "faces": []}).encode() for i in range(n)]


@pytest.mark.system
def test_flush_of_a_damaged_queue_sends_every_intact_record_and_counts_the_lost(broker, tmp_path, capsys):
    from edgeface.fleet.disk_queue import HEADER, DiskQueue
    from edgeface.fleet.mqtt_link import parse_url
    from edgeface.fleet.mqtt_publisher import pack_message

    target = parse_url(broker.url())
    qdir = tmp_path / "queue"
    q = DiskQueue(qdir, 512 * 1024)
    for i, rec in enumerate(_records(30)):
        q.append(pack_message(target.topic("pi", "faces"), rec, run="r1", frame=i))
    q.close()
    (seg,) = sorted(qdir.glob("*.seg"))
    data = bytearray(seg.read_bytes())
    pos = 0
    for _ in range(15):  # to the 16th record
        pos += HEADER.size + HEADER.unpack_from(data, pos)[0]
    data[pos + HEADER.size + 5] ^= 0x20  # one flipped byte in its payload
    seg.write_bytes(bytes(data))
    from edgeface.fleet.collect import collect

    ready = threading.Event()
    col = threading.Thread(target=lambda: collect(broker.url(), tmp_path / "got.jsonl", count=29, duration=30,
                                                  ready=ready, client_id="t-flush"))
    col.start()
    assert ready.wait(10)
    code, out, err = cli(capsys, "mqtt", "flush", broker.url(), "--board-id", "pi", "--mqtt-queue", qdir, "--timeout", "20")
    col.join(40)
    assert code == 0, err
    assert "29 results sent" in out and "0 still waiting" in out and "1 damaged records lost" in out, out
    frames = sorted(json.loads(x)["frame"] for x in (tmp_path / "got.jsonl").read_text().splitlines())
    assert frames == [i for i in range(30) if i != 15]


@pytest.mark.system
def test_a_poisoned_collector_keeps_collecting(broker, tmp_path, caplog):
    """Hostile messages on the faces and status topics: each is counted and acknowledged, the good
    records after them arrive, and a second collect with the same session is not killed by them."""
    import paho.mqtt.client as mqtt

    from edgeface.fleet.collect import collect

    poison_faces = [b'{"frame":[1]}', b'{"frame":{"a":1}}', b'{"frame":-1}', b'{"frame":true}', b"[" * 100000,
                    b'{"frame":1,"faces":"[/bold]"}', b"\xff\xfe", b"null", b'{"frame":1,"time_ms":[1]}']
    poison_status = [b'{"state":"[/bold]"}', b'{"state":"\\u001b]0;pwned\\u0007online"}', b'{"state":[1]}',
                     b'{"state":"online","fps":"[red]x"}', b'{"state":"online","queued":{"a":1}}']
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="evil", protocol=mqtt.MQTTv5)
    pub.connect("127.0.0.1", broker.port)
    pub.loop_start()
    statuses = []

    def publish_all():
        for p in poison_faces:
            pub.publish("edgeface/evil[1]/faces", p, qos=1).wait_for_publish(5)
        for p in poison_status:
            pub.publish("edgeface/evil/status", p, qos=1).wait_for_publish(5)
        for rec in _records(3):
            pub.publish("edgeface/good/faces", rec, qos=1).wait_for_publish(5)

    ready = threading.Event()
    threading.Thread(target=lambda: (ready.wait(10), publish_all()), daemon=True).start()
    rep = collect(broker.url(), tmp_path / "a.jsonl", count=3, duration=30, ready=ready, client_id="t-poison",
                  on_status=lambda b, s: statuses.append(s))
    assert rep.records == 3 and rep.boards == {"good": 3}
    assert rep.invalid >= len(poison_faces) + 3
    assert all(isinstance(s["state"], str) for s in statuses)
    assert "\x1b" not in caplog.text
    # the same session again: nothing is redelivered to kill it, and it ends normally
    for p in poison_faces[:2]:
        pub.publish("edgeface/evil/faces", p, qos=1).wait_for_publish(5)
    rep2 = collect(broker.url(), tmp_path / "b.jsonl", idle_timeout=2, duration=15, client_id="t-poison")
    assert rep2.records == 0 and rep2.invalid == 2 and rep2.stopped.startswith("idle")
    pub.loop_stop()
    pub.disconnect()


@pytest.mark.system
def test_collect_cli_prints_hostile_statuses_as_plain_text(broker, tmp_path):
    """The terminal of `edgeface collect`: a status with markup and escape sequences is shown escaped."""
    import sys

    import paho.mqtt.client as mqtt

    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="evil2", protocol=mqtt.MQTTv5)
    pub.connect("127.0.0.1", broker.port)
    pub.loop_start()
    pub.publish("edgeface/b[1]/status", b'{"schema":"edgeface.status/2","board":"b","state":"[bold]on\\u001b]0;x\\u0007"}',
                qos=1, retain=True).wait_for_publish(5)
    pub.loop_stop()
    pub.disconnect()
    r = subprocess.run([sys.executable, "-m", "edgeface", "collect", broker.url(), "--json", str(tmp_path / "c.jsonl"),
                        "--duration", "3"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "board b[1]: [bold]on\\x1b]0;x\\x07" in r.stderr, r.stderr
    assert "\x1b" not in r.stdout + r.stderr and "Traceback" not in r.stderr


def test_doctor_shows_a_hostile_cache_path_as_itself(tmp_path, capsys, monkeypatch):
    """EDGEFACE_HOME with markup and an escape sequence: `edgeface doctor` prints it escaped, no MarkupError."""
    home = tmp_path / "x[/bold]\x1b]0;t\x07"
    monkeypatch.setenv("EDGEFACE_HOME", str(home))
    code, out, err = cli(capsys, "doctor")
    assert "Traceback" not in err and "MarkupError" not in err
    assert "x[/bold]\\x1b]0;t\\x07" in out.replace("\n", "") and "\x1b" not in out


@pytest.mark.system
def test_collect_fails_when_its_network_thread_dies(broker, tmp_path, monkeypatch):
    """Never exit 0 having received nothing: a network thread that stops (here paho's own loop told to
    end, as an uncaught error would end it) is one EdgefaceError, with the records so far kept."""
    from edgeface.errors import EdgefaceError
    from edgeface.fleet import collect as collect_mod

    clients = []
    real_make_client = collect_mod.make_client
    monkeypatch.setattr(collect_mod, "make_client", lambda *a, **k: clients.append(real_make_client(*a, **k)) or clients[-1])
    ready = threading.Event()

    def kill_loop():
        ready.wait(10)
        clients[0]._thread_terminate = True  # paho's loop_forever returns: the thread ends

    threading.Thread(target=kill_loop, daemon=True).start()
    with pytest.raises(EdgefaceError, match="network thread died"):
        collect_mod.collect(broker.url(), tmp_path / "c.jsonl", duration=20, ready=ready, client_id="t-dies")
