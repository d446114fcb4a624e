"""Reading pickles that hold only NumPy arrays, and refusing everything else.

Plain pickle.load runs whatever callables a file names, so a hostile file can run
code. This unpickler resolves only NumPy's array-reconstruction globals; any
other global (os.system, builtins.eval, a class) raises UnsafePickleError before
anything is called.
"""
from __future__ import annotations

import io
import pickle

import numpy as np


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names something other than NumPy's array reconstruction."""


def _allowed() -> dict:
    try:
        from numpy._core import multiarray as _ma, numeric as _num  # NumPy 2
    except ImportError:  # NumPy 1.x
        from numpy.core import multiarray as _ma, numeric as _num
    entries = {
        ("multiarray", "_reconstruct"): _ma._reconstruct,
        ("multiarray", "scalar"): _ma.scalar,
        ("numeric", "_frombuffer"): _num._frombuffer,
    }
    import _codecs

    # Protocol 2 pickles made by Python 3 store raw bytes as _codecs.encode(text, "latin1"):
    # a pure text-to-bytes function, so admitting it runs no code.
    table = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype, ("_codecs", "encode"): _codecs.encode}
    for prefix in ("numpy.core", "numpy._core"):
        for (mod, name), obj in entries.items():
            table[(f"{prefix}.{mod}", name)] = obj
    return table


class NumpyOnlyUnpickler(pickle.Unpickler):
    _table = None

    def find_class(self, module, name):
        if NumpyOnlyUnpickler._table is None:
            NumpyOnlyUnpickler._table = _allowed()
        try:
            return self._table[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refusing to load {module}.{name}: only NumPy arrays (and dicts, lists, tuples of them) are allowed"
            ) from None


def loads(data: bytes, source: str = "<bytes>"):
    """Unpickle `data` (Python 2 pickles included) admitting only NumPy arrays and plain containers."""
    try:
        obj = NumpyOnlyUnpickler(io.BytesIO(data), encoding="latin1").load()
    except UnsafePickleError as exc:
        raise UnsafePickleError(f"{source}: {exc}") from None
    except Exception as exc:
        raise pickle.UnpicklingError(f"{source}: not a readable pickle ({type(exc).__name__}: {exc})") from exc
    _reject_object_arrays(obj, source)
    return obj


def _reject_object_arrays(obj, source):
    if isinstance(obj, np.ndarray) and obj.dtype.hasobject:
        raise UnsafePickleError(f"{source}: holds an array of dtype object; only numeric arrays are allowed")
    if isinstance(obj, dict):
        for v in obj.values():
            _reject_object_arrays(v, source)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _reject_object_arrays(v, source)
