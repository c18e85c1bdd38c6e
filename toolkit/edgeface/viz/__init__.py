"""edgeface.viz."""
