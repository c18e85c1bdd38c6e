"""edgeface.runtime."""
