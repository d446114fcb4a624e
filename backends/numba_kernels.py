"""Optional compiled CPU kernels (Numba) for the NumPy backend: im2col and col2im as plain loops.

The plain NumPy code stays the reference and the fallback; these run only when Numba imports
(pip install 'deepnet[fast]') and DEEPNET_NUMBA is not 0. Each kernel is single-threaded and
releases the GIL (nogil): the backend's own threads (cpu_workers.py) call them on separate chunks
of the batch. (Numba's parallel=True was tried first: its threads and OpenBLAS's fought over the
two cores and a step got 45% slower.) Measured on the 2-core machine: the chunked convolution with
these kernels is about 1.4x the same code on plain NumPy (benchmarks/results/cpu_paths_*.json). Results
equal the reference's, and are deterministic.
"""
from __future__ import annotations

import numba
import numpy as np

from .settings import switch

ENABLED = switch("DEEPNET_NUMBA", default=True)


def usable(a) -> bool:
    """Compiled path for C-contiguous float32/float64 arrays while enabled; otherwise the NumPy reference."""
    return ENABLED and a.dtype in (np.float32, np.float64) and a.flags.c_contiguous


# --- patches in the layout col[c, i, j, b, y, x] ------------------------------------------------------
# The chunked convolution's layout (backends/cpu_conv.py): rows ordered (C, KH, KW) like
# W.reshape(O, -1), the images of a chunk side by side in each row, so one GEMM covers the chunk.
# Given the images as a (C, N, H, W) view instead, the same loops produce the reference layout
# (N, KH, KW, C, OH, OW) of base.Backend.im2col. Written as plain element loops with the bounds
# test inside: measured 4x faster than the same copy split into precomputed valid ranges.

@numba.njit(cache=True, nogil=True)
def im2col_rows(x, kh, kw, stride, pad, fill, col):
    n, c, h, w = x.shape
    oh, ow = col.shape[4], col.shape[5]
    for ch in range(c):
        for i in range(kh):
            for j in range(kw):
                for b in range(n):
                    for y in range(oh):
                        hy = y * stride + i - pad
                        if hy < 0 or hy >= h:
                            for xx in range(ow):
                                col[ch, i, j, b, y, xx] = fill
                        else:
                            for xx in range(ow):
                                wx = xx * stride + j - pad
                                if wx >= 0 and wx < w:
                                    col[ch, i, j, b, y, xx] = x[b, ch, hy, wx]
                                else:
                                    col[ch, i, j, b, y, xx] = fill
    return col


@numba.njit(cache=True, nogil=True)
def col2im_rows(col, stride, pad, img):
    c, kh, kw, n, oh, ow = col.shape
    h, w = img.shape[2], img.shape[3]
    img[:] = 0
    for b in range(n):
        for ch in range(c):
            for i in range(kh):
                for j in range(kw):
                    for y in range(oh):
                        hy = y * stride + i - pad
                        if hy < 0 or hy >= h:
                            continue
                        for xx in range(ow):
                            wx = xx * stride + j - pad
                            if wx >= 0 and wx < w:
                                img[b, ch, hy, wx] += col[ch, i, j, b, y, xx]
    return img

