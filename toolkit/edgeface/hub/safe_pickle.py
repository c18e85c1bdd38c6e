"""Load untrusted pickles (upstream .pkl files) without executing code.

Only numpy arrays, numpy dtypes/scalars and plain containers are admitted: any other global
named in the pickle stream (os.system, builtins.eval, ...) is refused before it is looked up.
Containers nested deeper than `MAX_DEPTH`, arrays larger than `MAX_ARRAY_BYTES`, and pickles that
would exhaust memory or the stack are refused with the same one line (never a RecursionError or
MemoryError).
"""

from __future__ import annotations

import io
import pickle
from typing import Any

import numpy as np

from edgeface.errors import EdgefaceError

#: the deepest nesting of lists / tuples / dicts admitted (upstream's pickles nest 2 deep)
MAX_DEPTH = 32
#: the largest array admitted (upstream's largest, the BFM basis, is about 150 MB)
MAX_ARRAY_BYTES = 1 << 30


def _reconstruct(subtype, shape, dtype):
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError(f"refusing to build array subclass {subtype!r}")
    _check_shape(shape, dtype)
    return np.ndarray.__new__(np.ndarray, shape, dtype)


def _check_shape(shape, dtype) -> None:
    dims = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    if not all(isinstance(d, int) and d >= 0 for d in dims):
        raise pickle.UnpicklingError(f"bad array shape {shape!r}")
    n = 1
    for d in dims:
        n *= d
    if n * np.dtype(dtype).itemsize > MAX_ARRAY_BYTES:
        raise pickle.UnpicklingError(f"an array of shape {dims} is larger than {MAX_ARRAY_BYTES >> 20} MiB")


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


def _check(obj: Any, where: str = "root", depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise pickle.UnpicklingError(f"containers nested more than {MAX_DEPTH} deep at {where[:80]}...")
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise pickle.UnpicklingError(f"object array at {where}")
    elif isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, (str, int, bytes)):
                raise pickle.UnpicklingError(f"non-plain key at {where}")
            _check(v, f"{where}[{k!r}]", depth + 1)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _check(v, f"{where}[{i}]", depth + 1)
    elif not isinstance(obj, (str, bytes, int, float, bool, type(None), np.generic, np.dtype)):
        raise pickle.UnpicklingError(f"unexpected {type(obj).__name__} at {where}")


def loads(data: bytes, name: str = "pickle") -> Any:
    """Unpickle `data` admitting only numpy arrays and plain containers."""
    try:
        obj = _RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
        _check(obj)
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as e:
        raise EdgefaceError(f"{name}: not a plain numpy pickle ({e}); refusing to load it") from None
    except (RecursionError, MemoryError, OverflowError) as e:
        kind = "nested too deeply" if isinstance(e, RecursionError) else "too large"
        raise EdgefaceError(f"{name}: not a plain numpy pickle (it is {kind}); refusing to load it") from None
    return obj


def load(path, name: str | None = None) -> Any:
    with open(path, "rb") as f:
        return loads(f.read(), name=name or str(path))
