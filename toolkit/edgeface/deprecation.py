"""The one way an old public name says it is going: a `DeprecationWarning` naming the new one.

Policy (CHANGELOG.md): an old name keeps working for one minor release after its replacement ships,
warning on every use, then it is removed. The shims that call this: `edgeface.io` (the modules of
the README before issue 21), `edgeface.aligner_options`, the flat `FaceAlignerOptions` fields that moved
to `BaseOptions` (`edgeface.options`), `timestamp_s` on `Frame` / `FrameResult`, and
`FaceAligner.wait_until_idle(timeout_s=...)`.
"""

from __future__ import annotations

import warnings

#: the release in which the deprecated names go
REMOVED_IN = "0.2"


def warn_renamed(old: str, new: str, stacklevel: int = 3) -> None:
    """Warn (DeprecationWarning) that `old` is deprecated in favour of `new`, attributed to the caller's
    caller (`stacklevel` 3: the code that used the old name through a helper that calls this)."""
    warnings.warn(f"{old} is deprecated and goes in edgeface {REMOVED_IN}: use {new}", DeprecationWarning,
                  stacklevel=stacklevel)
