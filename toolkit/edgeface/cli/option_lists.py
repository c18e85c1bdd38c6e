"""Repeatable, comma-separated option values (`--threads 1,2 --threads 4`)."""

from __future__ import annotations

from typing import List, Optional

from edgeface.errors import EdgefaceError


def split_values(values: Optional[List[str]]) -> Optional[List[str]]:
    """Every comma-separated part of every value, stripped; None when none was given."""
    if not values:
        return None
    return [p.strip() for v in values for p in v.split(",") if p.strip()]


def int_values(values: Optional[List[str]], option: str, example: str) -> Optional[List[int]]:
    """`split_values` as whole numbers; a usage error names the option and an example."""
    parts = split_values(values)
    if not parts:
        return None
    try:
        return [int(p) for p in parts]
    except ValueError:
        raise EdgefaceError(f"{option} takes whole numbers (e.g. {option} {example}), got {','.join(parts)}") from None


def thread_counts(values: Optional[List[str]]) -> Optional[List[int]]:
    """The `--threads` values."""
    return int_values(values, "--threads", "1,2,4")
