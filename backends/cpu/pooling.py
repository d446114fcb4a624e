"""Max-pooling, compiled (Numba): the 2x2/stride-2 window forward and backward, and a backward for any
window. Single-threaded and GIL-free: the backend's threads split the batch among them."""
from __future__ import annotations

import numba
import numpy as np

from . import vectors  # (first: the vector width the kernels below are compiled for)

#: Bits of a vector: an output row of fewer values than a vector holds takes _max_pool_2x2_planes.
_BITS = vectors.register_bits()

# --- max-pooling -----------------------------------------------------------------------------------------
# The NumPy path makes KH*KW passes over strided views (a max, then the arg-max by comparison). A general
# one-pass kernel with bounds tests was no faster than that; the 2x2/stride-2 kernel below, unrolled, is
# faster (benchmarks/results/cpu_tuning.md).
# Ties keep the first maximum; a NaN counts as the maximum (the first one), as np.argmax does.

# The same nest over (image, channel, output pixel) as col2im_rows (patches.py), which the duplicates tool
# pairs by shape: here each window adds to one pixel, its first maximum, there to all of them.
@numba.njit(cache=True, nogil=True)
def max_pool_backward(dout, arg, kh, kw, stride, pad, dx):
    """dx[window's first maximum] += dout, window by window in a fixed order (deterministic)."""
    n, c, h, w = dx.shape
    oh, ow = dout.shape[2], dout.shape[3]
    dx[:] = 0
    for b in range(n):
        for ch in range(c):
            for oy in range(oh):
                for ox in range(ow):
                    k = arg[b, ch, oy, ox]
                    i = k // kw
                    j = k - i * kw
                    dx[b, ch, oy * stride + i - pad, ox * stride + j - pad] += dout[b, ch, oy, ox]


@numba.njit(inline="always")
def window(v0, v1, v2, v3):
    """(max, offset of the first maximum) of a 2x2 window's values in reading order: each pair, then the two
    pairs' winners, compared with selects, not branches, so that LLVM vectorizes a row (faster than a branch per
    read: benchmarks/results/cpu_tuning.md). The order of the comparisons keeps the reference's choice: the first
    maximum on ties, and the first NaN if any (x != x), so NaN propagates as np.max does."""
    first01 = v0 >= v1 or v0 != v0
    first23 = v2 >= v3 or v2 != v2
    m01 = v0 if first01 else v1
    m23 = v2 if first23 else v3
    top = m01 >= m23 or m01 != m01
    return (m01 if top else m23), ((0.0 if first01 else 1.0) if top else (2.0 if first23 else 3.0))


@numba.njit(cache=True, nogil=True)
def max_pool_2x2(x, y, arg, with_arg):
    """max_pool for the common 2x2 window, stride 2, no padding: the four reads unrolled, no bounds tests (the
    window's rule: window). With with_arg, each window's offset goes to arg a row at a time, chosen as a float64
    into a row buffer and narrowed after the row: choosing int8 values in the row's loop kept LLVM from
    vectorizing it for AVX2 (DeepConvNet's first pooling at batch 100, 16 x 28 x 28 inputs, one thread, an AMD
    EPYC: 4.80 ms, against 0.95 through the float64 row and 2.18 through an int32 one); without it the loop
    computes no offsets."""
    n, c = x.shape[0], x.shape[1]
    oh, ow = y.shape[2], y.shape[3]
    if with_arg and ow * x.itemsize * 8 < _BITS:
        _max_pool_2x2_planes(x, y, arg)
        return
    wide = np.empty(ow, np.float64)
    for b in range(n):
        for ch in range(c):
            for oy in range(oh):
                r0 = x[b, ch, 2 * oy]
                r1 = x[b, ch, 2 * oy + 1]
                yr = y[b, ch, oy]
                if with_arg:
                    for ox in range(ow):
                        yr[ox], wide[ox] = window(r0[2 * ox], r0[2 * ox + 1], r1[2 * ox], r1[2 * ox + 1])
                    ar = arg[b, ch, oy]
                    for ox in range(ow):
                        ar[ox] = np.int8(wide[ox])
                else:
                    for ox in range(ow):
                        yr[ox] = window(r0[2 * ox], r0[2 * ox + 1], r1[2 * ox], r1[2 * ox + 1])[0]


@numba.njit(cache=True, nogil=True)
def _max_pool_2x2_planes(x, y, arg):
    """max_pool_2x2 with the arg-max where an output row is shorter than a vector (DeepConvNet's last pooling, 4
    outputs a row): its loop never ran as vectors, and its selects became mispredicted branches. A plane's four
    window values are first copied out into four flat rows, then one loop runs over the plane's outputs; the offsets
    as floats of x's dtype, narrowed after (64 x 8 x 8 inputs, batch 10, one thread, an AMD EPYC without AVX-512:
    0.14 against 0.06 ms)."""
    n, c = x.shape[0], x.shape[1]
    oh, ow = y.shape[2], y.shape[3]
    q = oh * ow
    v = np.empty((5, q), x.dtype)  # the windows' four values, then their offsets
    for b in range(n):
        for ch in range(c):
            plane = x[b, ch]
            for oy in range(oh):
                r0 = plane[2 * oy]
                r1 = plane[2 * oy + 1]
                for ox in range(ow):
                    j = oy * ow + ox
                    v[0, j], v[1, j] = r0[2 * ox], r0[2 * ox + 1]
                    v[2, j], v[3, j] = r1[2 * ox], r1[2 * ox + 1]
            yf = y[b, ch].reshape(q)
            af = arg[b, ch].reshape(q)
            for j in range(q):
                yf[j], v[4, j] = window(v[0, j], v[1, j], v[2, j], v[3, j])
            for j in range(q):
                af[j] = np.int8(v[4, j])


@numba.njit(cache=True, nogil=True)
def max_pool_2x2_backward(dout, arg, dx):
    """dx for max_pool_2x2: each of a window's four cells gets dout where it held the maximum, else 0,
    written once (no zeroing pass, no scatter: faster than the general kernel, results/cpu_tuning.md). A last
    row or column that no window covered (odd sizes) is zeroed. Each row's int8 offsets are first copied out as
    floats of dx's dtype: compared as int8 against the float values, the row's loop stayed scalar; compared as
    floats it is vectorized, 3-4x faster (one thread, an AMD EPYC without AVX-512: DeepConvNet's first pooling
    at batch 100, 16 x 28 x 28, 2.87 against 0.76 ms; at batch 10 0.23 against 0.05)."""
    n, c, h, w = dx.shape
    oh, ow = dout.shape[2], dout.shape[3]
    wide = np.empty(ow, dx.dtype)
    for b in range(n):
        for ch in range(c):
            for oy in range(oh):
                d = dout[b, ch, oy]
                k = arg[b, ch, oy]
                for ox in range(ow):
                    wide[ox] = k[ox]
                r0 = dx[b, ch, 2 * oy]
                r1 = dx[b, ch, 2 * oy + 1]
                for ox in range(ow):
                    v, kk = d[ox], wide[ox]
                    r0[2 * ox] = v if kk == 0 else 0
                    r0[2 * ox + 1] = v if kk == 1 else 0
                    r1[2 * ox] = v if kk == 2 else 0
                    r1[2 * ox + 1] = v if kk == 3 else 0
                for xx in range(2 * ow, w):
                    r0[xx] = 0
                    r1[xx] = 0
            for yy in range(2 * oh, h):
                for xx in range(w):
                    dx[b, ch, yy, xx] = 0
