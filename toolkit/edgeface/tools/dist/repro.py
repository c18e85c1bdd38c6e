"""Byte-reproducible archives: a wheel or an sdist rewritten with sorted entries, one fixed timestamp
(SOURCE_DATE_EPOCH), fixed permissions and owners, and a gzip header without a time or a name.

The contents are untouched (a wheel's RECORD hashes stay valid); only the container is normalized, so
building twice from the same tree gives the same sha256.
"""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import tarfile
import time
import zipfile
from pathlib import Path

ZIP_EPOCH_MIN = 315532800  # 1980-01-01: the earliest time a zip entry can hold


def source_date_epoch(repo: Path) -> int:
    """$SOURCE_DATE_EPOCH, else the last commit's time, else 1980-01-01."""
    env = os.environ.get("SOURCE_DATE_EPOCH")
    if env and env.isdigit():
        return int(env)
    try:
        out = subprocess.run(["git", "-C", str(repo), "log", "-1", "--format=%ct"], capture_output=True, text=True,
                             check=True).stdout.strip()
        return int(out)
    except (OSError, subprocess.CalledProcessError, ValueError):
        return ZIP_EPOCH_MIN


def _wheel_order(name: str) -> tuple:
    # package files first, then .dist-info with RECORD last (the order installers expect)
    dist_info = ".dist-info/" in name
    return (dist_info, dist_info and name.endswith("/RECORD"), name)


def normalize_wheel(path: Path, epoch: int) -> Path:
    """Rewrite the wheel at `path` in place, reproducibly."""
    when = time.gmtime(max(epoch, ZIP_EPOCH_MIN))[:6]
    with zipfile.ZipFile(path) as z:
        entries = [(i.filename, z.read(i), (i.external_attr >> 16) & 0o111) for i in z.infolist() if not i.is_dir()]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as out:
        for name, data, exe in sorted(entries, key=lambda e: _wheel_order(e[0])):
            info = zipfile.ZipInfo(name, date_time=when)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so the permission bits below are read
            info.external_attr = ((0o100755 if exe else 0o100644) & 0xFFFF) << 16
            out.writestr(info, data, compresslevel=9)
    path.write_bytes(buf.getvalue())
    return path


def normalize_sdist(path: Path, epoch: int) -> Path:
    """Rewrite the .tar.gz at `path` in place, reproducibly (sorted members, fixed owner, time, gzip header)."""
    members = []
    with tarfile.open(path, "r:gz") as tar:
        for m in tar.getmembers():
            data = tar.extractfile(m).read() if m.isfile() else None
            members.append((m, data))
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as out:
        for m, data in sorted(members, key=lambda e: e[0].name):
            ti = tarfile.TarInfo(m.name)
            ti.type = m.type
            ti.mtime = epoch
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = ""
            ti.mode = 0o755 if (m.isdir() or m.mode & 0o111) else 0o644
            ti.linkname = m.linkname
            if data is not None:
                ti.size = len(data)
                out.addfile(ti, io.BytesIO(data))
            else:
                out.addfile(ti)
    with open(path, "wb") as fh:
        with gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0, compresslevel=9) as gz:
            gz.write(raw.getvalue())
    return path
