"""INT8 activation range specs: "minmax" or "percentile:Q" (the recipe's `[regressor] ranges`, `--ranges`).

Parsed by the calibration recipe (`calibrate.Recipe`) and the converter options
(`options.ConvertOptions`) so that a bad value fails before any work; the graph edit that
applies a percentile is in `ranges`.
"""

from __future__ import annotations

from typing import Optional

from edgeface.errors import EdgefaceError

MIN_PERCENTILE = 99.0  # tails are kept per crop: below this the kept share grows large


def parse_ranges(spec: Optional[str]) -> Optional[float]:
    """A ranges spec (recipe `[regressor] ranges`, `--ranges`): "minmax" -> None, "percentile:Q" -> Q (99..100)."""
    s = (spec or "minmax").strip().lower()
    if s == "minmax":
        return None
    if s.startswith("percentile:"):
        try:
            q = float(s.split(":", 1)[1])
        except ValueError:
            q = -1.0
        if MIN_PERCENTILE <= q < 100.0:
            return q
    raise EdgefaceError(f"INT8 activation ranges \"{spec}\" are neither \"minmax\" nor \"percentile:Q\" with "
                        f"{MIN_PERCENTILE:g} <= Q < 100: use e.g. --ranges percentile:99.99 (or ranges = ... under regressor in the calibration recipe)")
