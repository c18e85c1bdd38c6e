"""Deprecated (goes in edgeface 0.2): use `edgeface.LiveFeed` (`edgeface.app.live_feed`)."""

from edgeface.app.live_feed import LiveCounts, LiveFeed
from edgeface.deprecation import warn_renamed

warn_renamed("edgeface.io.live_feed", "edgeface.LiveFeed")

__all__ = ["LiveFeed", "LiveCounts"]
