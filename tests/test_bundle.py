"""One-file model bundles: pack -> unpack round trip (byte-identical files, same results as the cache),
`run --bundle`, and truncated / altered / padded / unsafe bundles refused with one line, changing nothing."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from edgeface.hub.atomic import sha256_file
from inprocess_cli import cli


@pytest.fixture(scope="module")
def bundle(converted_home, tmp_path_factory):
    from edgeface.bundle import pack

    path, info, digest = pack(tmp_path_factory.mktemp("bundle") / "face.edgeface", target="rpi4", root=converted_home)
    return path, info


def _one_error(err: str, *needles) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in err, err
    for n in needles:
        assert n in lines[0]
    return lines[0]


def test_pack_cli_and_unpack_round_trip(converted_home, tmp_path, capsys):
    code, out, err = cli(capsys, "pack", "--target", "rpi4", "-o", tmp_path / "face.edgeface")
    assert code == 0, err
    assert "10 files" in out and "(int8, detector fp32, faceboxes 640x480, for rpi4)" in out  # rpi4: fp32 detector
    assert f"sha256 {sha256_file(tmp_path / 'face.edgeface')}" in out
    assert not list(tmp_path.glob(".*part*"))  # written through a temporary file
    code, out, err = cli(capsys, "unpack", tmp_path / "face.edgeface", "--to", tmp_path / "board")
    assert code == 0, err
    index = json.loads((tmp_path / "board" / "bundle.json").read_text())
    paths = sorted(f["path"] for f in index["files"])
    assert paths == sorted(["tflite/mb05/mb05_int8.tflite", "tflite/mb05/mb05_int8.json", "tflite/mb05/mb05_head.npz",
                            "tflite/faceboxes_640x480/faceboxes_640x480_float32.tflite",  # rpi4: fp32 detector
                            "tflite/faceboxes_640x480/faceboxes_640x480_float32.json",
                            "tflite/faceboxes_1088x736/faceboxes_1088x736_float32.tflite",  # photos (runtime/still.py)
                            "tflite/faceboxes_1088x736/faceboxes_1088x736_float32.json",
                            "assets/param_stats.npz", "assets/sparse_bases.npz", "assets/mesh.npz"])
    for p in paths:  # byte for byte what the workstation converted
        assert sha256_file(tmp_path / "board" / p) == sha256_file(converted_home / p)
    assert not list((tmp_path / "board").glob(".bundle-*"))  # no staging left behind


def test_run_from_bundle_matches_the_cache(bundle, converted_home, tmp_path, capsys):
    path, info = bundle
    # the rpi4 profile: INT8 regressor, fp32 detector; the bundle packed for it carries exactly those
    code, out, err = cli(capsys, "run", "--source", "samples:trump_hillary", "--target", "rpi4", "-q",
                         "--json", tmp_path / "cache.jsonl")
    assert code == 0, err
    code, out, err = cli(capsys, "run", "--source", "samples:trump_hillary", "--bundle", path, "-q",
                         "--json", tmp_path / "bundle.jsonl")
    assert code == 0, err
    assert "10 files verified" in err and "int8, detector fp32" in err  # the bundle's precisions by default
    a, b = (json.loads((tmp_path / n).read_text()) for n in ("cache.jsonl", "bundle.jsonl"))
    assert len(a["faces"]) == 2 and a["faces"] == b["faces"]
    # another precision than the bundle's: the bundle first, then the cache (here it has fp32), then the
    # installed models package (hub.locate)
    code, out, err = cli(capsys, "run", "--source", "samples:emma", "--bundle", path, "--precision", "fp32", "-q")
    assert code == 0, err
    assert "models from cache" in err
    # an unpacked bundle altered on disk is noticed and unpacked again
    from edgeface.hub import paths

    unpacked = paths.home() / "bundles" / sha256_file(path)[:16]
    model = unpacked / "tflite/mb05/mb05_int8.tflite"
    model.write_bytes(model.read_bytes()[:-10])
    code, out, err = cli(capsys, "run", "--source", "samples:emma", "--bundle", path, "-q")
    assert code == 0, err
    assert sha256_file(model) == sha256_file(converted_home / "tflite/mb05/mb05_int8.tflite")


def test_bundle_for_one_profile_names_what_it_holds(bundle, converted_home, tmp_path, capsys, monkeypatch):
    """A board with only an rpi4 bundle: another profile or precision is one line naming what the bundle
    holds and what would provide the model (never a bare `edgeface convert`)."""
    path, info = bundle
    emma = converted_home / "files/3ddfa_v2/examples/inputs/emma.jpg"
    monkeypatch.setenv("EDGEFACE_HOME", str(tmp_path / "board-cache"))  # nothing but the bundle on this board
    for args, missing in ((["--target", "rpi5"], "faceboxes_640x480_int8.tflite"),
                          (["--precision", "fp32"], "mb05_float32.tflite")):
        code, out, err = cli(capsys, "run", "--source", emma, "--bundle", path, "-q", *args)
        assert code == 2 and "Traceback" not in err, err
        last = err.strip().splitlines()[-1]
        assert last.startswith(f"error: {missing} is not installed (bundle packed for rpi4: "), last
        assert "mb05_int8" in last and "pack a bundle that holds it" in last
        assert "edgeface[models]" in last or "edgeface-models" in last
    code, out, err = cli(capsys, "run", "--source", emma, "--bundle", path, "-q", "--target", "rpi4")
    assert code == 0, err


def _damaged(src, dest, cut=None, flip=None):
    data = bytearray(src.read_bytes())
    if flip is not None:
        data[flip] ^= 0x01
    dest.write_bytes(bytes(data[:cut] if cut is not None else data))
    return dest


def _last_data_end(path: Path) -> int:
    """Where the last member's data ends (the tar's end-of-archive padding follows)."""
    with tarfile.open(path) as tar:
        last = tar.getmembers()[-1]
        return last.offset_data + last.size


def _offset(path, member):
    with tarfile.open(path) as tar:
        return tar.getmember(member).offset_data


@pytest.mark.parametrize("how, needle", [
    ("cut_in_index", "truncated"),
    ("cut_in_model", "truncated"),
    ("cut_last_file", "truncated"),
    ("flip_model_byte", "does not match its sha256"),
    ("flip_index_byte", "the digest list) does not match"),
])
def test_damaged_bundle_refused_and_nothing_changed(bundle, tmp_path, capsys, how, needle):
    path, info = bundle
    model = _offset(path, "tflite/mb05/mb05_int8.tflite")
    kw = {"cut_in_index": dict(cut=700), "cut_in_model": dict(cut=model + 1000),
          "cut_last_file": dict(cut=_last_data_end(path) - 100), "flip_model_byte": dict(flip=model + 5000),
          "flip_index_byte": dict(flip=_offset(path, "bundle.json") + 40)}[how]
    bad = _damaged(path, tmp_path / "bad.edgeface", **kw)
    board = tmp_path / "board"
    code, out, err = cli(capsys, "unpack", bad, "--to", board)
    assert code == 3
    _one_error(err, needle)
    assert not any(p.is_file() for p in board.rglob("*"))  # nothing unpacked, no staging left
    code, out, err = cli(capsys, "run", "--source", "samples:emma", "--bundle", bad, "-q")
    assert code == 3 and "frames from" not in out
    _one_error(err)


def _rewrite(src, dest, extra=None, drop=None):
    """A copy of the bundle with a member added (name, bytes) or one left out."""
    with tarfile.open(src) as tin, tarfile.open(dest, "w") as tout:
        for m in tin:
            if m.name != drop:
                tout.addfile(m, tin.extractfile(m))
        if extra is not None:
            ti = tarfile.TarInfo(extra[0])
            ti.size = len(extra[1])
            tout.addfile(ti, io.BytesIO(extra[1]))
    return dest


@pytest.mark.parametrize("kind, needle", [
    ("extra", "is not in its digest list"),
    ("traversal", "unsafe path"),
    ("missing", "files missing"),
    ("not_a_bundle", "not a bundle"),
])
def test_altered_bundles_refused(bundle, tmp_path, capsys, kind, needle):
    path, info = bundle
    bad = tmp_path / "bad.edgeface"
    if kind == "extra":
        _rewrite(path, bad, extra=("tflite/mb05/evil.tflite", b"x" * 100))
    elif kind == "traversal":
        _rewrite(path, bad, extra=("../../etc/cron.d/evil", b"x"))
    elif kind == "missing":
        _rewrite(path, bad, drop="assets/mesh.npz")
    else:
        bad.write_bytes(b"just some bytes, not a tar file" * 100)
    code, out, err = cli(capsys, "unpack", bad, "--to", tmp_path / "board")
    assert code == 3
    _one_error(err, needle)
    assert not (tmp_path / "etc").exists() and not any(p.is_file() for p in (tmp_path / "board").rglob("*"))


def test_pack_of_something_not_converted_is_one_line(converted_home, tmp_path, capsys):
    code, out, err = cli(capsys, "pack", "--target", "rpi3", "--precision", "fp16", "-o", tmp_path / "x.edgeface")
    assert code == 2
    _one_error(err, "faceboxes_320x256_float16.tflite", "edgeface convert --model faceboxes --fp16 --detector-size 320x256")
    assert not list(tmp_path.iterdir())
    code, out, err = cli(capsys, "unpack", tmp_path / "nope.edgeface")
    assert code == 2
    _one_error(err, "does not exist")
