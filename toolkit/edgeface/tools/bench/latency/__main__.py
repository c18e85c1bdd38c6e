"""`python -m edgeface.tools.bench.latency --worker JOB.json OUT.json`: the benchmark worker process (internal;
`edgeface bench latency` starts it for every isolated case, see `latency/workers.py`)."""

from __future__ import annotations

import sys

from edgeface.tools.bench.latency.workers import worker_main

if len(sys.argv) == 4 and sys.argv[1] == "--worker":
    sys.exit(worker_main(sys.argv[2], sys.argv[3]))
print("usage: python -m edgeface.tools.bench.latency --worker JOB.json OUT.json (internal; use `edgeface bench latency`)", file=sys.stderr)
sys.exit(2)
