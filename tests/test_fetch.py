"""fetch: mirror and download paths, digest verification, atomicity, restricted unpickling."""

from __future__ import annotations

import http.server
import os
import pickle
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest

from edgeface.hub import assets
from edgeface.hub import safe_pickle
from edgeface.errors import EdgefaceError
from edgeface.hub.fetch import fetch, fetch_file
from edgeface.hub.atomic import git_blob_id_file, sha256_file
from edgeface.hub.cards import get_card, load_cards


def run_cli(*args, env_extra=None):
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "edgeface", *args], capture_output=True, text=True, env=env)


def test_cards_pin_every_mirrored_file(mirror):
    seen = 0
    for card in load_cards().values():
        for f in card.files:
            assert f.git_blob and len(f.git_blob) == 40
            assert f.repo.commit in f.url and f.url.startswith("https://raw.githubusercontent.com/")
            p = mirror / f.mirror_relpath
            if p.exists():
                seen += 1
                assert git_blob_id_file(p) == f.git_blob
                assert sha256_file(p) == f.sha256
                assert p.stat().st_size == f.size
    assert seen >= 17
    assert "ACADEMIC USE ONLY" in get_card("bfm").license
    assert get_card("mb1").optional and get_card("bfm").optional


def test_fetch_all_from_mirror(tmp_path, mirror):
    report = fetch(["all"], mirror=mirror, root=tmp_path)
    by = {(s.file.card, s.file.key): s for s in report.files}
    for card in ("mb05", "faceboxes", "param_stats", "sparse_bases", "mesh", "samples"):
        assert report.card_ok(card), card
    assert by[("mb1", "checkpoint")].status == "missing"
    assert "https://raw.githubusercontent.com/cleardusk/3DDFA_V2/" in by[("mb1", "checkpoint")].message
    assert by[("bfm", "pickle")].status == "missing"
    assert report.ok  # optional cards don't fail `all`
    again = fetch(["mb05"], mirror=mirror, root=tmp_path)
    assert {s.status for s in again.files} == {"cached"} and len(again.files) == 5 and again.ok
    stats = assets.load_param_stats(tmp_path)
    assert stats.mean.shape == (62,) and stats.std.shape == (62,) and np.all(stats.std > 0)
    bases = assets.load_sparse_bases(tmp_path)
    assert bases.u.shape == (204,) and bases.w_shp.shape == (204, 40) and bases.w_exp.shape == (204, 10)


def test_explicit_missing_fails_and_names_url(tmp_path, mirror):
    r = run_cli("fetch", "mb1", "--mirror", str(mirror), env_extra={"EDGEFACE_HOME": str(tmp_path)})
    assert r.returncode != 0
    assert "weights/mb1_120x120.pth" in r.stdout and "https://raw.githubusercontent.com" in r.stdout
    assert "Traceback" not in r.stderr
    r = run_cli("fetch", "all", "--mirror", str(mirror), env_extra={"EDGEFACE_HOME": str(tmp_path)})
    assert r.returncode == 0, r.stderr


def test_tampered_mirror_file_is_refused(tmp_path, mirror):
    bad_mirror = tmp_path / "mirror"
    f = get_card("param_stats").file("pickle")
    dst = bad_mirror / f.mirror_relpath
    dst.parent.mkdir(parents=True)
    data = bytearray((mirror / f.mirror_relpath).read_bytes())
    data[100] ^= 0x01  # one byte changed
    dst.write_bytes(bytes(data))
    home = tmp_path / "home"
    r = run_cli("fetch", "param_stats", "--mirror", str(bad_mirror), env_extra={"EDGEFACE_HOME": str(home)})
    assert r.returncode != 0
    err_lines = [l for l in r.stderr.strip().splitlines() if l.strip()]
    assert len(err_lines) == 1 and "refused" in err_lines[0] and "sha256" in err_lines[0], r.stderr
    cached = list((home / "files").rglob("*")) if (home / "files").exists() else []
    assert not [p for p in cached if p.is_file()], cached  # nothing cached, no temp left
    assert not (home / "assets").exists() or not list((home / "assets").iterdir())


def test_truncated_file_refused(tmp_path, mirror):
    f = get_card("mb05").file("checkpoint")
    bad = tmp_path / "m" / f.mirror_relpath
    bad.parent.mkdir(parents=True)
    bad.write_bytes((mirror / f.mirror_relpath).read_bytes()[:1000])
    st = fetch_file(f, tmp_path / "m", tmp_path / "home")
    assert st.status == "refused" and "size" in st.message
    assert not (tmp_path / "home" / "files" / f.mirror_relpath).exists()


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


def test_download_path_verifies(tmp_path, mirror, monkeypatch):
    """The URL path (served from loopback) downloads, verifies and caches."""
    f = get_card("samples").file("jianzhuguo")
    served = tmp_path / "www"
    (served / "file").parent.mkdir(parents=True)
    shutil.copy(mirror / f.mirror_relpath, served / "file")
    handler = lambda *a, **k: _Handler(*a, directory=str(served), **k)  # noqa: E731
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        import dataclasses

        local = dataclasses.replace(f, repo=dataclasses.replace(f.repo, raw=f"http://127.0.0.1:{srv.server_port}"))
        monkeypatch.setattr(type(local), "url", property(lambda self: f"http://127.0.0.1:{srv.server_port}/file"))
        seen = []
        st = fetch_file(local, None, tmp_path / "home", progress=lambda label, done, total: seen.append(done))
        assert st.status == "fetched" and seen and seen[-1] == f.size
        (served / "file").write_bytes(b"not the file")
        st2 = fetch_file(local, None, tmp_path / "home2", retries=1)
        assert st2.status == "refused"
    finally:
        srv.shutdown()


def test_restricted_unpickler_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    with pytest.raises(EdgefaceError, match="not allowed"):
        safe_pickle.loads(pickle.dumps(Evil()))
    with pytest.raises(EdgefaceError):
        safe_pickle.loads(pickle.dumps({"a": np.array([object()], dtype=object)}))
    d = safe_pickle.loads(pickle.dumps({"mean": np.arange(3, dtype=np.float32), "n": [1, 2.0, "x"]}))
    assert np.array_equal(d["mean"], np.arange(3))


def test_unknown_name_one_line(tmp_path):
    r = run_cli("fetch", "nonsense", env_extra={"EDGEFACE_HOME": str(tmp_path)})
    assert r.returncode != 0 and "unknown asset nonsense" in r.stderr and "Traceback" not in r.stderr


def test_info_lists_missing(edgeface_home):
    r = run_cli("info", env_extra={"EDGEFACE_HOME": str(edgeface_home), "COLUMNS": "200"})
    assert r.returncode == 0
    assert "mb05" in r.stdout and "missing mb1" in r.stdout and "ACADEMIC USE ONLY" in r.stdout
