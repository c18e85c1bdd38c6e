"""Scaling benchmark: fps and ms per frame vs faces in view, cores and regressor workers (`python -m edgeface.tools.bench.scaling`)."""
