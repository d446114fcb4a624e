"""XNOR-popcount products for packed binary networks (deepnet/binary_inference.py), compiled (Numba)."""
from __future__ import annotations

import numba
import numpy as np

from . import vectors  # noqa: F401  (first: the vector width the kernels below are compiled for)

_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)
_H01 = np.uint64(0x0101010101010101)


@numba.njit(cache=True, nogil=True)
def _popcount(v):
    # the classic bit-count; LLVM recognises it and emits the CPU's popcnt instruction
    v = v - ((v >> np.uint64(1)) & _M1)
    v = (v & _M2) + ((v >> np.uint64(2)) & _M2)
    v = (v + (v >> np.uint64(4))) & _M4
    return (v * _H01) >> np.uint64(56)


@numba.njit(cache=True, nogil=True)
def xnor_dot(a, w, k, out):
    """out[m, o] = k - 2 * popcount(a[m] XOR w[o]) for rows of packed bits in 64-bit words."""
    for m in range(a.shape[0]):
        for o in range(w.shape[0]):
            s = np.uint64(0)
            for j in range(a.shape[1]):
                s += _popcount(a[m, j] ^ w[o, j])
            out[m, o] = k - 2 * np.int64(s)
