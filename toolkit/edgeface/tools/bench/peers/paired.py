"""Two or more peer systems timed as a pair: their timed passes taken in turn, one process each.

Systems that cannot share a process (this checkout and an earlier one: the same package names) run in
their own workers (`paired_worker.py`), all pinned to the same cores. Each builds its system and runs its
untimed warm-up pass; then the parent asks each in turn for one timed pass (the order reversed every other
round), so that a slow spell of a shared machine falls on all of them alike and their ratio does not carry the
drift between two runs made one after the other. A worker that fails is reported with its one line; the
others go on.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from edgeface.tools.bench.peers.timing import summarize

WORKER = Path(__file__).resolve().parent / "paired_worker.py"


def paired_command(frames_file: Path, module: str, args: List[str]) -> List[str]:
    """The command line of a paired worker running `module`'s `_build(args)` on the frames of `frames_file`."""
    return [sys.executable, str(WORKER), "--frames", str(frames_file), "--module", module, "--", *args]


def pinned_to(cpus: List[int]):
    """A `preexec_fn` that pins the child process to `cpus` before it runs (what `taskset -c` does)."""
    def pin():
        os.sched_setaffinity(0, cpus)
    return pin


class _Worker:
    def __init__(self, cmd: List[str], env: Optional[dict], cpus: List[int]):
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True,
                                     bufsize=1, env=env, preexec_fn=pinned_to(cpus))

    def ask(self, request: Optional[str], timeout_s: float) -> dict:
        """Send `request` (None: nothing, wait for the next answer) and read the worker's one-line answer."""
        try:
            if request is not None:
                self.proc.stdin.write(request + "\n")
                self.proc.stdin.flush()
            ready, _, _ = select.select([self.proc.stdout], [], [], timeout_s)
            line = self.proc.stdout.readline() if ready else None
        except (BrokenPipeError, OSError):
            line = ""
        if line is None:
            return {"error": f"no answer within {timeout_s:.0f} s"}
        if not line:
            return {"error": self._last_words()}
        return json.loads(line)

    def _last_words(self) -> str:
        """Why the worker stopped answering: its exit code and the last line it wrote to stderr."""
        try:
            code = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            return "closed its answers' channel but did not exit"
        self.log.seek(0)
        lines = self.log.read().strip().splitlines()
        return f"the worker exited with code {code}" + (f" (its last output: {lines[-1]})" if lines else "")

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def run_paired(cmds: Dict[str, Tuple[List[str], Optional[dict]]], cpus: List[int], passes: int, frames: int,
               timeout_s: float) -> Dict[str, dict]:
    """{key: result} of the systems `cmds` ({key: (paired worker command, environment or None)}), all pinned to
    `cpus`, `passes` timed passes each taken in turn. A result is `timing.summarize`'s with the worker's info,
    `paired_with` (the other keys) and its per-pass fps in `pass_fps`; or {"error": "..."}."""
    workers = {key: _Worker(cmd, env, cpus) for key, (cmd, env) in cmds.items()}
    out: Dict[str, dict] = {}
    got: Dict[str, dict] = {key: {"pass_fps": [], "per_frame": [], "faces": 0} for key in cmds}
    try:
        for key, w in workers.items():  # each builds and warms up (not timed)
            ans = w.ask(None, timeout_s)
            if "ready" in ans:
                got[key]["info"] = ans.get("info") or {}
            else:
                out[key] = {"error": ans.get("error", "no ready answer")}
        for r in range(max(1, int(passes))):
            order = [k for k in cmds if k not in out]
            for key in (order if r % 2 == 0 else order[::-1]):
                ans = workers[key].ask("pass", timeout_s)
                if "fps" not in ans:
                    out[key] = {"error": ans.get("error", "no pass answer")}
                    continue
                g = got[key]
                g["pass_fps"].append(ans["fps"])
                g["per_frame"].extend(ans["per_frame"])
                g["faces"] += int(ans["faces"])
    finally:
        for w in workers.values():
            w.close()
    for key, g in got.items():
        if key in out:
            continue
        res = summarize(g["pass_fps"], g["per_frame"], g["faces"], frames)
        res.update(g.get("info", {}))
        res["paired_with"] = [k for k in cmds if k != key]
        out[key] = res
    return {key: out[key] for key in cmds}


__all__ = ("paired_command", "pinned_to", "run_paired")
