"""Optimizer updates, compiled (Numba): Adam's three element-wise lines in one pass over the parameter, its
gradient and both moments. NumPy's version makes about a dozen passes over arrays of the parameter's size
(each operator one, with its temporary), and on AlexNet's 62 M parameters these passes took longer than the
forward and backward together. The arithmetic is the reference's, operation for operation, in the arrays' own
precision (the constants rounded to it first, as NumPy rounds a Python float against a float32 array), so the
results are the reference's bit for bit. Single-threaded and GIL-free: the backend splits the elements. The
loop is not vectorised, so NumPy stays faster on parameters small enough for its passes to run in cache: the
backend calls this from tuning.ADAM_COMPILED_MIN elements on."""
from __future__ import annotations

import numba
import numpy as np

from . import vectors  # noqa: F401  (first: the vector width the kernels below are compiled for)


@numba.njit(cache=True, nogil=True)
def adam_step(p, g, m, v, lr_t, one_minus_b1, one_minus_b2, eps, start, stop):
    """Elements start..stop-1 of the flat arrays: m <- m + (1 - b1)(g - m), v <- v + (1 - b2)(g g - v),
    p <- p - lr_t m / (sqrt(v) + eps); the scalars already in the arrays' dtype."""
    for i in range(start, stop):
        gi = g[i]
        mi = m[i] + one_minus_b1 * (gi - m[i])
        vi = v[i] + one_minus_b2 * (gi * gi - v[i])
        m[i] = mi
        v[i] = vi
        p[i] = p[i] - lr_t * mi / (np.sqrt(vi) + eps)
