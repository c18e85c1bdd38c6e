"""One-file model bundles: `edgeface pack` on the workstation, `edgeface unpack` / `run --bundle` on the board.

A bundle (`face.edgeface`) is an uncompressed tar (TFLite models hardly compress) whose first
member is `bundle.json`:

    {"format": "edgeface-bundle/1", "edgeface": "0.1.0", "created": "...", "precision": "int8",
     "target": "rpi4", "detector_size": [640, 480], "regressor": "mb05",
     "files": [{"path": "tflite/mb05/mb05_int8.tflite", "size": 977552, "sha256": "..."}, ...]}

then `bundle.json.sha256` (the digest of the list itself), then exactly those files, at their paths in the model cache: the regressor and the detector at
one precision with their manifests (and the float head a manifest names), and the runtime's 3DMM
assets (`assets/param_stats.npz`, `sparse_bases.npz`, `mesh.npz`). The BFM (academic licence, no
redistribution) is never packed. Unpacking reads every member into a staging folder, checks its
size and sha256 against the list, refuses anything not listed, missing, duplicated, unsafe (an
absolute path, `..`, a link) or truncated, and only then moves the files into place: a damaged
bundle is one `VerificationError` line and changes nothing.

This module is the one bundle extractor (tests/test_hostile_fleet.py fails if another module opens a
tar for reading). Before a byte is written: `bundle.json` is checked against its schema (`_check_index`:
types, ranges, names without control characters or markup-breaking surprises), every member's declared
size (the list) and real size (its tar header) must agree and stay under `MAX_FILE_BYTES`, their sum
under `MAX_TOTAL_BYTES` and the free space of the cache, and each member's bytes must lie within the
bundle file (an uncompressed tar holds every byte it unpacks to: a 10 KB bundle cannot unpack to
1 GiB); sparse, device, FIFO and link members are refused. Files move into place with a backup of what they replace, restored if any move fails.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, List, Optional, Union

from edgeface import __version__
from edgeface.boards.profiles import get_target
from edgeface.errors import EdgefaceError, MissingAssetError, VerificationError
from edgeface.hub import paths, store
from edgeface.hub.atomic import atomic_path, sha256_file
from edgeface.vocab import STILL_DETECTOR_SIZE, Precision, check_regressor, detector_name

FORMAT = "edgeface-bundle/1"
INDEX = "bundle.json"
INDEX_DIGEST = "bundle.json.sha256"  # sha256 of bundle.json's bytes: the digest list checks itself
RUNTIME_ASSETS = ("param_stats.npz", "sparse_bases.npz", "mesh.npz")
MAX_INDEX_BYTES = 1 << 20
CHUNK = 1 << 20
MAX_FILES = 64  # a bundle holds about a dozen
MAX_FILE_BYTES = 512 << 20  # the largest model is ~13 MB, the BFM (never packed) ~150 MB
MAX_TOTAL_BYTES = 2 << 30
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")  # target and version names
_SHA256 = re.compile(r"[0-9a-f]{64}")
_DETECTOR_SIDE = (32, 8192)


@dataclass(frozen=True)
class BundleInfo:
    """What `bundle.json` says (checked)."""

    precision: str
    target: str
    detector_size: tuple
    regressor: str
    files: tuple  # ({"path", "size", "sha256"}, ...)
    edgeface: str = ""
    created: str = ""
    detector_precision: str = ""  # the detector's (a profile such as rpi4 runs it at fp32); "" = `precision`

    @property
    def detector_precision_used(self) -> str:
        return self.detector_precision or self.precision

    @classmethod
    def from_dict(cls, d: dict, name: str) -> "BundleInfo":
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise VerificationError(f"{name} is not an edgeface bundle ({FORMAT}): make it with `edgeface pack`")
        _check_index(d, name)
        try:
            files = tuple({"path": _safe_member(str(f["path"]), name), "size": int(f["size"]),
                           "sha256": str(f["sha256"])} for f in d["files"])
            info = cls(precision=Precision.parse(d["precision"]).value, target=str(d.get("target", "any")),
                       detector_size=tuple(int(v) for v in d["detector_size"]), regressor=check_regressor(d["regressor"]),
                       files=files, edgeface=str(d.get("edgeface", "")), created=str(d.get("created", "")),
                       detector_precision=Precision.parse(d.get("detector_precision") or d["precision"]).value)
        except (KeyError, TypeError, ValueError) as e:
            raise VerificationError(f"{name}: bundle.json is damaged ({e}): copy the bundle again") from None
        if len({f["path"] for f in files}) != len(files):
            raise VerificationError(f"{name}: bundle.json lists a file twice: copy the bundle again")
        return info

    def to_dict(self) -> dict:
        return {"format": FORMAT, "edgeface": self.edgeface, "created": self.created, "precision": self.precision,
                "target": self.target, "detector_size": list(self.detector_size), "regressor": self.regressor,
                "detector_precision": self.detector_precision_used, "files": [dict(f) for f in self.files]}


def _damaged(name: str, what: str) -> VerificationError:
    return VerificationError(f"{name}: bundle.json is damaged ({what}): copy the bundle again, or pack a new one")


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_index(d: dict, name: str) -> None:
    """`bundle.json` against its schema: every field's type, range and form, before anything uses it."""
    for key in ("precision", "regressor"):
        if not isinstance(d.get(key), str) or not _LABEL.fullmatch(d[key]):
            raise _damaged(name, f"'{key}' is not a name")
    for key in ("target", "edgeface", "detector_precision"):
        v = d.get(key)
        if v not in (None, "") and (not isinstance(v, str) or not _LABEL.fullmatch(v)):
            raise _damaged(name, f"'{key}' is not a name")
    created = d.get("created", "")
    if not isinstance(created, str) or not re.fullmatch(r"[0-9T:Z.+-]{0,40}", created):
        raise _damaged(name, "'created' is not a time")
    size = d.get("detector_size")
    if (not isinstance(size, list) or len(size) != 2 or not all(_is_int(v) for v in size)
            or not all(_DETECTOR_SIDE[0] <= v <= _DETECTOR_SIDE[1] for v in size)):
        raise _damaged(name, f"'detector_size' is not [width, height] in {_DETECTOR_SIDE[0]}..{_DETECTOR_SIDE[1]}")
    files = d.get("files")
    if not isinstance(files, list) or not 1 <= len(files) <= MAX_FILES:
        raise _damaged(name, f"'files' is not a list of 1..{MAX_FILES} files")
    total = 0
    for f in files:
        if (not isinstance(f, dict) or not isinstance(f.get("path"), str) or not _is_int(f.get("size"))
                or not isinstance(f.get("sha256"), str) or not _SHA256.fullmatch(f["sha256"])):
            raise _damaged(name, "a file entry is not {path, size, sha256}")
        if any(ord(c) < 0x20 or c in "\\[]" or 0x7f <= ord(c) <= 0x9f for c in f["path"]) or len(f["path"]) > 200:
            raise _damaged(name, "a file path has control characters, brackets or backslashes")
        if not 0 <= f["size"] <= MAX_FILE_BYTES:
            raise VerificationError(f"{name}: a file of {f['size']} bytes is listed (the limit is {MAX_FILE_BYTES >> 20} MiB "
                                    "per file): not a bundle of edgeface models; refusing it")
        total += f["size"]
    if total > MAX_TOTAL_BYTES:
        raise VerificationError(f"{name}: its files add up to {total} bytes (the limit is {MAX_TOTAL_BYTES >> 30} GiB): "
                                "not a bundle of edgeface models; refusing it")


def _safe_member(path: str, name: str) -> str:
    p = PurePosixPath(path)
    if p.is_absolute() or ".." in p.parts or not p.parts or path != p.as_posix() or path in (INDEX, INDEX_DIGEST):
        raise VerificationError(f"{name}: unsafe path '{path}' in the bundle: refusing it")
    return path


def bundle_files(precision: Precision, detector_size: tuple, regressor: str, root: Optional[Path],
                 detector_precision: Optional[Precision] = None) -> List[str]:
    """Cache-relative paths of what the runtime needs at `precision` (the detector at `detector_precision`
    when given), a one-line error if something is missing."""
    home = paths.home(root) if root is not None else paths.home()
    rel: List[str] = []
    det = detector_name(*detector_size)
    det_precision = detector_precision or precision
    for name, model, prec in ((regressor, regressor, precision), (det, "faceboxes", det_precision)):
        p = store.model_path(name, prec.variant, root)
        manifest = p.with_suffix(".json")
        if not p.is_file() or not manifest.is_file():
            raise MissingAssetError(f"{p.name} is not in the cache {p.parent}: run "
                                    f"{store.convert_command(model, prec, detector_size if model == 'faceboxes' else None)} first")
        rel += [str(p.relative_to(home)), str(manifest.relative_to(home))]
        head = (json.loads(manifest.read_text()).get("float_head") or {}).get("file")
        if head:
            rel.append(str((p.parent / head).relative_to(home)))
    # the still-image detector (photos at upstream's scale, runtime/still.py), when it is converted
    still = store.model_path(detector_name(*STILL_DETECTOR_SIZE), det_precision.variant, root)
    if tuple(detector_size) != STILL_DETECTOR_SIZE and still.is_file() and still.with_suffix(".json").is_file():
        rel += [str(still.relative_to(home)), str(still.with_suffix(".json").relative_to(home))]
    for asset in RUNTIME_ASSETS:
        p = paths.assets_dir(root) / asset
        if not p.is_file():
            raise MissingAssetError(f"{asset} is not in the cache {p.parent}: run `edgeface fetch`")
        rel.append(str(p.relative_to(home)))
    return [Path(r).as_posix() for r in rel]


def pack(out: Union[str, os.PathLike], precision: Union[str, Precision, None] = None, target: Optional[str] = None,
         detector_size: Optional[tuple] = None, regressor: str = "mb05", root: Optional[Path] = None) -> tuple:
    """Write a bundle to `out` (temp file, then rename). The target profile (`targets/*.toml`) gives the
    precision and detector size unless they are given. Returns (path, BundleInfo, sha256 of the bundle)."""
    prof = None
    if target is not None:
        prof = get_target(target)
    prec = Precision.parse(precision if precision is not None else (prof.precision if prof else Precision.INT8))
    # an explicit precision is for both networks; a profile may run its detector at another (rpi4: fp32)
    det_prec = Precision.parse(prof.detector_precision) if precision is None and prof and prof.detector_precision else prec
    size = tuple(detector_size or (prof.detector_size if prof else (640, 480)))
    home = paths.home(root) if root is not None else paths.home()
    files = []
    for rel in bundle_files(prec, size, check_regressor(regressor), root, det_prec):
        p = home / rel
        files.append({"path": rel, "size": p.stat().st_size, "sha256": sha256_file(p)})
    info = BundleInfo(precision=prec.value, target=target or "any", detector_size=size, regressor=regressor,
                      detector_precision=det_prec.value, files=tuple(files), edgeface=__version__, created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    out = Path(out).expanduser()
    index = json.dumps(info.to_dict(), indent=1).encode()
    try:
        with atomic_path(out) as tmp:
            with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
                for member, data in ((INDEX, index), (INDEX_DIGEST, hashlib.sha256(index).hexdigest().encode())):
                    ti = tarfile.TarInfo(member)
                    ti.size, ti.mtime, ti.mode = len(data), int(time.time()), 0o644
                    tar.addfile(ti, io.BytesIO(data))
                for f in files:
                    ti = tar.gettarinfo(str(home / f["path"]), arcname=f["path"])
                    ti.uid = ti.gid = 0
                    ti.uname = ti.gname = ""
                    with open(home / f["path"], "rb") as fh:
                        tar.addfile(ti, fh)
    except OSError as e:
        raise EdgefaceError(f"cannot write {out}: {e.strerror or e} (pick another -o path)") from None
    return out, info, sha256_file(out)


def _read_index(tar: tarfile.TarFile, name: str) -> BundleInfo:
    first = tar.next()
    if first is None or first.name != INDEX or not first.isfile() or first.size > MAX_INDEX_BYTES:
        raise VerificationError(f"{name} does not start with {INDEX}: not an edgeface bundle (make it with `edgeface pack`)")
    raw = tar.extractfile(first).read()
    second = tar.next()
    if second is None or second.name != INDEX_DIGEST or not second.isfile() or second.size > 128:
        raise VerificationError(f"{name} has no {INDEX_DIGEST} after {INDEX}: not an edgeface bundle, or truncated")
    if tar.extractfile(second).read().decode("ascii", "replace").strip() != hashlib.sha256(raw).hexdigest():
        raise VerificationError(f"{name}: {INDEX} (the digest list) does not match its sha256: the bundle was "
                                "altered or damaged; copy it again")
    try:
        d = json.loads(raw)
    except (ValueError, RecursionError):
        raise VerificationError(f"{name}: {INDEX} is damaged: copy the bundle again") from None
    return BundleInfo.from_dict(d, name)


def _check_room(info: BundleInfo, dest: Path, name: str) -> None:
    """The files fit the free space of the cache."""
    total = sum(f["size"] for f in info.files)
    free = shutil.disk_usage(dest).free
    if total > free:
        raise EdgefaceError(f"cannot unpack {name}: it needs {total >> 20} MiB and {dest} has {free >> 20} MiB free "
                            "(free some space or unpack elsewhere with --to)")


def _stage(tar: tarfile.TarFile, info: BundleInfo, staging: Path, name: str, bundle_size: int) -> None:
    """Every member into `staging`, checked against the digest list (sizes before a byte is written)."""
    wanted = {f["path"]: f for f in info.files}
    done = set()
    for i, m in enumerate(tar):
        if i < 2:  # bundle.json and its digest, read already
            continue
        path = _safe_member(m.name, name)
        if not m.isfile() or m.issparse():
            raise VerificationError(f"{name}: '{path}' is not a regular file (a link, device, FIFO or sparse "
                                    "file): refusing the bundle")
        f = wanted.get(path)
        if f is None or path in done:
            raise VerificationError(f"{name}: '{path}' is not in its digest list: the bundle was altered")
        if m.size != f["size"]:
            raise VerificationError(f"{name}: '{path}' is {m.size} bytes in the archive but {f['size']} in its digest "
                                    "list: the bundle was altered; refusing it")
        if m.offset_data + m.size > bundle_size:  # an uncompressed tar holds every byte it unpacks to
            raise VerificationError(f"{name} is truncated: {path} needs {m.size} bytes and the bundle ends before "
                                    "them; copy it again")
        dest = staging / path
        dest.parent.mkdir(parents=True, exist_ok=True)
        h, size = hashlib.sha256(), 0
        src = tar.extractfile(m)
        with open(dest, "wb") as fh:
            for block in iter(lambda: src.read(min(CHUNK, f["size"] + 1 - size)), b""):
                h.update(block)
                size += len(block)
                fh.write(block)
        if size != f["size"]:
            raise VerificationError(f"{name} is truncated: {path} has {size} of {f['size']} bytes; copy it again")
        if h.hexdigest() != f["sha256"]:
            raise VerificationError(f"{name}: {path} does not match its sha256: the bundle was altered or damaged; "
                                    "copy it again (or pack a new one)")
        done.add(path)
    missing = sorted(set(wanted) - done)
    if missing:
        raise VerificationError(f"{name} is truncated: {len(missing)} files missing ({missing[0]}, ...); copy it again")


def unpack(bundle: Union[str, os.PathLike], dest: Optional[Union[str, os.PathLike]] = None,
           progress: Optional[Callable[[str], None]] = None) -> BundleInfo:
    """Verify every file of `bundle` and then put them into the model cache `dest` (default $EDGEFACE_HOME)."""
    bundle = Path(bundle).expanduser()
    name = bundle.name
    if not bundle.is_file():
        raise MissingAssetError(f"bundle {bundle} does not exist: copy it from the workstation (`edgeface pack`)")
    dest = Path(dest).expanduser() if dest is not None else paths.home()
    created = [p for p in (dest, *dest.parents) if not p.exists()]  # folders to remove again on failure
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise EdgefaceError(f"cannot unpack {name} into {dest}: {e.strerror or e} (pick another folder with --to)") from None
    staging = Path(tempfile.mkdtemp(prefix=".bundle-", dir=dest))
    ok = False
    try:
        try:
            with tarfile.open(bundle, "r:") as tar:
                info = _read_index(tar, name)
                _check_room(info, dest, name)
                _stage(tar, info, staging, name, bundle.stat().st_size)
        except (tarfile.TarError, EOFError, OSError) as e:
            if isinstance(e, OSError) and not isinstance(e, EOFError) and e.errno is not None:
                raise EdgefaceError(f"cannot unpack {name} into {dest}: {e.strerror or e}") from None
            raise VerificationError(f"{name} is truncated or not a bundle ({e}): copy it again") from None
        (staging / INDEX).write_text(json.dumps(info.to_dict(), indent=1))
        _swap_in(staging, dest, [f["path"] for f in info.files] + [INDEX], name, progress)
        ok = True
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        for p in ([] if ok else created):  # innermost first: only the folders this call made, if still empty
            try:
                p.rmdir()
            except OSError:
                break
    return info


def _swap_in(staging: Path, dest: Path, rels: List[str], name: str,
             progress: Optional[Callable[[str], None]] = None) -> None:
    """Move the checked files from `staging` into `dest` (each a rename), keeping what each replaces in
    `staging/.replaced`; if any move fails, put everything back as it was."""
    backup = staging / ".replaced"
    moved: List[tuple] = []  # (rel, had an old file)
    try:
        for rel in rels:
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            old = target.is_file() or target.is_symlink()
            if old:
                (backup / rel).parent.mkdir(parents=True, exist_ok=True)
                os.replace(target, backup / rel)
            moved.append((rel, old))
            os.replace(staging / rel, target)
            if progress is not None and rel != INDEX:
                progress(rel)
    except OSError as e:
        for rel, old in reversed(moved):
            target = dest / rel
            try:
                if old:
                    os.replace(backup / rel, target)
                else:
                    target.unlink(missing_ok=True)
            except OSError:
                pass
        raise EdgefaceError(f"cannot unpack {name} into {dest}: {e.strerror or e}; the cache is as it was") from None


def verify_tree(root: Path, info: BundleInfo) -> bool:
    """Whether every file of `info` is in `root` with its size and sha256."""
    for f in info.files:
        p = root / f["path"]
        if not p.is_file() or p.stat().st_size != f["size"] or sha256_file(p) != f["sha256"]:
            return False
    return True


def open_for_run(bundle: Union[str, os.PathLike]) -> tuple:
    """(cache folder, BundleInfo) for `edgeface run --bundle`: the bundle unpacked (and verified) into
    `<cache>/bundles/<sha256 of the bundle>/`, re-checked file by file on every run."""
    bundle = Path(bundle).expanduser()
    if not bundle.is_file():
        raise MissingAssetError(f"bundle {bundle} does not exist: copy it from the workstation (`edgeface pack`)")
    root = paths.home() / "bundles" / sha256_file(bundle)[:16]
    index = root / INDEX
    if index.is_file():
        try:
            info = BundleInfo.from_dict(json.loads(index.read_text()), bundle.name)
            if verify_tree(root, info):
                return root, info
        except (ValueError, VerificationError):
            pass
    return root, unpack(bundle, root)
