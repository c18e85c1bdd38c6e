"""SIGTERM and SIGHUP stop a run exactly like Ctrl-C.

`systemctl stop` sends SIGTERM; closing an SSH session sends SIGHUP. Python's default for both is
to die on the spot, which loses a video being written (its index is written at close). Inside
`stop_on_signals()` they raise `StopSignal`, a `KeyboardInterrupt`, at the point the main thread is
at (or, inside `state.hold()`, at the end of that block: one frame's writes are never cut in two),
so the run loop ends the way it does for Ctrl-C: sinks closed, the video finalized, the summary
printed. SIGINT (Ctrl-C) is handled the same way. Further signals while the run is finishing are ignored (with a note), so finalizing is
not cut short; systemd's stop timeout (then SIGKILL) still bounds it.

Outside the main thread (a library user running the loop in a worker), signals cannot be
handled there, and this does nothing.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from typing import Iterator, Optional

log = logging.getLogger(__name__)

STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


class StopSignal(KeyboardInterrupt):
    """A stop request by signal (SIGTERM / SIGHUP); handled like Ctrl-C."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.name = signal.Signals(signum).name


class SignalState:
    """What `stop_on_signals` yields: the signals received, and whether the next one interrupts."""

    def __init__(self):
        self.received: list = []
        self.armed = True  # False once the run is finishing: signals are then only noted
        self.holding = False  # inside hold(): a stop waits for the end of the block
        self.pending: Optional[int] = None

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """A block a stop must not cut in two (one frame's writes to every sink): a signal that
        arrives inside it raises StopSignal when the block ends, not in the middle."""
        self.holding = True
        try:
            yield
        finally:
            self.holding = False
        if self.pending is not None:
            signum, self.pending = self.pending, None
            raise StopSignal(signum)

    @property
    def stopped_by(self) -> str:
        return self.received[0] if self.received else ""

    def finishing(self) -> None:
        self.armed = False


@contextlib.contextmanager
def stop_on_signals(signals=STOP_SIGNALS) -> Iterator[SignalState]:
    """Within the block, the first of `signals` raises StopSignal; later ones (or any once
    `state.finishing()` was called) are noted and ignored."""
    state = SignalState()
    if threading.current_thread() is not threading.main_thread():
        yield state
        return

    def handler(signum, _frame):
        name = signal.Signals(signum).name
        state.received.append(name)
        if state.armed:
            state.armed = False
            if state.holding:
                state.pending = signum
                return
            raise StopSignal(signum)
        log.warning("%s received while finishing the run: ignored", name)

    previous = {s: signal.signal(s, handler) for s in signals}
    try:
        yield state
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
