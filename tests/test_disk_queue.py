"""The on-disk queue behind `--mqtt`: order, durability across processes, bounded with the oldest
dropped first (and counted), a torn last record cut off, one process per queue."""

from __future__ import annotations

import pytest

from edgeface.errors import EdgefaceError
from edgeface.fleet.disk_queue import HEADER, MIN_SEGMENT, DiskQueue


def _all(q):
    return q.read(0, 10 ** 6)


def test_fifo_ack_and_reopen(tmp_path):
    with DiskQueue(tmp_path / "q") as q:
        seqs = [q.append(f"record {i}".encode()) for i in range(1000)]
        assert seqs == list(range(1000)) and q.pending == 1000
        got = q.read(0, 10)
        assert [s for s, _ in got] == list(range(10)) and got[3][1] == b"record 3"
        q.ack(499)
        assert q.pending == 500
    with DiskQueue(tmp_path / "q") as q:  # a new process: the same 500 waiting, in order
        assert q.pending == 500
        assert [d for _, d in _all(q)] == [f"record {i}".encode() for i in range(500, 1000)]
        assert q.append(b"next") == 1000
        q.ack(1000)
        assert q.pending == 0
    with DiskQueue(tmp_path / "q") as q:
        assert q.pending == 0 and q.append(b"x") == 1001
    assert len(list((tmp_path / "q").glob("*.seg"))) == 1  # delivered segments are deleted


def test_full_queue_drops_oldest_first_and_counts(tmp_path):
    size = 4 * MIN_SEGMENT
    payload = b"x" * 1000
    with DiskQueue(tmp_path / "q", max_bytes=size) as q:
        n = 2000
        for i in range(n):
            q.append(payload[:-8] + i.to_bytes(8, "big"))
        fits = size // (HEADER.size + len(payload))
        assert q.pending == fits and q.dropped == n - fits
        kept = [int.from_bytes(d[-8:], "big") for _, d in _all(q)]
        assert kept == list(range(n - fits, n))  # the newest survive, in order
        assert q.read(0, 1)[0][0] == n - fits  # a reader behind the head moves up to it
    disk = sum(p.stat().st_size for p in (tmp_path / "q").glob("*.seg"))
    assert disk <= size + q.segment_bytes
    with DiskQueue(tmp_path / "q", max_bytes=size) as q:
        assert q.dropped == n - fits  # the drop count survives too


def test_torn_last_record_is_cut(tmp_path):
    with DiskQueue(tmp_path / "q") as q:
        for i in range(10):
            q.append(b"r%d" % i)
    seg = sorted((tmp_path / "q").glob("*.seg"))[-1]
    with open(seg, "ab") as f:  # a write cut in the middle (power loss)
        f.write(HEADER.pack(100, 0, 10) + b"partial")
    with DiskQueue(tmp_path / "q") as q:
        assert q.torn == 1 and q.pending == 10
        assert q.append(b"after") == 10
        assert [d for _, d in _all(q)][-2:] == [b"r9", b"after"]


def test_one_process_per_queue_and_limits(tmp_path):
    with DiskQueue(tmp_path / "q"):
        with pytest.raises(EdgefaceError, match="in use by another edgeface process"):
            DiskQueue(tmp_path / "q")
    with pytest.raises(EdgefaceError, match="too small"):
        DiskQueue(tmp_path / "small", max_bytes=1000)
    with DiskQueue(tmp_path / "q2", max_bytes=2 * MIN_SEGMENT) as q:
        with pytest.raises(EdgefaceError, match="does not fit"):
            q.append(b"x" * MIN_SEGMENT * 2)


def test_mqtt_extra_adds_only_paho():
    """`pip install ".[mqtt]"` adds paho-mqtt and nothing else; the board install does not change."""
    import importlib.metadata as md
    import sys
    from pathlib import Path

    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    assert project["optional-dependencies"]["mqtt"] == ["paho-mqtt>=2.0,<3"]
    assert not any("paho" in d for d in project["dependencies"])
    assert not [r for r in (md.requires("paho-mqtt") or []) if "extra ==" not in r]  # paho itself needs nothing
