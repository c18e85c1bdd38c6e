"""Motion benchmark: a virtual camera moving over composites of the sample photos (`edgeface bench motion`)."""
