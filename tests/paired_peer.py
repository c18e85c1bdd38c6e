"""A peer system for tests/test_paired_timing.py: `_build([KIND])` as the peer worker modules have it.

KIND `sum` sums each frame's pixels (1 face a frame); `fail` fails while building; `die` exits the worker
process on its first timed pass (after the warm-up pass's reset, the second)."""

import os


def _build(extra):
    kind = extra[0] if extra else "sum"
    if kind == "fail":
        raise RuntimeError("this system cannot start: model file missing (a test)")
    state = {"resets": 0}

    def reset():
        state["resets"] += 1

    def process(frame):
        if kind == "die" and state["resets"] > 1:
            os._exit(3)
        int(frame.sum())
        print("a library writing to stdout")  # must not reach the answers' channel
        return 1

    return process, reset, {"runtime": f"test {kind}"}
