"""edgeface.boards."""
