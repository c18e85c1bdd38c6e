"""The JSONL sink: one `edgeface.frame` record per line (`edgeface.records`, the public JSONL contract),
never clobbering an earlier file.

Lines go to `<path>.part`, flushed per frame (each line one write call), and the `.part` is renamed
onto `path` at close. See `JsonlSink` for what a killed or failed run leaves.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import time
from pathlib import Path
from typing import Optional, Union

import numpy as np

from edgeface.errors import EdgefaceError, write_error
from edgeface.frames import Frame
from edgeface.hub.output_guard import FILE, Output, OutputPathError, check_outputs, commit, set_aside, special_kind
from edgeface.records import frame_record
from edgeface.sink import BaseSink
from edgeface.results import FrameResult

log = logging.getLogger(__name__)


def check_part(path: Path) -> None:
    """The `<path>.part` a run writes first must be absent or a regular file (a killed run's)."""
    part = path.with_name(path.name + ".part")
    special = special_kind(part)
    if special is not None:
        raise OutputPathError(f"{part} (the file a run writes before {path.name} is complete) is "
                              f"{special}: remove it or give another --json path")


class JsonlSink(BaseSink):
    """One `edgeface.frame` record per frame (`records.frame_record`), flushed per frame into `<path>.part`
    and renamed onto `path` at close: an existing `path` is never truncated by a run that fails.

    A run that is killed (SIGKILL, power loss) leaves `<path>.part` holding the frames done;
    the next run on the same path says so and keeps its complete lines as
    `<stem>.killed-<time>.jsonl` (`recovered`). A run that fails keeps the complete lines in `<path>.part` (none: no file)."""

    def __init__(self, path: Union[str, os.PathLike], with_params: bool = True):
        self.path = Path(path)
        self.part = self.path.with_name(self.path.name + ".part")
        self.with_params = with_params
        self.recovered: Optional[Path] = None
        check_outputs([Output(self.path, "--json", FILE, "results.jsonl")])
        check_part(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.part.exists():
                self._check_not_in_use()
                self.recovered = self._keep_killed_part()
            self._f = open(self.part, "w", encoding="utf-8", newline="\n")
            fcntl.flock(self._f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # another run on this path sees it
        except OSError as e:
            raise write_error(self.path, e) from None
        self.lines = 0
        self._good = 0  # bytes of complete lines in the .part

    def _check_not_in_use(self) -> None:
        """A `.part` locked by a live run is not a killed run's: refuse (never move it away under that run)."""
        with open(self.part, "rb") as f:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise EdgefaceError(f"another edgeface run is writing {self.path} right now: wait for it to end "
                                    "or give another --json path") from None
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    def _keep_killed_part(self) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(self.part.stat().st_mtime))
        dest = self.path.with_name(f"{self.path.stem}.killed-{stamp}{self.path.suffix}")
        set_aside(self.part, dest)
        with open(dest, "rb+") as f:  # keep the complete lines: a kill mid-write leaves a partial last one
            data = f.read()
            f.truncate(data.rfind(b"\n") + 1)
        lines = data.count(b"\n")
        log.warning("%s was left by a run that was killed (%d complete lines): kept as %s",
                    self.part, lines, dest.name)
        return dest

    def write(self, frame: Frame, result: FrameResult, annotated: Optional[np.ndarray] = None) -> None:
        obj = frame_record(result, with_params=self.with_params)
        try:
            self._f.write(json.dumps(obj, separators=(",", ":")) + "\n")
            self._f.flush()
        except OSError as e:
            raise write_error(self.path, e, f"; the {self.lines} frames done are in {self.part}") from None
        self._good = self._f.tell()
        self.lines += 1

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()
            commit(self.part, self.path, replace_symlink=False)
        except OSError as e:
            self._keep_lines()
            raise write_error(self.path, e, f"; the {self.lines} frames done are in {self.part}") from None

    def _keep_lines(self) -> None:
        """After a failure: the .part keeps only complete lines (none: it is removed)."""
        with contextlib.suppress(Exception):
            self._f.close()
        with contextlib.suppress(OSError):
            if self.lines == 0:
                self.part.unlink()
            else:
                os.truncate(self.part, self._good)

    def abort(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._keep_lines()
        if self.lines:
            log.warning("the run failed: the %d frames done are in %s (%s untouched)", self.lines, self.part, self.path)
