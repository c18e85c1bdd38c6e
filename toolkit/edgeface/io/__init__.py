"""edgeface.io."""
