"""edgeface.hub."""
