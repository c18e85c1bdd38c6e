"""edgeface.cli."""
