"""The output-path guard: the one place that decides whether edgeface may write an output path, and the
one place that moves a finished file onto one (`commit`).

Every sink and command checks its outputs here before the work starts (`check_outputs`) and renames
its finished temporary file onto the output only through `commit` (tests/test_output_guard.py fails
on an `os.replace` / `os.rename` / `shutil.move` / `Path.rename` anywhere else in the package). Refused,
each with one line naming the option, the path and the fix, nothing replaced:

- an output that is the input (the same file, also through a link), or lies inside an input folder
  being read, or is a folder that holds an input file;
- two outputs on one path;
- an existing output that is not a regular file: a symlink, FIFO, character or block device, socket
  (or a folder where a file is expected, a file where a folder is expected);
- an output whose folder cannot be written (read-only, not a folder): found by creating and removing
  a probe file there before any work, not after it.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence, Union

from edgeface.errors import EdgefaceError

PathLike = Union[str, "os.PathLike[str]"]
FILE = "file"
DIR = "dir"


class OutputPathError(EdgefaceError):
    """An output path edgeface refuses to write (exit code 2): nothing was written or replaced."""


@dataclass(frozen=True)
class Output:
    """One output of a command: `path`, the `option` that named it (for the message), and its `kind`
    ("file": one file written atomically; "dir": a folder edgeface writes files into)."""

    path: Path
    option: str = "output"
    kind: str = FILE
    example: str = "out"  # a file name the message suggests when a folder is given for a file

    def __post_init__(self) -> None:
        if self.kind not in (FILE, DIR):
            raise ValueError(f"Output kind must be {FILE!r} or {DIR!r}, got {self.kind!r}")
        if not os.fspath(self.path).strip():
            raise OutputPathError(f"{self.option} is empty: give a file or folder name")
        object.__setattr__(self, "path", Path(os.path.expanduser(os.fspath(self.path))))


def special_kind(path: PathLike) -> Optional[str]:
    """What `path` is when it is neither absent nor a regular file nor a folder ('a symlink', 'a FIFO'...),
    else None. Looks at the path itself (a symlink is never followed)."""
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    for test, name in ((stat.S_ISLNK, "a symlink"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return None


def _resolved(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _inside(child: Path, folder: Path) -> bool:
    return child == folder or folder in child.parents


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _check_kind(out: Output) -> None:
    p = out.path
    special = special_kind(p)
    if special is not None:
        raise OutputPathError(f"{out.option} {p} is {special}: edgeface writes only new or regular files "
                              "(nothing was replaced); give another path")
    if out.kind == FILE and p.is_dir():
        raise OutputPathError(f"{out.option} {p} is a folder: give a file name inside it, e.g. {p / out.example}")
    if out.kind == DIR and p.exists() and not p.is_dir():
        raise OutputPathError(f"{out.option} {p} is a file, not a folder: give a folder (a new name, or one ending in /)")


def _check_inputs(out: Output, real: Path, inputs: Sequence[Path]) -> None:
    for given in inputs:
        src = _resolved(given)
        if src.is_dir():
            if _inside(real, src):
                raise OutputPathError(f"{out.option} {out.path} is inside the input folder {given}: its outputs would "
                                      "become the next run's inputs; write them to another folder")
        elif real == src or _same_file(real, src):
            raise OutputPathError(f"{out.option} {out.path} is the input {given}: the input is never overwritten; "
                                  "give another output path")
        elif out.kind == DIR and _inside(src, real):
            raise OutputPathError(f"{out.option} {out.path} holds the input {given}: an output there could replace "
                                  "it; write to another folder")


def _nearest_existing(path: Path) -> Path:
    p = path
    while not os.path.lexists(p) and p.parent != p:
        p = p.parent
    return p


def check_writable_dir(folder: PathLike, option: str = "output") -> Path:
    """Whether files can be created in `folder` (or, if it does not exist, the closest folder above it
    that does): a probe file is created there and removed. One line if not."""
    folder = Path(folder)
    base = _nearest_existing(folder)
    if not base.is_dir():
        raise OutputPathError(f"{option}: {base} is not a folder, so {folder} cannot be created; give another path")
    try:
        fd, probe = tempfile.mkstemp(prefix=".edgeface-probe.", dir=base)
    except OSError as e:
        why = {errno.EROFS: "it is on a read-only file system", errno.EACCES: "it is read-only for this user",
               errno.EPERM: "it is read-only for this user", errno.ENOSPC: "the disk is full"}.get(
            e.errno, e.strerror or str(e))
        raise OutputPathError(f"cannot write {option} into {base}: {why} (pick another output path, "
                              "or make the folder writable)") from None
    os.close(fd)
    os.unlink(probe)
    return base


def check_outputs(outputs: Iterable[Output], inputs: Iterable[PathLike] = ()) -> tuple[Output, ...]:
    """Check every output before the work starts (see the module doc); returns them (paths expanded).
    Raises `OutputPathError` (one line, exit code 2) for the first one refused."""
    outs = tuple(outputs)
    ins = [Path(os.path.expanduser(os.fspath(p))) for p in inputs if p is not None]
    seen: dict[Path, Output] = {}
    for out in outs:
        _check_kind(out)
        real = _resolved(out.path)
        _check_inputs(out, real, ins)
        other = seen.get(real)
        if other is not None:
            raise OutputPathError(f"{other.option} and {out.option} both name {out.path}: one would lose the other; "
                                  "give each output its own path")
        seen[real] = out
        check_writable_dir(out.path if out.kind == DIR else out.path.parent, out.option)
    return outs


def check_output(path: PathLike, option: str = "output", kind: str = FILE,
                 inputs: Iterable[PathLike] = ()) -> Path:
    """`check_outputs` for one output; returns its path (expanded)."""
    return check_outputs([Output(Path(path), option, kind)], inputs)[0].path


def commit(tmp: PathLike, dest: PathLike, *, replace_symlink: bool = True) -> Path:
    """Move the finished temporary file `tmp` onto `dest` (atomic, same folder): the only rename onto an
    output in edgeface. `dest` must be absent or a regular file; a FIFO, device, socket or folder (one that
    appeared since the check) is refused and `tmp` is left for the caller to clean up. A symlink at `dest`
    is replaced itself (never its target: cache files in a symlink farm), or refused with
    `replace_symlink=False` (user outputs, which `check_outputs` already refused as symlinks)."""
    dest = Path(dest)
    special = special_kind(dest)
    if special == "a symlink" and replace_symlink:
        special = None
    elif dest.is_dir() and not os.path.islink(dest) and not Path(tmp).is_dir():
        special = "a folder"
    if special is not None:
        raise OutputPathError(f"{dest} is {special}: edgeface writes only new or regular files "
                              "(nothing was replaced); give another path")
    os.replace(tmp, dest)
    return dest


def set_aside(path: PathLike, dest: PathLike) -> Path:
    """Rename an edgeface file (e.g. a killed run's `.part`) to a new name `dest` that does not exist yet."""
    path, dest = Path(path), Path(dest)
    if os.path.lexists(dest):
        raise OutputPathError(f"{dest} already exists: move it away and run again")
    os.rename(path, dest)
    return dest
