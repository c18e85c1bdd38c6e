"""The TOML files edgeface ships as package data: model cards (`edgeface.cards`), target profiles
(`edgeface.targets`) and calibration recipes (`edgeface.recipes`), and the one `tomllib` import
(`tomli` before Python 3.11) for every TOML edgeface reads."""

from __future__ import annotations

import sys
from importlib import resources
from typing import Any, Callable, Dict, Iterable, List

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TOMLDecodeError = tomllib.TOMLDecodeError


def loads(text: str) -> dict:
    """Parse TOML text (raises `TOMLDecodeError`)."""
    return tomllib.loads(text)


def read_toml(package: str, name: str) -> dict:
    """The table of one packaged TOML file, e.g. `read_toml("edgeface.cards", "repos.toml")`."""
    return tomllib.loads(resources.files(package).joinpath(name).read_text(encoding="utf-8"))


def read_tomls(package: str, exclude: Iterable[str] = ()) -> List[dict]:
    """The tables of every `*.toml` file of a package (but those named in `exclude`), in file-name order."""
    skip = set(exclude)
    return [tomllib.loads(entry.read_text(encoding="utf-8"))
            for entry in sorted(resources.files(package).iterdir(), key=lambda p: p.name)
            if entry.name.endswith(".toml") and entry.name not in skip]


def load_named(package: str, parse: Callable[[dict], Any], exclude: Iterable[str] = ()) -> Dict[str, Any]:
    """`parse(table)` of every packaged TOML file (file-name order), keyed by the result's `.name`."""
    items = [parse(table) for table in read_tomls(package, exclude)]
    return {item.name: item for item in items}
