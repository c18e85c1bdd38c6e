"""`edgeface bench latency`: per-model and pipeline latency, size and accuracy cases, run in worker processes."""
