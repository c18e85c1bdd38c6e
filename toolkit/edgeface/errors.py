"""User-facing errors: one line that names the problem and the fix.

Every error edgeface raises on bad input is an `EdgefaceError` (the CLI prints it as one line and
exits with its `exit_code`). The subclasses are also the standard exception a library user would
catch for that kind of problem:

| class | also a | raised for |
| --- | --- | --- |
| `OptionsError` | `ValueError` | a bad option value (precision, size, running mode, timestamps...) |
| `MissingAssetError` | `FileNotFoundError` | a model or data file that is not in the cache, an input that does not exist |
| `RuntimeMissingError` | `ImportError` | no TFLite runtime (ai-edge-litert / tflite-runtime) installed |
| `VerificationError` | | a file or converted model that failed verification (exit code 3) |
"""

from __future__ import annotations


class EdgefaceError(Exception):
    """An error the CLI prints as a single line (no traceback) and exits with `exit_code`."""

    exit_code = 2

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class OptionsError(EdgefaceError, ValueError):
    """A bad option or argument value (also a `ValueError`)."""


class MissingAssetError(EdgefaceError, FileNotFoundError):
    """A model or data file is not in the cache yet (run `edgeface fetch` / `convert`); also a `FileNotFoundError`."""


class RuntimeMissingError(EdgefaceError, ImportError):
    """No TFLite runtime is installed (also an `ImportError`)."""


class VerificationError(EdgefaceError):
    """A file or a converted model failed verification."""

    exit_code = 3


def write_error(path: object, e: OSError, kept: str = "") -> EdgefaceError:
    """The one line for an output that cannot be written (`kept`: what is safe, e.g. '; the 12 frames
    done are in out.jsonl.part')."""
    import errno

    why = "the disk is full" if e.errno == errno.ENOSPC else (e.strerror or str(e))
    return EdgefaceError(f"cannot write {path}: {why} (free some space or pick another output path){kept}")
