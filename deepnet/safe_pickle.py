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

from .errors import UserError


class UnreadablePickle(UserError, pickle.UnpicklingError):
    """The file is not a pickle, or a damaged one."""


class UnsafePickleError(UnreadablePickle):
    """The pickle names something other than NumPy's array reconstruction, or is built to exhaust the reader."""


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


#: Containers nested deeper, or more objects in all, than any array file holds: refused.
MAX_DEPTH = 100
MAX_OBJECTS = 1_000_000


def loads(data: bytes, source: str = "<bytes>"):
    """Unpickle `data` (Python 2 pickles included) admitting only NumPy arrays and plain containers."""
    try:
        obj = NumpyOnlyUnpickler(io.BytesIO(data), encoding="latin1").load()
    except UnsafePickleError as exc:
        raise UnsafePickleError(f"{source}: {exc}") from None
    except Exception as exc:
        raise UnreadablePickle(f"{source}: not a readable pickle ({type(exc).__name__}: {exc})") from None
    _check_contents(obj, source)
    return obj


def _check_contents(root, source) -> None:
    """Refuse object arrays anywhere inside `root`, walking each container once (a pickle can share one
    list many times over: walking shared objects again doubles the work per level), without recursion,
    and within MAX_DEPTH levels and MAX_OBJECTS objects."""
    seen = set()
    stack = [(root, 0)]
    while stack:
        obj, depth = stack.pop()
        if isinstance(obj, np.ndarray):
            if obj.dtype.hasobject:
                raise UnsafePickleError(f"{source}: holds an array of dtype object; only numeric arrays are allowed")
            continue
        if not isinstance(obj, (dict, list, tuple, set, frozenset)) or id(obj) in seen:
            continue
        seen.add(id(obj))
        if depth >= MAX_DEPTH:
            raise UnsafePickleError(f"{source}: containers nested more than {MAX_DEPTH} levels deep; an array file "
                                    f"needs a few")
        if len(seen) > MAX_OBJECTS:
            raise UnsafePickleError(f"{source}: more than {MAX_OBJECTS:,} containers; an array file needs a few")
        children = obj.values() if isinstance(obj, dict) else obj
        stack.extend((child, depth + 1) for child in children)
