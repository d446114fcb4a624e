"""Weight initialisers, drawn from the backend's seeded generator.

    he(fan_in)      std = sqrt(2 / fan_in)            for ReLU networks (He et al., 2015)
    xavier(fan_in)  std = sqrt(1 / fan_in)            the book's "Xavier" for sigmoid/tanh
    glorot(fan_in, fan_out)  std = sqrt(2 / (fan_in + fan_out))   Glorot & Bengio's form
"""
from __future__ import annotations

import contextlib
import contextvars
import math

import numpy as np

from .backends import current

# While set, initialisers hand out read-only placeholders that take no memory, so a model's parameter
# shapes can be listed (and checked against a file) before any weight is allocated.
_SHAPES_ONLY = contextvars.ContextVar("deepnet_shapes_only", default=False)


@contextlib.contextmanager
def shapes_only():
    """Inside the block, models build with zero-memory placeholder parameters (for checking shapes)."""
    token = _SHAPES_ONLY.set(True)
    try:
        yield
    finally:
        _SHAPES_ONLY.reset(token)


def _placeholder(shape, dtype):
    return np.broadcast_to(np.zeros((), dtype=dtype), shape)


def init_std(init, fan_in: int, fan_out: int) -> float:
    """The standard deviation for an initialiser name, or a number used as the std itself."""
    if isinstance(init, (int, float)) and not isinstance(init, bool):
        return float(init)
    name = str(init).lower()
    if name in ("he", "relu"):
        return math.sqrt(2.0 / fan_in)
    if name in ("xavier", "sigmoid", "tanh"):
        return math.sqrt(1.0 / fan_in)
    if name == "glorot":
        return math.sqrt(2.0 / (fan_in + fan_out))
    raise ValueError(f"unknown weight initialiser {init!r}; expected 'he', 'xavier', 'glorot' or a number (the std)")


def normal(shape, init, fan_in: int, fan_out: int, dtype):
    """Weights of `shape` drawn from N(0, std^2) in `dtype`, on the active backend."""
    if _SHAPES_ONLY.get():
        return _placeholder(shape, dtype)
    return current().rng.normal(shape, scale=init_std(init, fan_in, fan_out), dtype=dtype)


def zeros(shape, dtype):
    if _SHAPES_ONLY.get():
        return _placeholder(shape, dtype)
    return current().xp.zeros(shape, dtype=dtype)


def ones(shape, dtype):
    if _SHAPES_ONLY.get():
        return _placeholder(shape, dtype)
    return current().xp.ones(shape, dtype=dtype)
