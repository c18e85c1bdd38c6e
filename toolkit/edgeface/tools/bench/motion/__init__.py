"""Motion benchmark: a virtual camera moving over composites of the sample photos (`python -m edgeface.tools.bench.motion`)."""
