"""Atomic file writes and digests: never leave a half-written output behind."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from edgeface.hub.output_guard import commit


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to `dest`; it replaces `dest` only if the block succeeds (through
    `output_guard.commit`: never onto a FIFO, device or folder; a symlink is replaced itself, not its target).

    The temporary name keeps the extension of `dest` (writers such as cv2.VideoWriter
    pick the format from it). On error the temporary file (or folder) is removed.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    ext = suffix if suffix is not None else "".join(dest.suffixes[-1:])
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.stem}.", suffix=f".part{ext}", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; outputs get the usual permissions
    try:
        yield tmp_path
        commit(tmp_path, dest)  # refuses a dest that became a FIFO, device or folder
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            if tmp_path.is_dir():
                shutil.rmtree(tmp_path)
            else:
                tmp_path.unlink()
        raise


def write_bytes_atomic(dest: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)
    return Path(dest)


def write_text_atomic(dest: str | os.PathLike, text: str) -> Path:
    return write_bytes_atomic(dest, text.encode("utf-8"))


def write_json_atomic(dest: str | os.PathLike, obj, indent: int = 2) -> Path:
    return write_text_atomic(dest, json.dumps(obj, indent=indent, sort_keys=False) + "\n")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def git_blob_id_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """The id `git hash-object FILE` prints: sha1(b"blob <size>\\0" + bytes)."""
    size = os.path.getsize(path)
    h = hashlib.sha1(f"blob {size}\0".encode())
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()

