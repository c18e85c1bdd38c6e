"""Fetch upstream files into the cache, verified by git blob id and sha256.

Files come from their pinned upstream URL or from a local mirror folder laid out as
`<repo alias>/<upstream path>` (`--mirror DIR` or `$EDGEFACE_MIRROR`). A file is written to a
temporary name, verified, and only then renamed into the cache: a truncated or tampered file
is refused and nothing is cached. Pickles are converted to `.npz` through the restricted
unpickler (see `hub.derive`).
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional

from edgeface.hub import paths
from edgeface.errors import EdgefaceError, VerificationError
from edgeface.hub.atomic import atomic_path, git_blob_id_file, sha256_file
from edgeface.hub.cards import Card, UpstreamFile, load_cards
from edgeface.hub.derive import derive

# Progress callback: (description, done_bytes, total_bytes or None)
ProgressFn = Callable[[str, int, Optional[int]], None]


@dataclass
class FileStatus:
    file: UpstreamFile
    status: str  # cached | fetched | missing | refused | failed
    path: Optional[Path] = None
    message: str = ""


@dataclass
class FetchReport:
    requested: list
    explicit: bool  # names were given explicitly (not "all")
    files: list = field(default_factory=list)
    derived: list = field(default_factory=list)

    def card_ok(self, name: str) -> bool:
        return all(s.status in ("cached", "fetched") for s in self.files if s.file.card == name)

    @property
    def refused(self) -> list:
        return [s for s in self.files if s.status == "refused"]

    @property
    def ok(self) -> bool:
        """Everything requested explicitly was obtained (for `all`: everything not optional)."""
        if self.refused:
            return False
        cards = load_cards()
        for name in self.requested:
            if not self.explicit and cards[name].optional:
                continue
            if not self.card_ok(name):
                return False
        return True


def resolve_names(names: Iterable[str]) -> tuple:
    """Expand `all` and check names.

    Returns (all names in dependency order, the names asked for, explicit flag). Dependencies
    pulled in implicitly are fetched and reported but don't decide the exit status.
    """
    cards = load_cards()
    names = list(names) or ["all"]
    explicit = "all" not in names
    wanted = list(cards) if not explicit else names
    unknown = [n for n in wanted if n not in cards]
    if unknown:
        raise EdgefaceError(f"unknown asset {', '.join(unknown)}: choose from all, {', '.join(cards)}")
    ordered: list = []

    def add(n: str) -> None:
        for dep in cards[n].needs:
            add(dep)
        if n not in ordered:
            ordered.append(n)

    for n in wanted:
        add(n)
    return ordered, wanted, explicit


def cached_path(f: UpstreamFile, root: Path | None = None) -> Path:
    return paths.files_dir(root) / f.mirror_relpath


def verify_file(path: Path, f: UpstreamFile) -> None:
    """Raise VerificationError unless `path` holds exactly the pinned bytes of `f`."""
    size = path.stat().st_size
    if f.size and size != f.size:
        raise VerificationError(f"{f.mirror_relpath}: size {size} bytes, expected {f.size} (truncated or wrong file)")
    if f.sha256:
        got = sha256_file(path)
        if got != f.sha256:
            raise VerificationError(f"{f.mirror_relpath}: sha256 {got[:16]}... does not match the pinned {f.sha256[:16]}...")
    got = git_blob_id_file(path)
    if got != f.git_blob:
        raise VerificationError(f"{f.mirror_relpath}: git blob id {got[:12]} does not match the pinned {f.git_blob[:12]}")


def _stream(fi, fo, total: Optional[int], progress: ProgressFn | None, label: str, block_size: int) -> None:
    """Copy a file-like into another block by block, reporting progress."""
    done = 0
    while True:
        block = fi.read(block_size)
        if not block:
            break
        fo.write(block)
        done += len(block)
        if progress:
            progress(label, done, total)


def _copy_from_mirror(src: Path, tmp: Path, progress: ProgressFn | None, label: str) -> None:
    with open(src, "rb") as fi, open(tmp, "wb") as fo:
        _stream(fi, fo, src.stat().st_size, progress, label, 1 << 20)


def _download(url: str, tmp: Path, progress: ProgressFn | None, label: str, retries: int, timeout: float) -> None:
    last: Exception | None = None
    for attempt in range(retries):
        try:
            req = urllib.request.Request(url, headers={"User-Agent": "edgeface-fetch"})
            with urllib.request.urlopen(req, timeout=timeout) as r, open(tmp, "wb") as fo:
                total = r.headers.get("Content-Length")
                _stream(r, fo, int(total) if total else None, progress, label, 1 << 16)
            return
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as e:
            last = e
            if attempt + 1 < retries:
                time.sleep(min(2 ** attempt, 8))
    raise EdgefaceError(f"download of {url} failed after {retries} tries ({last}); check the network or use --mirror DIR")


def fetch_file(
    f: UpstreamFile,
    mirror: Path | None = None,
    root: Path | None = None,
    progress: ProgressFn | None = None,
    retries: int = 3,
    timeout: float = 60.0,
) -> FileStatus:
    dest = cached_path(f, root)
    if dest.exists():
        try:
            verify_file(dest, f)
            return FileStatus(f, "cached", dest)
        except VerificationError:
            dest.unlink()  # a stale or damaged cache entry: fetch it again
    label = f"{f.card}: {Path(f.path).name}"
    if mirror is not None:
        src = Path(mirror) / f.mirror_relpath
        if not src.is_file():
            return FileStatus(f, "missing", None, f"{f.path} is not in the mirror {mirror}; get it from {f.url}")
    try:
        with atomic_path(dest) as tmp:
            if mirror is not None:
                _copy_from_mirror(src, tmp, progress, label)
            else:
                _download(f.url, tmp, progress, label, retries, timeout)
            verify_file(tmp, f)  # raising here removes the temporary file: nothing is cached
    except VerificationError as e:
        origin = str(Path(mirror) / f.mirror_relpath) if mirror is not None else f.url
        return FileStatus(f, "refused", None, f"refused {origin}: {e}; nothing was cached (restore the original file or re-download it)")
    except EdgefaceError as e:
        return FileStatus(f, "failed", None, str(e))
    return FileStatus(f, "fetched", dest)


def default_mirror() -> Path | None:
    env = os.environ.get("EDGEFACE_MIRROR")
    return Path(env) if env else None


def fetch(
    names: Iterable[str] = ("all",),
    mirror: str | os.PathLike | None = None,
    root: Path | None = None,
    progress: ProgressFn | None = None,
    on_file: Callable[[FileStatus], None] | None = None,
) -> FetchReport:
    """Fetch and verify the files of the named cards (and what they need), then derive assets."""
    ordered, wanted, explicit = resolve_names(names)
    mirror_path = Path(mirror).expanduser() if mirror is not None else default_mirror()
    if mirror_path is not None and not mirror_path.is_dir():
        raise EdgefaceError(f"mirror folder {mirror_path} does not exist; pass an existing folder laid out as <repo alias>/<upstream path>")
    root = root or paths.home()
    cards = load_cards()
    report = FetchReport(requested=wanted, explicit=explicit)
    for name in ordered:
        card: Card = cards[name]
        for f in card.files:
            st = fetch_file(f, mirror_path, root, progress)
            report.files.append(st)
            if on_file:
                on_file(st)
        if report.card_ok(name) and card.derived:
            report.derived.append(derive(card, root))
    return report
