"""Load untrusted pickles (upstream .pkl files) without executing code.

Only numpy arrays, numpy dtypes/scalars and plain containers are admitted: any other global
named in the pickle stream (os.system, builtins.eval, ...) is refused before it is looked up.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

import numpy as np

from edgeface.errors import EdgefaceError


def _reconstruct(subtype, shape, dtype):
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError(f"refusing to build array subclass {subtype!r}")
    return np.ndarray.__new__(np.ndarray, shape, dtype)


def _scalar(dtype, data=None):
    try:  # numpy >= 2
        from numpy._core.multiarray import scalar
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import scalar
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise pickle.UnpicklingError("refusing a numpy scalar of object dtype")
    return scalar(dtype, data) if data is not None else scalar(dtype)


def _codecs_encode(obj, encoding="utf-8", errors="strict"):
    # Python 2 era pickles store bytes as latin-1 text passed through _codecs.encode.
    if not isinstance(obj, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8"):
        raise pickle.UnpicklingError("refusing _codecs.encode with unexpected arguments")
    return obj.encode(encoding, errors)


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.multiarray", "scalar"): _scalar,
    ("numpy._core.multiarray", "scalar"): _scalar,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _codecs_encode,
    ("collections", "OrderedDict"): dict,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"global '{module}.{name}' is not allowed") from None


def _check(obj: Any, where: str = "root") -> None:
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise pickle.UnpicklingError(f"object array at {where}")
    elif isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, (str, int, bytes)):
                raise pickle.UnpicklingError(f"non-plain key at {where}")
            _check(v, f"{where}[{k!r}]")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _check(v, f"{where}[{i}]")
    elif not isinstance(obj, (str, bytes, int, float, bool, type(None), np.generic, np.dtype)):
        raise pickle.UnpicklingError(f"unexpected {type(obj).__name__} at {where}")


def loads(data: bytes, name: str = "pickle") -> Any:
    """Unpickle `data` admitting only numpy arrays and plain containers."""
    try:
        obj = _RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
        _check(obj)
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as e:
        raise EdgefaceError(f"{name}: not a plain numpy pickle ({e}); refusing to load it") from None
    return obj


def load(path, name: str | None = None) -> Any:
    with open(path, "rb") as f:
        return loads(f.read(), name=name or str(path))
