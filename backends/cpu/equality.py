"""Whether two arrays hold the same values, compiled (Numba): the check that lets inference keep what it derives
from the weights (backend.NumpyBackend.derived). NumPy's array_equal took 3-8 us an array, as long as folding a
batch norm into a convolution, the work the check saves."""
from __future__ import annotations

import numba

from . import vectors  # noqa: F401  (first: the vector width the kernels below are compiled for)


@numba.njit(cache=True, nogil=True)
def equal(a, b) -> bool:
    """a == b everywhere, for C-contiguous arrays of one size (a NaN is unequal to itself, as NumPy's)."""
    fa, fb = a.reshape(a.size), b.reshape(b.size)
    differ = False
    for i in range(fa.size):  # no early exit: the loop stays vectorised
        differ |= fa[i] != fb[i]
    return not differ
