"""User-facing errors: one line that names the problem and the fix."""

from __future__ import annotations


class EdgefaceError(Exception):
    """An error the CLI prints as a single line (no traceback) and exits with `exit_code`."""

    exit_code = 2

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class MissingAssetError(EdgefaceError):
    """A model or data file is not in the cache yet (run `edgeface fetch`)."""


class VerificationError(EdgefaceError):
    """A file or a converted model failed verification."""

    exit_code = 3
