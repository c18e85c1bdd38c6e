"""Model manifests: the `Manifest` record, its schema, and checking a file against its recorded size and sha256.

A converted model `<name>_<variant>.tflite` has a manifest `<name>_<variant>.json` beside it
(a `Manifest` the converter, `edgeface convert`, fills and writes). The runtime trusts nothing it
has not checked:

- `read_manifest(model)` parses the JSON into a `Manifest`, which validates it against the schema
  below: every key the runtime reads must be there with the right type (a missing or mistyped key
  is one line naming the manifest, the key and the fix, not a `KeyError` later);
- `verify_file(path, size, sha256, fix)` compares a file's size, then its sha256, with the values
  recorded for it, before any interpreter or `np.load` opens it. A truncated or altered file is one
  `VerificationError` line naming the file and the fix.

`read_verified` returns the checked bytes, so that what the interpreter loads (`model_content`) is
exactly what was verified; the float head (`float_head.file`) is checked the same way.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Optional

from edgeface.errors import MissingAssetError, VerificationError
from edgeface.hub.atomic import sha256_file, write_json_atomic

MANIFEST_FORMAT = "edgeface-manifest/1"
DTYPES = ("uint8", "int8", "int16", "float16", "float32")
REFIX = "re-run `edgeface convert`, or copy the model and its .json again from the machine that converted it"

# key -> (type or tuple of types, required); nested specs are dicts, lists of specs are [spec]
_TENSOR = {"name": (str, True), "tflite_index": (int, True), "shape": (list, True), "dtype": (str, True),
           "quantization": (list, False)}
SCHEMA = {
    "format": (str, True),
    "file": (str, True),
    "sha256": (str, True),
    "size_bytes": (int, True),
    "kind": (str, False),
    "variant": (str, False),
    "input": (_TENSOR, True),
    "outputs": ([_TENSOR], True),
    "float_head": ({"file": (str, True), "sha256": (str, True), "input": (str, True), "output": (str, True)}, False),
}


def _type_name(t) -> str:
    if isinstance(t, dict):
        return "an object"
    if isinstance(t, list):
        return "a list of objects"
    return {str: "a string", int: "an integer", list: "a list"}.get(t, t.__name__)


def schema_errors(obj, schema: dict = SCHEMA, where: str = "") -> list:
    """Problems of `obj` against `schema`, as 'key: what is wrong' strings (empty: valid)."""
    if not isinstance(obj, dict):
        return [f"{where or 'manifest'}: expected an object"]
    errs = []
    for key, (kind, required) in schema.items():
        name = f"{where}.{key}" if where else key
        if key not in obj or obj[key] is None:
            if required:
                errs.append(f"'{name}' is missing")
            continue
        v = obj[key]
        if isinstance(kind, dict):
            errs += schema_errors(v, kind, name)
        elif isinstance(kind, list):
            if not isinstance(v, list) or not v:
                errs.append(f"'{name}' must be a non-empty list")
            else:
                for i, item in enumerate(v):
                    errs += schema_errors(item, kind[0], f"{name}[{i}]")
        elif not isinstance(v, kind) or (kind is int and isinstance(v, bool)):
            errs.append(f"'{name}' must be {_type_name(kind)}")
    if "dtype" in schema and isinstance(obj.get("dtype"), str) and obj["dtype"] not in DTYPES:
        errs.append(f"'{where}.dtype' {obj['dtype']!r} is not one of {', '.join(DTYPES)}")
    if "shape" in schema and isinstance(obj.get("shape"), list):
        if not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in obj["shape"]):
            errs.append(f"'{where}.shape' must hold positive integers")
    return errs


class InvalidManifest(VerificationError):
    """A manifest record that does not satisfy SCHEMA; `problems` lists every violation."""

    def __init__(self, problems: list):
        self.problems = list(problems)
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{problems[0]}{more}")


#: fields written as JSON null when unset (a float variant has no calibration); others are left out
_NULLABLE = ("calibration",)


@dataclass(frozen=True)
class Manifest:
    """The manifest of one converted model, field order = key order in the JSON file.

    Built by the converter (`tools.convert.variant_manifest`), read back by the runtime
    (`read_manifest`). Creating one validates it against SCHEMA (InvalidManifest otherwise):
    every key the runtime reads is there with the right type. The fields SCHEMA requires must be
    set, the others may be None; unset fields are left out of the JSON (except `calibration`,
    written as null), keys the class does not know are ignored when reading.
    """

    format: Optional[str] = None  # MANIFEST_FORMAT
    model: Optional[str] = None  # model card name: mb05 | mb1 | faceboxes
    name: Optional[str] = None  # file stem: mb05, faceboxes_640x480, ...
    kind: Optional[str] = None  # regressor | detector
    variant: Optional[str] = None  # float32 | float16 | int8 | int8_floatio
    file: Optional[str] = None  # the .tflite file's name
    sha256: Optional[str] = None
    size_bytes: Optional[int] = None
    total_bytes: Optional[int] = None  # with the float head, if any
    cache_key: Optional[str] = None
    source_onnx: Optional[dict] = None  # {path, sha256}: the graph converted
    reference_onnx: Optional[dict] = None  # {path, sha256}: the float original it was verified against
    preprocessing_in_graph: Optional[dict] = None
    converter: Optional[dict] = None  # tool, versions, quantization
    input: Optional[dict] = None  # a tensor record (_TENSOR)
    outputs: Optional[list] = None  # tensor records
    calibration: Optional[dict] = None  # INT8 variants: the calibration set used
    float_head: Optional[dict] = None  # regressors with the final FC layer in float
    detector: Optional[dict] = None  # detectors: input size, graph, letterbox pad
    verification: Optional[dict] = None  # the report of the verification on held-out data

    def __post_init__(self):
        problems = schema_errors(self.to_dict())
        if problems:
            raise InvalidManifest(problems)

    def to_dict(self) -> dict:
        """The JSON record: fields in order, unset ones left out (`calibration` written as null)."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) is not None or f.name in _NULLABLE}

    @classmethod
    def from_dict(cls, obj) -> "Manifest":
        """The manifest of a parsed JSON record (InvalidManifest if it is not a valid one)."""
        problems = schema_errors(obj)
        if problems:
            raise InvalidManifest(problems)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in obj.items() if k in known})

    @classmethod
    def read(cls, path: os.PathLike) -> "Manifest":
        """The manifest in the JSON file `path` (one-line error if absent, unreadable or invalid)."""
        path = Path(path)
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise VerificationError(f"manifest {path} is not valid JSON ({e}); {REFIX}") from None
        except OSError as e:
            raise VerificationError(f"cannot read manifest {path}: {e.strerror or e}; {REFIX}") from None
        try:
            return cls.from_dict(obj)
        except InvalidManifest as e:
            raise VerificationError(f"manifest {path} is not a valid edgeface manifest: {e}; {REFIX}") from None

    def write(self, path: os.PathLike) -> Path:
        """Write the JSON record to `path` atomically (2-space indent, key order kept)."""
        return write_json_atomic(path, self.to_dict())


def manifest_path(model_path: os.PathLike) -> Path:
    return Path(model_path).with_suffix(".json")


def read_manifest(model_path: os.PathLike) -> dict:
    """The validated manifest of a converted model as its JSON record (`Manifest.to_dict`); one-line
    error if absent, unreadable or invalid."""
    mp = manifest_path(model_path)
    if not mp.is_file():
        raise MissingAssetError(f"{Path(model_path).name} has no manifest {mp.name}; {REFIX}")
    return Manifest.read(mp).to_dict()


def _check_size(path: Path, size: Optional[int], fix: str) -> None:
    try:
        actual = path.stat().st_size
    except FileNotFoundError:
        raise MissingAssetError(f"{path} is missing; {fix}") from None
    except OSError as e:
        raise VerificationError(f"cannot read {path}: {e.strerror or e}; {fix}") from None
    if size is not None and actual != int(size):
        what = "truncated" if actual < int(size) else "larger than recorded"
        raise VerificationError(f"{path} is {what} ({actual} bytes, expected {int(size)}): "
                                f"an interrupted copy? {fix}")


def _check_digest(path: Path, got: str, sha256: str, fix: str) -> None:
    if got != sha256:
        raise VerificationError(f"{path} does not match its recorded sha256 ({got[:12]}... != {sha256[:12]}...): "
                                f"the file is damaged or was changed; {fix}")


def verify_file(path: os.PathLike, sha256: str, size: Optional[int] = None, fix: str = REFIX) -> Path:
    """Check `path` against its recorded size (when known), then its sha256 (streamed), before
    anything loads it."""
    path = Path(path)
    _check_size(path, size, fix)
    try:
        got = sha256_file(path)
    except OSError as e:
        raise VerificationError(f"cannot read {path}: {e.strerror or e}; {fix}") from None
    _check_digest(path, got, sha256, fix)
    return path


def read_verified(path: os.PathLike, sha256: str, size: Optional[int] = None, fix: str = REFIX) -> bytes:
    """The bytes of `path`, checked against its recorded size and sha256. Loading from these bytes
    (not from the path again) means what is loaded is exactly what was verified."""
    path = Path(path)
    _check_size(path, size, fix)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise VerificationError(f"cannot read {path}: {e.strerror or e}; {fix}") from None
    _check_digest(path, hashlib.sha256(data).hexdigest(), sha256, fix)
    return data


def model_manifest(model_path: os.PathLike, manifest: Optional[dict] = None) -> dict:
    """The manifest of `model_path`: read from disk and validated (and checked to describe this
    file), or `manifest` as given, validated."""
    model_path = Path(model_path)
    if manifest is None:
        m = read_manifest(model_path)
        if m["file"] != model_path.name:
            raise VerificationError(f"manifest {manifest_path(model_path).name} describes {m['file']}, not "
                                    f"{model_path.name}; {REFIX}")
        return m
    try:
        Manifest.from_dict(manifest)
    except InvalidManifest as e:
        raise VerificationError(f"manifest for {model_path.name} is invalid: {e.problems[0]}; {REFIX}") from None
    return manifest
