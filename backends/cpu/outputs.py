"""Elementwise passes, compiled (Numba): ReLU each way (and after a residual block's sum), and the convolution's
output pass (bias, ReLU and 2x2 max-pooling folded in) with its mirror in backward. Single-threaded and
GIL-free."""
from __future__ import annotations

import numba

from . import vectors  # noqa: F401  (first: the vector width the kernels below are compiled for)
from .pooling import window

# --- ReLU in one pass each way ----------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True)
def relu(x, y):
    for i in range(x.size):
        v = x[i]
        y[i] = 0 if v <= 0 else v  # a NaN passes through, as in np.maximum (divergence must stay visible)


@numba.njit(cache=True, nogil=True)
def add_relu(a, b, y):
    for i in range(a.size):
        v = a[i] + b[i]
        y[i] = 0 if v <= 0 else v  # a NaN passes through, as in the ReLU layer


@numba.njit(cache=True, nogil=True)
def relu_backward(dout, y, dx):
    for i in range(dout.size):
        dx[i] = dout[i] if y[i] > 0 else 0


# --- a sum of many values, vectorized ---------------------------------------------------------------------
# A bias's gradient sums a channel's dy over the chunk's images and positions. Added one after another, each
# addition waits for the last (four cycles): 0.27 ms of DeepConvNet's first layer's 0.3 ms backward at batch 10.
# With its additions free to be reassociated LLVM runs several sums side by side in vectors; the order is then the
# compiler's, fixed for a given machine (as normalization.py's sums). Nothing else of fastmath: a NaN must reach
# the sum.
@numba.njit(cache=True, nogil=True, fastmath={"reassoc"})
def total(a):
    """The sum of the 1-D array a, in float64."""
    s = 0.0
    for k in range(a.size):
        s += a[k]
    return s


@numba.njit(cache=True, nogil=True)
def summed_transpose(sums, out):
    """out (O, K) = sums[0] + sums[1] + ... (each (K, O)), added in that order, transposed: the threads' dW^T
    sums of a convolution's backward made its dW. The sum is left in sums[0]. Rows of acc read in order, out
    written a column at a time: with O <= 64 the lines written stay in L1 (13 us for 576 x 64, NumPy's
    transposed copy 33; blocks of 16 x 16 took 24)."""
    parts, k_n, o_n = sums.shape
    acc = sums[0]
    for t in range(1, parts):
        part = sums[t]
        for k in range(k_n):
            for o in range(o_n):
                acc[k, o] += part[k, o]
    for k in range(k_n):
        for o in range(o_n):
            out[o, k] = acc[k, o]


# --- the convolution's output pass and its mirror in backward (backends/cpu/conv.py) -----------------------
# Forward: the chunk's product (O, n, P) becomes the layer's (n, O, P) output, the bias added and, when a
# ReLU follows the convolution, rectified in the same pass while the chunk is still in cache. Backward: the
# chunk's dout is transposed back to (O, n, P) and, for a fused ReLU, zeroed where the output was not
# positive (the ReLU's own backward) in that same copy.

@numba.njit(cache=True, nogil=True)
def bias_out(prod, b, relu, y):
    o, n, p = prod.shape
    for i in range(n):
        for c in range(o):
            bc = b[c]
            src = prod[c, i]
            dst = y[i, c]
            if relu:
                for k in range(p):
                    v = src[k] + bc
                    dst[k] = 0 if v <= 0 else v  # a NaN passes through, as in the ReLU layer
            else:
                for k in range(p):
                    dst[k] = src[k] + bc


@numba.njit(inline="always")
def rectified(v):
    """max(v, 0) of one value; a NaN passes through, as in the ReLU layer."""
    return 0 if v <= 0 else v


@numba.njit(cache=True, nogil=True)
def bias_relu_pool_out(prod, b, ow, y):
    """y (n, O, OH//2, OW//2) = 2x2/2 max-pooling of max(prod + b, 0), prod (O, n, OH*OW): the inference pass
    of a convolution, its ReLU and the pooling after them, with the convolution's output never written.
    The ReLU lets a NaN through and the window keeps the first NaN, as the layers one by one do. Each window's
    maximum is taken first (pooling.window), then the bias added and rectified once: the same value, since adding
    b (rounded) and the ReLU never change which value is largest, and a NaN stays NaN. With the ReLU on each of
    the four values the selects became branches, mispredicted on rectified data (21.5 against 2.0 ns an output,
    one thread, an AMD EPYC without AVX-512)."""
    o, n = prod.shape[0], prod.shape[1]
    ph, pw = y.shape[2], y.shape[3]  # an odd last row or column of the convolution's output is in no window
    for i in range(n):
        for c in range(o):
            bc = b[c]
            src = prod[c, i]
            dst = y[i, c]
            for py in range(ph):
                r0 = src[2 * py * ow :]
                r1 = src[(2 * py + 1) * ow :]
                out = dst[py]
                for px in range(pw):
                    out[px] = rectified(window(r0[2 * px], r0[2 * px + 1], r1[2 * px], r1[2 * px + 1])[0] + bc)


@numba.njit(cache=True, nogil=True)
def dout_rows(dy, y, relu, out):
    n, o, p = dy.shape
    for i in range(n):
        for c in range(o):
            src = dy[i, c]
            dst = out[c, i]
            if relu:
                yc = y[i, c]
                for k in range(p):
                    dst[k] = src[k] if yc[k] > 0 else 0
            else:
                for k in range(p):
                    dst[k] = src[k]
