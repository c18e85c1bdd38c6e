"""Benchmarks: latency, eval, peers, stability, soak (each a subpackage or module)."""
