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
"""

from __future__ import annotations

import hashlib
import io
import json
import os
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
    except ValueError:
        raise VerificationError(f"{name}: {INDEX} is damaged: copy the bundle again") from None
    return BundleInfo.from_dict(d, name)


def _stage(tar: tarfile.TarFile, info: BundleInfo, staging: Path, name: str) -> None:
    """Every member into `staging`, checked against the digest list."""
    wanted = {f["path"]: f for f in info.files}
    done = set()
    for i, m in enumerate(tar):
        if i < 2:  # bundle.json and its digest, read already
            continue
        path = _safe_member(m.name, name)
        if not m.isfile():
            raise VerificationError(f"{name}: '{path}' is not a regular file (a link or device): refusing the bundle")
        f = wanted.get(path)
        if f is None or path in done:
            raise VerificationError(f"{name}: '{path}' is not in its digest list: the bundle was altered")
        dest = staging / path
        dest.parent.mkdir(parents=True, exist_ok=True)
        h, size = hashlib.sha256(), 0
        src = tar.extractfile(m)
        with open(dest, "wb") as fh:
            for block in iter(lambda: src.read(CHUNK), b""):
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
    dest.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".bundle-", dir=dest))
    try:
        try:
            with tarfile.open(bundle, "r:") as tar:
                info = _read_index(tar, name)
                _stage(tar, info, staging, name)
        except (tarfile.TarError, EOFError, OSError) as e:
            if isinstance(e, OSError) and not isinstance(e, EOFError) and e.errno is not None:
                raise EdgefaceError(f"cannot unpack {name} into {dest}: {e.strerror or e}") from None
            raise VerificationError(f"{name} is truncated or not a bundle ({e}): copy it again") from None
        for f in info.files:  # everything checked: now into place, file by file (each a rename)
            target = dest / f["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / f["path"], target)
            if progress is not None:
                progress(f["path"])
        (dest / INDEX).write_text(json.dumps(info.to_dict(), indent=1))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return info


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
