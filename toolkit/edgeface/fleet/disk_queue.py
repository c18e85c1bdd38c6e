"""A bounded first-in first-out queue of byte records on disk: what the MQTT sink sends from.

Records survive the process (a board that loses its broker, or its power, keeps its results) and
leave in the order they came in. Layout of a queue folder:

    lock                      flock'd while a process uses the queue (one user at a time)
    head.json                 {"head": first unacknowledged sequence number, "dropped": total dropped}
    0000000001.seg, ...       segments: records [len u32][crc32 u32][seq u64][payload], appended

`append()` writes a record (flushed to the OS at once, `sync()` makes it durable). When the
records waiting would exceed `max_bytes`, the oldest are dropped first (counted in `dropped`)
and nothing else is ever dropped. `read(seq, n)` gives records from a sequence number on,
`ack(seq)` marks everything up to `seq` as delivered; fully delivered segments are deleted. A torn
last record (the process killed in the middle of a write) is cut off when the queue is reopened.

Damage never costs more than the damaged record: when the queue is opened, every record is checked
(its length fits, its crc32 matches, its sequence number follows); a corrupt one is skipped, the scan
finds the next intact record (by its expected sequence number, or byte by byte) and goes on, and
`lost` counts what was skipped or torn, so `flush` reports sent, waiting and lost. `head.json` is
validated (non-negative integers below 2**63): a damaged one is ignored (the queue starts from its
oldest record, `state_problem` says so) instead of crashing every run of a service.
"""

from __future__ import annotations

import bisect
import contextlib
import fcntl
import json
import os
import struct
import threading
import zlib
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple, Union

from edgeface.errors import EdgefaceError
from edgeface.hub.atomic import write_json_atomic

HEADER = struct.Struct("<IIQ")  # payload length, crc32 of the payload, sequence number
SEQ = struct.Struct("<Q")
MAX_SEQ = (1 << 63) - 1
RESYNC_WINDOW = 4096  # after a corrupt record, the next intact one is looked for among the next this many numbers
MIN_SEGMENT = 64 * 1024
DEFAULT_MAX_BYTES = 32 * 1024 * 1024


@dataclass
class _Segment:
    ident: int
    path: Path
    first_seq: int
    offsets: array = field(default_factory=lambda: array("Q"))
    size: int = 0

    @property
    def end_seq(self) -> int:  # one past the last record
        return self.first_seq + len(self.offsets)

    def record_size(self, i: int) -> int:
        nxt = self.offsets[i + 1] if i + 1 < len(self.offsets) else self.size
        return nxt - self.offsets[i]


class DiskQueue:
    """A bounded on-disk FIFO of byte records (see the module doc). Thread-safe; one process per folder."""

    def __init__(self, directory: Union[str, os.PathLike], max_bytes: int = DEFAULT_MAX_BYTES):
        if max_bytes < 2 * MIN_SEGMENT:
            raise EdgefaceError(f"queue size {max_bytes} bytes is too small: give at least {2 * MIN_SEGMENT // 1024} KiB")
        self.dir = Path(directory).expanduser()
        self.max_bytes = int(max_bytes)
        self.segment_bytes = max(MIN_SEGMENT, self.max_bytes // 16)
        self._lock = threading.RLock()
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._lockfile = open(self.dir / "lock", "a+")
        except OSError as e:
            raise EdgefaceError(f"cannot use the queue folder {self.dir}: {e.strerror or e} (pick another with --mqtt-queue)") from None
        try:
            fcntl.flock(self._lockfile, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lockfile.close()
            raise EdgefaceError(f"the queue {self.dir} is in use by another edgeface process: stop it, "
                                "or give this one its own --mqtt-queue DIR") from None
        self._segments: List[_Segment] = []
        self._writer = None
        self._lost: set = set()  # sequence numbers of corrupt records (skipped by read, passed by ack)
        self.state_problem = ""
        self.head, self.dropped, self.torn = self._load_state()
        self._scan()
        self.tail = self._segments[-1].end_seq if self._segments else self.head
        self.head = min(max(self.head, self._segments[0].first_seq if self._segments else self.head), self.tail)
        self._skip_lost()
        self.lost = len([s for s in self._lost if s >= self.head]) + self.torn  # found at open, among those waiting
        self.pending_bytes = sum(self._size(s) for s in range(self.head, self.tail))
        self._dirty = False
        self._collect()
        self.closed = False

    # ---- state -------------------------------------------------------------------------------
    def _load_state(self) -> Tuple[int, int, int]:
        p = self.dir / "head.json"
        if not p.exists():
            return 0, 0, 0
        try:
            d = json.loads(p.read_text())
            head, dropped = d["head"], d.get("dropped", 0)
            if all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_SEQ for v in (head, dropped)):
                return head, dropped, 0
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
            pass
        self.state_problem = f"{p} was damaged: resending from the oldest queued record"
        return 0, 0, 0

    def _save_state(self) -> None:
        write_json_atomic(self.dir / "head.json", {"head": self.head, "dropped": self.dropped})
        self._dirty = False

    @staticmethod
    def _record_at(data: bytes, pos: int, expect: Optional[int]) -> Optional[int]:
        """The sequence number of an intact record at `pos` (length fits, crc matches, number plausible), else None."""
        if pos + HEADER.size > len(data):
            return None
        n, crc, seq = HEADER.unpack_from(data, pos)
        if n == 0 or pos + HEADER.size + n > len(data):
            return None
        if expect is not None and not expect <= seq < expect + RESYNC_WINDOW:
            return None
        if zlib.crc32(data[pos + HEADER.size: pos + HEADER.size + n]) != crc:
            return None
        return seq

    def _number(self, data: bytes, pos: int, seq: int, expect: Optional[int], adjacent: bool) -> Optional[int]:
        """The sequence number of the intact record at `pos` whose header says `seq`. Records are written
        with consecutive numbers, so right after an intact record (`adjacent`) the number is `expect`
        whatever the header says (a damaged number field keeps its record); after skipped damage a gap
        is real; the queue's first record is checked against the two after it."""
        if expect is not None:
            if adjacent or seq == expect:
                return expect
            return seq if expect < seq < expect + RESYNC_WINDOW else None
        after = pos + HEADER.size + struct.unpack_from("<I", data, pos)[0]
        s1 = self._record_at(data, after, None)
        if s1 is None or s1 == seq + 1:
            return seq
        s2 = self._record_at(data, after + HEADER.size + struct.unpack_from("<I", data, after)[0], None)
        return s1 - 1 if (s2 is not None and s2 == s1 + 1 and s1 > 0) else seq

    def _resync(self, data: bytes, pos: int, expect: Optional[int]) -> Optional[int]:
        """The position of the next intact record after a corrupt one at `pos`, None if there is none."""
        if expect is not None:  # look for the next sequence numbers where a header holds them
            best = None
            for seq in range(expect, expect + RESYNC_WINDOW):
                i = data.find(SEQ.pack(seq), pos + 1 + 8)
                while i >= 0 and (best is None or i - 8 < best):
                    if self._record_at(data, i - 8, expect) is not None:
                        best = i - 8
                        break
                    i = data.find(SEQ.pack(seq), i + 1)
                if best is not None and seq > expect + 64:
                    break
            return best
        for p in range(pos + 1, len(data) - HEADER.size + 1):  # the first record of the queue: byte by byte
            if self._record_at(data, p, None) is not None:
                return p
        return None

    def _scan(self) -> None:
        """Index the segments on disk, skipping (and counting) corrupt records, cutting a torn tail."""
        paths = sorted(self.dir.glob("*.seg"))
        expect: Optional[int] = None
        adjacent = False  # the last record read ended where this one starts (no damage skipped between)
        for k, path in enumerate(paths):
            try:
                ident = int(path.stem)
            except ValueError:
                continue
            data = path.read_bytes()
            seg = None
            pos = 0
            while pos + HEADER.size <= len(data):
                seq = self._record_at(data, pos, None)
                if seq is not None:
                    seq = self._number(data, pos, seq, expect, adjacent)
                if seq is None:
                    nxt = self._resync(data, pos, expect)
                    if nxt is None:
                        break
                    if expect is None:  # the queue's first record is damaged: its number is unknown
                        self.torn += 1
                    pos, adjacent = nxt, False
                    continue
                if seg is None:
                    seg = _Segment(ident, path, seq if expect is None else expect)
                while expect is not None and expect < seq:  # corrupt records before this one
                    self._lost.add(expect)
                    seg.offsets.append(pos)
                    expect += 1
                seg.offsets.append(pos)
                pos += HEADER.size + struct.unpack_from("<I", data, pos)[0]
                expect, adjacent = seq + 1, True
            if pos < len(data):  # torn write (or garbage) at the end: keep what is whole
                adjacent = False
                if k == len(paths) - 1:  # (in an earlier segment, the next one's numbers count what is lost)
                    self.torn += 1
                    with open(path, "r+b") as f:
                        f.truncate(pos)
            if seg is None:
                path.unlink()
                continue
            seg.size = pos
            self._segments.append(seg)

    def _skip_lost(self) -> None:
        while self.head in self._lost and self.head < self.tail:
            self.head += 1
            self._dirty = True

    def _size(self, seq: int) -> int:
        if seq in self._lost:
            return 0
        seg = self._segment_of(seq)
        return seg.record_size(seq - seg.first_seq)

    def _segment_of(self, seq: int) -> _Segment:
        i = bisect.bisect_right([s.first_seq for s in self._segments], seq) - 1
        return self._segments[i]

    def _collect(self) -> None:
        """Delete segments whose records are all delivered or dropped."""
        while self._segments and self._segments[0].end_seq <= self.head and (
                len(self._segments) > 1 or self._writer is None):
            seg = self._segments.pop(0)
            with contextlib.suppress(FileNotFoundError):
                seg.path.unlink()

    # ---- producer ----------------------------------------------------------------------------
    def append(self, data: bytes) -> int:
        """Add one record; returns its sequence number. Drops the oldest waiting records if full."""
        rec = HEADER.size + len(data)
        if rec > self.max_bytes // 2:
            raise EdgefaceError(f"a {len(data)}-byte message does not fit the {self.max_bytes}-byte queue: "
                                "give a larger --mqtt-queue-size")
        with self._lock:
            while self.pending_bytes + rec > self.max_bytes and self.head < self.tail:
                self.pending_bytes -= self._size(self.head)
                self.head += 1
                self.dropped += 1
                self._dirty = True
            cur = self._segments[-1] if self._segments else None
            if cur is None or self._writer is None or cur.size >= self.segment_bytes:
                cur = self._new_segment()
            seq = self.tail
            cur.offsets.append(cur.size)
            self._writer.write(HEADER.pack(len(data), zlib.crc32(data), seq) + data)
            self._writer.flush()
            cur.size += rec
            self.tail += 1
            self.pending_bytes += rec
            self._collect()
            return seq

    def _new_segment(self) -> _Segment:
        if self._writer is not None:
            self._writer.close()
        ident = self._segments[-1].ident + 1 if self._segments else 1
        seg = _Segment(ident, self.dir / f"{ident:010d}.seg", self.tail)
        self._writer = open(seg.path, "ab")
        self._segments.append(seg)
        return seg

    # ---- consumer ----------------------------------------------------------------------------
    def read(self, seq: int, limit: int) -> List[Tuple[int, bytes]]:
        """Up to `limit` records (seq, payload) from `seq` on (or from the head, if `seq` was dropped)."""
        out: List[Tuple[int, bytes]] = []
        with self._lock:
            seq = max(seq, self.head)
            while seq < self.tail and len(out) < limit:
                seg = self._segment_of(seq)
                with open(seg.path, "rb") as f:
                    while seq < min(seg.end_seq, self.tail) and len(out) < limit:
                        if seq not in self._lost:
                            f.seek(seg.offsets[seq - seg.first_seq])
                            n, _crc, _s = HEADER.unpack(f.read(HEADER.size))
                            out.append((seq, f.read(n)))
                        seq += 1
        return out

    def ack(self, seq: int) -> None:
        """Everything up to and including `seq` is delivered."""
        with self._lock:
            while self.head <= seq and self.head < self.tail:
                self.pending_bytes -= self._size(self.head)
                self.head += 1
                self._dirty = True
            self._skip_lost()
            self._collect()

    @property
    def pending(self) -> int:
        """Records waiting to be delivered (corrupt ones are not: they are `lost`)."""
        return self.tail - self.head - sum(1 for s in self._lost if self.head <= s < self.tail)

    def sync(self) -> None:
        """Make appended records and the head durable (fsync)."""
        with self._lock:
            if self._writer is not None:
                self._writer.flush()
                os.fsync(self._writer.fileno())
            if self._dirty:
                self._save_state()

    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.sync()
            if self._writer is not None:
                self._writer.close()
                self._writer = None
            self._collect()
            self._save_state()
            self.closed = True
            fcntl.flock(self._lockfile, fcntl.LOCK_UN)
            self._lockfile.close()

    def __enter__(self) -> "DiskQueue":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
