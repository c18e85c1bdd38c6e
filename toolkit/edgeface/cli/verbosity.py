"""`--verbose`: edgeface's INFO log lines on stderr, the TFLite runtime's own INFO lines among them
(`runtime.native_stderr` lets those through when the `edgeface` logger is at INFO)."""

from __future__ import annotations

import logging

HELP = "Log more (INFO), the TFLite runtime's own INFO lines included."


def verbose_logging() -> None:
    """The `edgeface` loggers at INFO, printed on stderr; other libraries stay at WARNING."""
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("edgeface").setLevel(logging.INFO)
