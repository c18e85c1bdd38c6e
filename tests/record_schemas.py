"""Checks a record against its published JSON Schema (`edgeface.records.schema`), for the tests that
write records (tests/test_records.py, tests/test_sinks.py, tests/test_fleet_mqtt.py)."""

from __future__ import annotations

from typing import Optional

import jsonschema

from edgeface import records


def validate(record: dict, kind: str, version: int = records.VERSION) -> None:
    """Raises jsonschema.ValidationError if `record` is not a valid `kind`/`version` record."""
    jsonschema.Draft202012Validator(records.schema(kind, version)).validate(record)


def undeclared(record, schema: dict, node: Optional[dict] = None, where: str = "") -> list:
    """Fields of `record` that `schema` does not declare (the schemas let readers ignore unknown fields;
    what edgeface writes itself must be documented): their paths."""
    node = schema if node is None else node
    if "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[1]]
    found = []
    if isinstance(record, dict) and "properties" in node:
        open_map = isinstance(node.get("additionalProperties"), dict)
        for key, value in record.items():
            if key in node["properties"]:
                found += undeclared(value, schema, node["properties"][key], f"{where}.{key}")
            elif not open_map:
                found.append(f"{where}.{key}")
    elif isinstance(record, list) and "items" in node:
        for i, value in enumerate(record):
            found += undeclared(value, schema, node["items"], f"{where}[{i}]")
    return found


def check(record: dict, kind: str, version: int = records.VERSION) -> None:
    """`record` is valid and holds only fields its schema declares (else AssertionError / ValidationError)."""
    validate(record, kind, version)
    extra = undeclared(record, records.schema(kind, version))
    assert not extra, f"fields that {records.tag(kind, version)} does not declare: {extra}"
