"""The compiled CPU kernels (Numba, the `fast` extra), gathered for the backend under one name.

Each kernel lives in the module of its job: patches.py (im2col, col2im), pooling.py, outputs.py (ReLU and
the convolution's output pass), normalization.py (batch norm, with a fused ReLU; LRN), updates.py (Adam's step),
popcount.py (XNOR-popcount), spin.py (the threads' spin-wait), equality.py (whether two arrays are equal).
The plain NumPy code stays the reference and the fallback; these run only when Numba imports (pip install
'deepnet[fast]') and DEEPNET_NUMBA is not off.
Each kernel is single-threaded and releases the GIL (nogil): the backend's own threads (threads.py) call them
on separate chunks of the batch. (Numba's parallel=True was tried first: its threads and OpenBLAS's fought
over the two cores and a step got 45% slower.) Results equal the reference's, and are deterministic.
"""
from __future__ import annotations

import numba  # noqa: F401  (the version `deepnet info` reports; importing this module fails without Numba)
import numpy as np

from . import vectors  # noqa: F401  (first: the vector width the kernels below are compiled for)
from ..settings import switch
from .equality import equal  # noqa: F401
from .normalization import batch_norm, batch_norm_backward, lrn, lrn_backward  # noqa: F401
from .outputs import (add_relu, bias_out, bias_relu_pool_out, dout_rows, relu, relu_backward,  # noqa: F401
                      summed_transpose)
from .patches import col2im_rows, im2col_rows  # noqa: F401
from .pooling import max_pool_2x2, max_pool_2x2_backward, max_pool_backward  # noqa: F401
from .popcount import xnor_dot  # noqa: F401
from .spin import spin_while_equal  # noqa: F401
from .updates import SLOTS as ADAM_SLOTS, adam_step, adam_steps  # noqa: F401

ENABLED = switch("DEEPNET_NUMBA", default=True)


def usable(a) -> bool:
    """Compiled path for C-contiguous float32/float64 arrays while enabled; otherwise the NumPy reference."""
    return ENABLED and a.dtype in (np.float32, np.float64) and a.flags.c_contiguous
