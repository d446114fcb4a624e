"""Optimizer updates, compiled (Numba): Adam's three element-wise lines in one pass over the parameter, its
gradient and both moments. NumPy's version makes about a dozen passes over arrays of the parameter's size
(each operator one, with its temporary), and on AlexNet's 62 M parameters these passes took longer than the
forward and backward together. The arithmetic is the reference's, operation for operation, in the arrays' own
precision (the constants rounded to it first, as NumPy rounds a Python float against a float32 array), so the
results are the reference's bit for bit. Single-threaded and GIL-free: the backend splits the elements.
Compiled with NumPy's error model: a division by zero gives inf or NaN, as the reference's does, where Numba's
default (Python's) tests every divisor and raises, and that test kept LLVM from vectorizing the loop: it ran
at 2.8 ns an element, NumPy's dozen passes at 2.2, vectorized at 0.4 (123,000 float32 elements, DeepConvNet's
parameters in one array, one thread of a 2-core AMD EPYC without AVX-512; benchmarks/adam_step.py times each size)."""
from __future__ import annotations

import numba
import numpy as np

from . import vectors  # noqa: F401  (first: the vector width the kernels below are compiled for)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def adam_step(p, g, m, v, lr_t, one_minus_b1, one_minus_b2, eps, start, stop):
    """Elements start..stop-1 of the flat arrays: m <- m + (1 - b1)(g - m), v <- v + (1 - b2)(g g - v),
    p <- p - lr_t m / (sqrt(v) + eps); the scalars already in the arrays' dtype."""
    # views from start, and a loop from 0: indexed from start, the loop stayed scalar
    p, g, m, v = p[start:stop], g[start:stop], m[start:stop], v[start:stop]
    for i in range(p.size):
        gi = g[i]
        mi = m[i] + one_minus_b1 * (gi - m[i])
        vi = v[i] + one_minus_b2 * (gi * gi - v[i])
        m[i] = mi
        v[i] = vi
        p[i] = p[i] - lr_t * mi / (np.sqrt(vi) + eps)


#: Parameters a call of adam_steps takes (fewer are padded with empty arrays): one compiled signature per dtype.
SLOTS = 16


@numba.njit(cache=True, nogil=True, error_model="numpy")
def adam_steps(ps, gs, ms, vs, lr_t, one_minus_b1, one_minus_b2, eps):
    """adam_step on each (ps[k], gs[k], ms[k], vs[k]) of SLOTS flat arrays a tuple: a model's small parameters
    in one call, where one call each spent more in Python than in the update (DeepConvNet's 16: 171 against
    82 us a step, 123,000 elements)."""
    for k in range(len(ps)):
        adam_step(ps[k], gs[k], ms[k], vs[k], lr_t, one_minus_b1, one_minus_b2, eps, 0, ps[k].size)
