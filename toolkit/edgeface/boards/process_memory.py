"""A process's memory as the kernel states it: pure parsers of /proc/PID/status, smaps_rollup and smaps texts.

Why more than peak RSS (`VmHWM`): RSS counts every file-backed page mapped into the process, and how many
of a shared library's pages get mapped depends on the page cache, not on the program (fault-around maps the
cached neighbours of a faulted page; a freshly written venv is all in the cache), so the same run peaks at
175 MB in one venv and 226 MB in a fresh copy of it. What must stay resident is:

    working memory = peak (RssAnon + RssShmem)             anonymous + shared memory: not reclaimable
                                                           without swap (a Raspberry Pi has none by default)
                   + file pages referenced in steady state  the library / model pages the loop touches
                                                           after warm-up (the rest can be dropped and
                                                           re-read on demand without slowing the loop)

The file pages referenced are measured by writing "1" to /proc/PID/clear_refs after warm-up (it clears the
accessed bits of all the process's pages) and reading, at the end, the `Referenced` of each file-backed
mapping in /proc/PID/smaps. `Referenced` of a file-backed mapping also counts its private copy-on-write pages
(`Anonymous`: relocated data, already in RssAnon), and smaps does not say which of them were touched, so per
mapping the referenced file pages lie between max(0, Referenced - Anonymous) and min(Referenced, Rss -
Anonymous). The working memory takes the upper bound (a budget is judged conservatively); the lower bound
is kept beside it (`referenced_min_kb`; the two differ by at most the `Anonymous` of file mappings).
Shared-memory mappings (/dev/shm, memfd, SysV) are counted in RssShmem, not here.

Kernel documentation: Documentation/filesystems/proc.rst (status, smaps, smaps_rollup, clear_refs).
Everything here takes the text as an argument (sizes in kB, as the kernel writes them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Sequence

STATUS_FIELDS = ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem")
ROLLUP_FIELDS = ("Rss", "Pss", "Pss_Anon", "Pss_File", "Pss_Shmem")
# smaps names of mappings whose pages are shared memory (RssShmem), not files on disk
SHMEM_NAMES = ("/dev/shm/", "/memfd:", "/SYSV", "/dev/zero", "/anon_hugepage")


def _kb_fields(text: str, wanted: Sequence[str]) -> Dict[str, int]:
    out: Dict[str, int] = {}
    for line in (text or "").splitlines():
        key, sep, rest = line.partition(":")
        if sep and key in wanted:
            parts = rest.split()
            if parts and parts[0].isdigit():
                out[key] = int(parts[0])
    return out


def parse_status(text: str) -> Dict[str, int]:
    """The memory fields of /proc/PID/status (kB): VmRSS, VmHWM, RssAnon, RssFile, RssShmem (those present)."""
    return _kb_fields(text, STATUS_FIELDS)


def parse_smaps_rollup(text: str) -> Dict[str, int]:
    """The totals of /proc/PID/smaps_rollup (kB): Rss, Pss, Pss_Anon, Pss_File, Pss_Shmem (those present)."""
    return _kb_fields(text, ROLLUP_FIELDS)


@dataclass(frozen=True)
class Mapping:
    """One mapping (VMA) of /proc/PID/smaps: its name (path, [heap], "" for anonymous) and sizes in kB."""
    name: str
    rss_kb: int = 0
    referenced_kb: int = 0
    anonymous_kb: int = 0

    @property
    def file_backed(self) -> bool:
        """A file on disk (its pages are page cache), not anonymous memory, a [special] area or shared memory."""
        return self.name.startswith("/") and not self.name.startswith(SHMEM_NAMES)


def _is_header(line: str) -> bool:
    # "55d0c000-55d0e000 r--p 00000000 fe:00 123  /usr/bin/python3"; a field line is "Name:   value kB"
    head = line.split(None, 1)[0] if line.strip() else ""
    return "-" in head and not head.endswith(":") and all(c in "0123456789abcdef-" for c in head)


def parse_smaps(text: str) -> list:
    """The mappings of a /proc/PID/smaps text, each a `Mapping`."""
    maps: list = []
    name: Optional[str] = None
    fields: Dict[str, int] = {}

    def close():
        if name is not None:
            maps.append(Mapping(name=name, rss_kb=fields.get("Rss", 0), referenced_kb=fields.get("Referenced", 0),
                                anonymous_kb=fields.get("Anonymous", 0)))

    for line in (text or "").splitlines():
        if _is_header(line):
            close()
            parts = line.split(None, 5)
            name, fields = (parts[5].strip() if len(parts) > 5 else ""), {}
        elif name is not None:
            fields.update(_kb_fields(line, ("Rss", "Referenced", "Anonymous")))
    close()
    return maps


@dataclass(frozen=True)
class FileReferenced:
    """The file-backed mappings' pages that are resident and referenced (kB), from one smaps text."""
    referenced_kb: int  # upper bound: sum over file mappings of min(Referenced, Rss - Anonymous)
    referenced_min_kb: int  # lower bound: sum of max(0, Referenced - Anonymous)
    rss_kb: int  # their resident file pages (Rss - Anonymous), referenced or not
    anon_kb: int  # private copy-on-write pages inside file mappings (in RssAnon)


def file_referenced(maps: Sequence[Mapping]) -> FileReferenced:
    files = [m for m in maps if m.file_backed]
    return FileReferenced(referenced_kb=sum(min(m.referenced_kb, max(0, m.rss_kb - m.anonymous_kb)) for m in files),
                          referenced_min_kb=sum(max(0, m.referenced_kb - m.anonymous_kb) for m in files),
                          rss_kb=sum(max(0, m.rss_kb - m.anonymous_kb) for m in files),
                          anon_kb=sum(m.anonymous_kb for m in files))


@dataclass(frozen=True)
class MemorySummary:
    """What a run's memory sampler found (MB). None: not measured (no /proc, or the run ended before warm-up)."""
    peak_rss_mb: Optional[float] = None  # VmHWM: the kernel's exact peak of RSS (anon + file + shmem)
    sampled_rss_peak_mb: Optional[float] = None  # the largest VmRSS the samples saw (how close sampling gets)
    anon_peak_mb: Optional[float] = None  # peak of RssAnon + RssShmem over the samples
    rss_anon_peak_mb: Optional[float] = None
    rss_file_peak_mb: Optional[float] = None
    rss_shmem_peak_mb: Optional[float] = None
    pss_peak_mb: Optional[float] = None
    pss_anon_peak_mb: Optional[float] = None
    pss_file_peak_mb: Optional[float] = None
    file_referenced_mb: Optional[float] = None  # file pages touched after warm-up (upper bound)
    file_referenced_min_mb: Optional[float] = None  # the same, lower bound
    file_resident_mb: Optional[float] = None  # file pages mapped at the end, touched or not
    file_anon_mb: Optional[float] = None  # copy-on-write pages inside file mappings (bound on the above's error)
    working_mb: Optional[float] = None  # anon_peak_mb + file_referenced_mb
    samples: int = 0
    warmup_frames: Optional[int] = None  # frames written before clear_refs

    def __post_init__(self):
        if self.samples < 0:
            raise ValueError(f"samples must be >= 0, got {self.samples}")


def mb(kb: Optional[int]) -> Optional[float]:
    return None if kb is None else round(kb / 1024.0, 1)


def working_memory_kb(anon_shmem_peak_kb: int, file_referenced_kb: int) -> int:
    """Working memory: the peak of what cannot be reclaimed plus the file pages the steady state touches."""
    return int(anon_shmem_peak_kb) + int(file_referenced_kb)


__all__: Sequence[str] = ("parse_status", "parse_smaps_rollup", "parse_smaps", "Mapping", "file_referenced",
                          "FileReferenced", "MemorySummary", "working_memory_kb", "mb", "STATUS_FIELDS", "ROLLUP_FIELDS")
