"""The TOML files edgeface ships as package data: model cards (`edgeface.cards`), target profiles
(`edgeface.targets`) and calibration recipes (`edgeface.recipes`), and the one `tomllib` import
(`tomli` before Python 3.11) for every TOML edgeface reads."""

from __future__ import annotations

import sys
from importlib import resources
from typing import Any, Callable, Dict, Iterable, List

from edgeface.errors import EdgefaceError

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


def parse_file(text: str, label: str) -> dict:
    """The table of one TOML file's text; a damaged file is one EdgefaceError line naming it."""
    try:
        return tomllib.loads(text)
    except TOMLDecodeError as e:
        raise EdgefaceError(f"{label} is not valid TOML ({e}): restore it from the repository "
                            "(git checkout) or reinstall edgeface") from None


def read_tomls(package: str, exclude: Iterable[str] = ()) -> List[tuple]:
    """(file name, table) of every `*.toml` file of a package (but those named in `exclude`), in file-name order."""
    skip = set(exclude)
    return [(entry.name, parse_file(entry.read_text(encoding="utf-8"), f"{package} file {entry.name}"))
            for entry in sorted(resources.files(package).iterdir(), key=lambda p: p.name)
            if entry.name.endswith(".toml") and entry.name not in skip]


def parse_named(label: str, table: dict, parse: Callable[[dict], Any]) -> Any:
    """`parse(table)`, with a missing key or a wrong type reported as one line naming the file."""
    try:
        return parse(table)
    except EdgefaceError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        what = f"lacks {e.args[0]!r}" if isinstance(e, KeyError) else f"is malformed ({e})"
        raise EdgefaceError(f"{label} {what}: restore it from the repository (git checkout) or reinstall edgeface") from None


def load_named(package: str, parse: Callable[[dict], Any], exclude: Iterable[str] = ()) -> Dict[str, Any]:
    """`parse(table)` of every packaged TOML file (file-name order), keyed by the result's `.name`."""
    items = [parse_named(f"{package} file {name}", table, parse) for name, table in read_tomls(package, exclude)]
    return {item.name: item for item in items}
