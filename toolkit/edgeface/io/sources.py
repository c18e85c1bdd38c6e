"""Deprecated (goes in edgeface 0.2): use `edgeface.open_source` (`edgeface.sources.spec`)."""

from edgeface.deprecation import warn_renamed
from edgeface.sources.spec import open_source

warn_renamed("edgeface.io.sources", "edgeface.open_source")

__all__ = ["open_source"]
