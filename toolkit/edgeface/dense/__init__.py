"""edgeface.dense."""
