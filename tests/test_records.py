"""The versioned records (`edgeface.records`): the published JSON Schemas are valid and agree with each
other, every line `edgeface run --json` writes validates against `edgeface.frame/2` (and holds no field
the schema does not declare), and version-1 records (edgeface 0.1.0, untagged) read as version 2.
The MQTT and `collect` records are checked against their schemas in tests/test_fleet_mqtt.py."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from edgeface import records
from record_schemas import check, validate

SCHEMA_DIR = Path(records.__file__).resolve().parent / "schemas"
VERSIONS = range(records.OLDEST_READABLE, records.VERSION + 1)


# ---- the published schemas --------------------------------------------------------------------

def test_every_kind_and_readable_version_is_published_and_valid():
    expected = {records.schema_file_name(k, v) for k in records.KINDS for v in VERSIONS}
    assert {p.name for p in SCHEMA_DIR.glob("*.schema.json")} == expected
    for kind in records.KINDS:
        for version in VERSIONS:
            schema = records.schema(kind, version)
            jsonschema.Draft202012Validator.check_schema(schema)
            assert schema["title"] == records.tag(kind, version)
            if version == records.VERSION:
                assert schema["properties"]["schema"] == {"const": records.tag(kind)}
                assert "schema" in schema["required"]


def test_schemas_agree_with_each_other():
    """The frame's definitions are the same in the collected record and in version 1 (the schema files
    are self-contained, so this guards against one drifting)."""
    frame = records.schema(records.FRAME)
    for kind, version in [(records.COLLECTED, 2), (records.FRAME, 1), (records.COLLECTED, 1)]:
        other = records.schema(kind, version)
        assert other["$defs"] == frame["$defs"], (kind, version)
        for key in ("frame", "source", "time_ms", "faces"):
            assert other["properties"][key] == frame["properties"][key], (kind, version, key)


def test_unknown_versions_and_kinds_are_one_line_errors():
    with pytest.raises(records.RecordVersionError, match="newer than this edgeface reads.*upgrade edgeface"):
        records.upgrade({"schema": "edgeface.frame/3", "frame": 0}, records.FRAME)
    with pytest.raises(records.RecordVersionError, match="expected an edgeface.frame record"):
        records.upgrade({"schema": "edgeface.status/2", "state": "online"}, records.FRAME)
    with pytest.raises(records.RecordVersionError, match="not '<kind>/<version>'"):
        records.upgrade({"schema": "frame-two", "frame": 0}, records.FRAME)
    with pytest.raises(records.RecordVersionError, match="no published schema"):
        records.schema(records.FRAME, 9)


# ---- what `edgeface run --json` writes ---------------------------------------------------------

@pytest.fixture(scope="module")
def run_records(converted_home, tmp_path_factory) -> list:
    """JSONL lines of real runs: 30 frames of obama.mp4 (tracked frames too) and the three faces of
    emma with the dense mesh."""
    from edgeface.cli.main import main

    tmp = tmp_path_factory.mktemp("records")
    lines = []
    for name, extra in [("obama", ["--max-frames", "30"]), ("emma", ["--dense", "--save", str(tmp / "emma.jpg")])]:
        out = tmp / f"{name}.jsonl"
        try:
            main(["run", "--source", f"samples:{name}", "--precision", "int8", "--quiet", "--json", str(out), *extra])
        except SystemExit as e:
            assert e.code in (0, None), f"edgeface run {name} exited {e.code}"
        lines += [json.loads(x) for x in out.read_text().splitlines()]
    return lines


def test_every_run_json_line_validates(run_records):
    assert len(run_records) == 31
    assert any(r["faces"] for r in run_records)
    assert any("dense" in f for r in run_records for f in r["faces"])  # the optional fields are checked too
    for record in run_records:
        assert next(iter(record)) == "schema" and record["schema"] == "edgeface.frame/2"
        check(record, records.FRAME)


def test_version_1_records_read_as_version_2(run_records):
    """A version-1 record is today's without its tag (exactly what edgeface 0.1.0 wrote): it validates
    against frame-1, not frame-2, and `upgrade` makes it a valid version-2 record."""
    for record in run_records[:3]:
        old = {k: v for k, v in record.items() if k != "schema"}
        check(old, records.FRAME, 1)
        with pytest.raises(jsonschema.ValidationError):
            validate(old, records.FRAME, 2)
        with pytest.raises(jsonschema.ValidationError):
            validate(record, records.FRAME, 1)
        assert records.upgrade(old, records.FRAME) == record
        assert records.upgrade(record, records.FRAME) is record
        collected = records.collected_record("door-1", "20261201T081500-3fa2c1", record)
        check(collected, records.COLLECTED)
        assert records.upgrade({k: v for k, v in collected.items() if k != "schema"}, records.COLLECTED) == collected


def test_version_1_status_reads_as_version_2():
    """Status version 1 carried `time` in seconds and the package `version`; version 2 milliseconds."""
    old = {"state": "online", "board": "door-1", "time": 1764900000.123, "version": "0.1.0", "run": "r1",
           "target": "rpi4", "precision": "int8", "models": {"regressor_model": "mb05_int8.tflite"},
           "frames": 10, "fps": 9.5, "queued": 0, "dropped": 0, "sent": 10}
    check(old, records.STATUS, 1)
    new = records.upgrade(old, records.STATUS)
    check(new, records.STATUS)
    assert new["unix_time_ms"] == 1764900000123 and new["edgeface_version"] == "0.1.0"
    assert "time" not in new and "version" not in new
    will_v1 = {"state": "offline", "board": "door-1", "reason": "lost"}
    check(will_v1, records.STATUS, 1)
    assert records.upgrade(will_v1, records.STATUS) == records.status_record("offline", "door-1", reason="lost")
