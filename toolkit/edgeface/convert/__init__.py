"""edgeface.convert."""
