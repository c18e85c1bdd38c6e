"""edgeface.bench."""
