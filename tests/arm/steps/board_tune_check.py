"""Check step "board_tune" (tests/arm/steps/board_tune.sh): standalone, standard library only.

    python board_tune_check.py OUT

`edgeface tune --threads 1,2 --intervals 10,20 --workers 1,2` must have measured 2 stages x 2 threads x each
converted precision, 2 (or 4) pipeline runs and 1 and 2 regressor workers on the multi-face clip (the guests
have 2 cores), written local.toml whose choice is the one in local.json, and the
following `edgeface run` (target auto) must have used the local profile on 3 frames.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(out: Path) -> int:
    res = []
    m = json.loads((out / "local.json").read_text())
    stages = {(s["stage"], s["precision"], s["threads"]) for s in m["stages"]}
    precs = {s["precision"] for s in m["stages"]}
    res.append(("every stage x precision x thread count measured",
                len(stages) == 2 * 2 * len(precs) and all(s["median_ms"] > 0 for s in m["stages"]), f"{len(stages)} rows"))
    res.append(("pipeline runs at intervals 10 and 20", {p["interval"] for p in m["pipelines"]} == {10, 20}
                and all(p["fps"] > 0 for p in m["pipelines"]), f"{len(m['pipelines'])} runs"))
    toml = (out / "local.toml").read_text()
    prof = m["profile"]
    workers = m.get("workers", [])
    res.append(("regressor workers 1 and 2 measured on 4 faces, the choice written",
                sorted(w["workers"] for w in workers) == [1, 2] and all(w["fps"] > 0 and w["faces"] == 4 for w in workers)
                and f"regressor_workers = {prof.get('regressor_workers')}" in toml,
                f"{len(workers)} runs, chose {prof.get('regressor_workers')}"))
    res.append(("local.toml holds the choice of local.json", 'name = "local"' in toml
                and f"interval = {prof['detect_interval']}" in toml and f'precision = "{prof["precision"]}"' in toml,
                f"interval {prof['detect_interval']}, {prof['precision']}"))
    run = (out / "run.txt").read_text()
    frames = (out / "after_tune.json").read_text().splitlines()
    res.append(("edgeface run --target auto took the local profile", "target local (local profile from `edgeface tune`" in run
                and len(frames) == 3, run.splitlines()[0][:160] if run else ""))
    for what, ok, found in res:
        print(f"{'ok  ' if ok else 'FAIL'} {what}  [{found}]")
    return 0 if all(ok for _, ok, _ in res) else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
