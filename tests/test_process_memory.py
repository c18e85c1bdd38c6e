"""A process's memory independently of the page cache (issue 25): the /proc parsers of boards.process_memory on
this process's real files, clear_refs and smaps' Referenced, and the sampler `edgeface report` runs in its child."""

from __future__ import annotations

import json
import mmap
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgeface.boards.machine import clear_referenced, read_self_proc
from edgeface.boards.memory_sampler import MemorySampler, lines_at_least
from edgeface.boards.process_memory import (Mapping, file_referenced, parse_smaps, parse_smaps_rollup, parse_status,
                                            working_memory_kb)

linux = pytest.mark.skipif(not Path("/proc/self/smaps_rollup").exists(), reason="needs Linux /proc/self/smaps_rollup")


@linux
def test_parsers_read_this_process_s_real_proc_files():
    st = parse_status(read_self_proc("status"))
    assert set(st) == {"VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"}
    assert st["VmHWM"] >= st["VmRSS"] > 0 and st["RssAnon"] > 0 and st["RssFile"] > 0
    assert abs(st["RssAnon"] + st["RssFile"] + st["RssShmem"] - st["VmRSS"]) <= 0.05 * st["VmRSS"]
    ro = parse_smaps_rollup(read_self_proc("smaps_rollup"))
    assert {"Rss", "Pss", "Pss_Anon", "Pss_File"} <= set(ro) and 0 < ro["Pss"] <= ro["Rss"]
    maps = parse_smaps(read_self_proc("smaps"))
    # the mappings of smaps add up to smaps_rollup's total, and this interpreter's own binary is a file mapping
    assert abs(sum(m.rss_kb for m in maps) - ro["Rss"]) <= 0.05 * ro["Rss"]
    exe = os.path.realpath(sys.executable)
    assert any(m.file_backed and m.name == exe for m in maps), exe
    assert any(m.name == "[heap]" and not m.file_backed for m in maps)
    ref = file_referenced(maps)
    assert 0 < ref.referenced_min_kb <= ref.referenced_kb <= ref.rss_kb


def test_file_referenced_bounds_and_what_counts_as_a_file():
    maps = [Mapping("/usr/lib/libx.so", rss_kb=100, referenced_kb=60, anonymous_kb=8),  # 52..60 file pages touched
            Mapping("/usr/lib/liby.so", rss_kb=10, referenced_kb=10, anonymous_kb=4),  # 6..6 (only 6 are file pages)
            Mapping("[heap]", rss_kb=500, referenced_kb=500), Mapping("", rss_kb=70, referenced_kb=70),
            Mapping("/memfd:buf (deleted)", rss_kb=30, referenced_kb=30), Mapping("/dev/shm/x", rss_kb=5, referenced_kb=5)]
    ref = file_referenced(maps)
    assert (ref.referenced_min_kb, ref.referenced_kb, ref.rss_kb, ref.anon_kb) == (58, 66, 98, 12)
    assert working_memory_kb(1000, ref.referenced_kb) == 1066
    assert parse_status("Name:\tx\nVmRSS:\t  12 kB\nRssAnon:\t 5 kB\n") == {"VmRSS": 12, "RssAnon": 5}


def _referenced_kb(path: str) -> int:
    return sum(m.referenced_kb for m in parse_smaps(read_self_proc("smaps")) if m.name == path)


@linux
def test_clear_refs_makes_the_referenced_count_drop_then_rise_when_pages_are_touched(tmp_path):
    size = 8 << 20
    f = tmp_path / "pages.bin"
    f.write_bytes(os.urandom(size))
    with open(f, "rb") as fh, mmap.mmap(fh.fileno(), size, prot=mmap.PROT_READ) as m:
        path = str(f.resolve())
        touch = lambda: sum(m[i] for i in range(0, size, mmap.PAGESIZE))  # noqa: E731  one byte per page
        touch()
        before = _referenced_kb(path)
        assert before >= 0.9 * size / 1024  # all the pages just read
        if not clear_referenced():
            pytest.skip("this kernel does not let a process write /proc/self/clear_refs")
        cleared = _referenced_kb(path)
        assert cleared <= 0.1 * before, (before, cleared)
        touch()
        again = _referenced_kb(path)
        assert again >= 0.9 * before, (before, cleared, again)


SAMPLER_RUN = """
import dataclasses, json, mmap, os, sys, time
from pathlib import Path
from edgeface.boards.machine import read_self_proc
from edgeface.boards.memory_sampler import MemorySampler, lines_at_least
from edgeface.boards.process_memory import parse_status
tmp = Path(sys.argv[1])
frames, data = tmp / "frames.jsonl", tmp / "model.bin"
data.write_bytes(os.urandom(4 << 20))
s = MemorySampler(lines_at_least((tmp / "frames.jsonl.part", frames), 3), warmup_frames=3).start()
base = parse_status(read_self_proc("status"))["RssAnon"]
blob = bytearray(64 << 20)  # 64 MB of anonymous memory, touched, held for a few samples
for i in range(0, len(blob), 4096):
    blob[i] = 1
time.sleep(0.3)
del blob
frames.write_text("{}\\n{}\\n{}\\n")  # "3 frames written": the sampler clears the accessed bits
for _ in range(200):
    if s.cleared:
        break
    time.sleep(0.01)
cleared = s.cleared
with open(data, "rb") as fh, mmap.mmap(fh.fileno(), 4 << 20, prot=mmap.PROT_READ) as m:
    sum(m[i] for i in range(0, 4 << 20, mmap.PAGESIZE))  # steady state: 4 MB of a file touched
    m_sum = s.finish()
print(json.dumps(dict(dataclasses.asdict(m_sum), base_kb=base, cleared=cleared, same=s.finish() is m_sum)))
"""


@linux
def test_sampler_finds_the_anonymous_peak_and_the_file_pages_touched_after_warm_up(tmp_path):
    """In a fresh interpreter (a long-lived test worker's allocator may hand the buffer pages it already holds):
    a 64 MB buffer held for a few samples is in the anonymous peak though freed since, and the 4 MB of a file
    read after the warm-up are the file pages referenced."""
    p = subprocess.run([sys.executable, "-c", SAMPLER_RUN, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    m = json.loads(p.stdout.strip().splitlines()[-1])
    assert m["cleared"], "the sampler did not clear the referenced bits after warm-up"
    assert m["anon_peak_mb"] >= m["base_kb"] / 1024 + 60
    assert m["file_referenced_mb"] >= 3.9 and m["file_referenced_min_mb"] <= m["file_referenced_mb"]
    assert m["working_mb"] == pytest.approx(m["anon_peak_mb"] + m["file_referenced_mb"], abs=0.11)
    assert 0 < m["working_mb"] <= m["peak_rss_mb"] and m["samples"] >= 3 and m["warmup_frames"] == 3
    assert m["same"]


@linux
def test_sampler_without_warm_up_gives_no_working_memory():
    m = MemorySampler(lines_at_least(("/nonexistent/frames.jsonl",), 3)).start().finish()
    assert m.working_mb is None and m.file_referenced_mb is None and m.anon_peak_mb > 0 and m.peak_rss_mb > 0
