"""`edgeface info`: what is in the model cache (`edgeface.hub.info`)."""

from __future__ import annotations

from edgeface.cli.consoles import out
from edgeface.hub.info import cache_table


def info_command():
    """What is in the cache: files, sizes, digests, licences, and what is missing."""
    out.print(cache_table())
