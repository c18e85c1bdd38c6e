"""Scaling benchmark: fps and ms per frame vs faces in view, cores and regressor workers (`edgeface bench scaling`)."""
