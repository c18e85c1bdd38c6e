"""The records edgeface writes for other programs, each tagged with its kind and schema version.

Three kinds, each with a published JSON Schema (`schema(kind, version)`, the files in
`edgeface/schemas/`, documented in docs/reference/records.md):

- `edgeface.frame`: one line of `edgeface run --json`, and the payload of an MQTT `<prefix>/<board>/faces`
  message (the same record);
- `edgeface.status`: the retained MQTT `<prefix>/<board>/status` message (and the board's last will);
- `edgeface.collected`: one line of `edgeface collect --json` (a frame record with `board` and `run`).

Every record starts with `"schema": "<kind>/<version>"`, e.g. `"edgeface.frame/2"`. Version 1 is what
edgeface wrote before records were tagged (no `schema` field); `upgrade()` reads it, so a collector
reads boards one version behind it. A version newer than this edgeface knows is a `RecordVersionError`
(upgrade the reader first). Times in version 2 are milliseconds (`time_ms`: per-stage durations;
`unix_time_ms`: wall-clock instants, ms since the Unix epoch). Readers ignore fields they do not know:
a version adds optional fields without a new number, and changes the number when a field is renamed,
removed, or changes meaning or unit.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, Dict, Mapping, Optional, Tuple

from edgeface.errors import EdgefaceError
from edgeface.results import FrameResult

FRAME = "edgeface.frame"
STATUS = "edgeface.status"
COLLECTED = "edgeface.collected"
KINDS = (FRAME, STATUS, COLLECTED)
VERSION = 2  # the version this edgeface writes
OLDEST_READABLE = 1  # the oldest version `upgrade` reads

Record = Dict[str, Any]


class RecordVersionError(EdgefaceError):
    """A record of a kind or version this edgeface cannot read (e.g. from a newer board)."""


def tag(kind: str, version: int = VERSION) -> str:
    """The `schema` field of a record: `"<kind>/<version>"`, e.g. `tag(FRAME)` -> `"edgeface.frame/2"`."""
    if kind not in KINDS:
        raise ValueError(f"unknown record kind {kind!r}: one of {', '.join(KINDS)}")
    return f"{kind}/{int(version)}"


def parse_tag(obj: Mapping[str, Any]) -> Tuple[Optional[str], int]:
    """(kind, version) of a record: (None, 1) for an untagged (version 1) record.

    Raises RecordVersionError for a `schema` field that is not `<kind>/<integer>`."""
    value = obj.get("schema")
    if value is None:
        return None, 1
    kind, _, version = str(value).rpartition("/")
    if not kind or not version.isdigit():
        raise RecordVersionError(f"record schema {value!r} is not '<kind>/<version>' (e.g. {tag(FRAME)!r})")
    return kind, int(version)


# ---- writing (the current version) -------------------------------------------------------------

def frame_record(result: FrameResult, with_params: bool = True) -> Record:
    """The `edgeface.frame` record of one result: `FrameResult.to_dict()` tagged (and without the
    faces' 3DMM `params` when `with_params` is False)."""
    fields = result.to_dict()
    if not with_params:
        for face in fields.get("faces", []):
            face.pop("params", None)
    return {"schema": tag(FRAME), **fields}


def status_record(state: str, board: str, unix_time_ms: Optional[int] = None, **fields: Any) -> Record:
    """An `edgeface.status` record: `state` ("online" / "offline") of `board` at `unix_time_ms`
    (ms since the Unix epoch; omitted in the last will, which the broker sends later), then `fields`
    (run, figures: see the schema)."""
    if state not in ("online", "offline"):
        raise ValueError(f"status state {state!r}: 'online' or 'offline'")
    record: Record = {"schema": tag(STATUS), "state": state, "board": board}
    if unix_time_ms is not None:
        record["unix_time_ms"] = int(unix_time_ms)
    record.update(fields)
    return record


def collected_record(board: str, run: Optional[str], frame: Mapping[str, Any]) -> Record:
    """The `edgeface.collected` record of a current `edgeface.frame` record from `board`'s run `run`."""
    rest = {k: v for k, v in frame.items() if k != "schema"}
    return {"schema": tag(COLLECTED), "board": board, "run": run, **rest}


# ---- reading (this version and the previous one) -----------------------------------------------

def _status_from_v1(obj: Mapping[str, Any]) -> Record:
    """Version 1 status: `time` in seconds since the epoch and the package `version`."""
    fields = dict(obj)
    seconds = fields.pop("time", None)
    version = fields.pop("version", None)
    state, board = fields.pop("state", None), fields.pop("board", None)
    record: Record = {"schema": tag(STATUS), "state": state, "board": board}
    if seconds is not None:
        record["unix_time_ms"] = int(round(float(seconds) * 1000.0))
    if version is not None:
        record["edgeface_version"] = version
    record.update(fields)
    return record


def upgrade(obj: Any, kind: str) -> Record:
    """`obj` (a decoded JSON record expected to be of `kind`) as a record of the current version.

    Version 1 (untagged) records are converted (frames and collected records gain the tag; a status's
    `time` in s becomes `unix_time_ms`, its `version` `edgeface_version`); current ones are returned
    as they are. Raises RecordVersionError for another kind, a newer version or a non-object."""
    if kind not in KINDS:
        raise ValueError(f"unknown record kind {kind!r}: one of {', '.join(KINDS)}")
    if not isinstance(obj, dict):
        raise RecordVersionError(f"an {kind} record is a JSON object, not {type(obj).__name__}")
    found, version = parse_tag(obj)
    if found is not None and found != kind:
        raise RecordVersionError(f"expected an {kind} record, got {obj['schema']!r}")
    if version > VERSION:
        raise RecordVersionError(f"{tag(kind, version)} is newer than this edgeface reads ({tag(kind)} and "
                                 f"{tag(kind, OLDEST_READABLE)}): upgrade edgeface here")
    if version < OLDEST_READABLE:
        raise RecordVersionError(f"{tag(kind, version)} is too old for this edgeface (it reads "
                                 f"{tag(kind, OLDEST_READABLE)} and {tag(kind)})")
    if version == VERSION:
        return obj
    if kind == STATUS:
        return _status_from_v1(obj)
    return {"schema": tag(kind), **obj}


# ---- the published schemas -----------------------------------------------------------------

def schema_file_name(kind: str, version: int = VERSION) -> str:
    """The file name of a published schema, e.g. `frame-2.schema.json` (in `edgeface/schemas/`)."""
    tag(kind, version)
    return f"{kind.split('.', 1)[1]}-{int(version)}.schema.json"


def schema(kind: str, version: int = VERSION) -> Dict[str, Any]:
    """The published JSON Schema (draft 2020-12) of `kind` at `version`, read from the package data."""
    name = schema_file_name(kind, version)
    entry = resources.files("edgeface").joinpath("schemas").joinpath(name)
    if not entry.is_file():
        raise RecordVersionError(f"no published schema {name} (versions {OLDEST_READABLE}..{VERSION} are)")
    loaded: Dict[str, Any] = json.loads(entry.read_text(encoding="utf-8"))
    return loaded
