"""The TFLite runtime's own INFO lines, kept off the terminal unless asked for.

The C++ runtime writes `INFO: Created TensorFlow Lite XNNPACK delegate for CPU.` straight to file
descriptor 2 when the first interpreter allocates its tensors; Python's `sys.stderr` never sees it.
`native_info_filtered()` points fd 2 at a temporary file while an interpreter is created, puts fd 2
back, and writes back everything captured except the runtime's `INFO:` lines (warnings and errors, and
anything another thread printed meanwhile, still reach the terminal, only later). One lock serializes
the redirection: fd 2 belongs to the whole process.

The INFO lines pass through when the `edgeface.runtime` logger is enabled for INFO (`edgeface --verbose`,
or a program that configures logging at INFO).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import threading
from typing import Iterator

log = logging.getLogger("edgeface.runtime")

_FD_LOCK = threading.Lock()  # fd 2 is process-wide: one redirection at a time
NOISE_PREFIX = b"INFO: "


def filter_native(captured: bytes) -> bytes:
    """`captured` without the runtime's INFO lines."""
    return b"".join(line for line in captured.splitlines(keepends=True) if not line.startswith(NOISE_PREFIX))


@contextlib.contextmanager
def native_info_filtered() -> Iterator[None]:
    """Run the block with the native runtime's INFO lines on fd 2 dropped (kept when logging is at INFO)."""
    if log.isEnabledFor(logging.INFO):
        yield
        return
    with _FD_LOCK:
        try:
            saved = os.dup(2)
        except OSError:  # no fd 2 (a daemon without stderr): nothing to keep quiet
            yield
            return
        with tempfile.TemporaryFile() as tmp:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os.dup2(tmp.fileno(), 2)
            try:
                yield
            finally:
                with contextlib.suppress(Exception):
                    sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                tmp.seek(0)
                rest = filter_native(tmp.read())
                if rest:
                    with contextlib.suppress(OSError):
                        os.write(2, rest)
