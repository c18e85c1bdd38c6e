"""Deprecated (goes in edgeface 0.2): the modules of the README before the layout of issue 21.

`edgeface.io.sources.open_source` is now `edgeface.open_source` and `edgeface.io.live_feed.LiveFeed`
is `edgeface.LiveFeed`; importing these modules warns (DeprecationWarning) and gives the new objects.
Nothing in edgeface imports this package (pyproject's import-linter contract `no-shims`).
"""
