"""edgeface.tools.convert."""
