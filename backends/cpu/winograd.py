"""Winograd's minimal filtering F(2x2, 3x3) for 3x3 stride-1 convolutions, compiled (Numba), one chunk of
images per call (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016, section 4.1).

The output is cut into 2x2 tiles; each tile reads a 4x4 window d of the padded input. With the transforms

    B^T = [1  0 -1  0]      G = [ 1    0    0 ]      A^T = [1  1  1  0]
          [0  1  1  0]          [1/2  1/2  1/2]            [0  1 -1 -1]
          [0 -1  1  0]          [1/2 -1/2  1/2]
          [0  1  0 -1]          [ 0    0    1 ]

a tile of output channel o is  Y = A^T [ sum_c (G g_oc G^T) . (B^T d_c B) ] A  (. elementwise): 16
multiply-adds per input channel for 4 outputs, where im2col's product spends 36. Summed over the channels,
each of the 16 elementwise positions is one matrix product, V[k] (tiles, C) times U[k]^T (C, O), run by
NumPy's BLAS (blas.py) while the chunk is in cache. The transforms are additions only (G's halves are
applied to the weights once a pass, in float64), so the float32 error stays near the direct product's
(tests/backends/test_winograd.py bounds it).

Backward's input gradient is the same convolution: dx = dy convolved with the weights turned 180 degrees,
input and output channels swapped, padded 2 - pad. The weight gradient stays an im2col product (conv.py).
"""
from __future__ import annotations

import math

import numba
import numpy as np

from . import vectors  # noqa: F401  (first: the vector width the kernels below are compiled for)
from .blas import gemm

#: the values of a tile's transformed window: one matrix product each
POSITIONS = 16
#: G of F(2x2, 3x3): the weight transform
G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])


def tiles(oh: int, ow: int) -> tuple[int, int]:
    """Tile rows and columns covering an (oh, ow) output: a last odd row or column gets half a tile."""
    return (oh + 1) // 2, (ow + 1) // 2


def weights(w, dtype) -> np.ndarray:
    """U: 16 blocks (k = 4 a + b) of (O, C), each skewed() apart in one flat array, = G g G^T of each (O, C,
    3, 3) filter g, in float64 then dtype."""
    o, c = w.shape[:2]
    u = np.empty(16 * skewed(c * o), dtype)
    _weights(np.ascontiguousarray(w).reshape(o, c, 9), u)
    return u


def gradient_weights(w, dtype) -> np.ndarray:
    """U for the input gradient: the filters turned 180 degrees, their input and output channels swapped."""
    return weights(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3), dtype)


@numba.njit(cache=True, nogil=True)
def _weights(w, u):
    """u[k * ks + o C + c] = (G g G^T)[a, b] of g = w[o, c] (9 values, row by row), k = 4 a + b, in float64.
    Each output channel's filters are first laid out tap by tap (g[tap, c]), so the transform is one loop over
    the input channels with every load and store contiguous, which vectorises (a filter at a time took 0.2 ms
    for 64 x 64 filters, this 0.05 ms). The 16 blocks are skewed() apart: a power of two apart (64 x 64
    channels) their stores evicted each other."""
    o_n, c_n = w.shape[0], w.shape[1]
    ks = u.size // 16
    g = np.empty((9, c_n))
    for o in range(o_n):
        for c in range(c_n):
            for tap in range(9):
                g[tap, c] = w[o, c, tap]
        f0 = o * c_n
        for c in range(c_n):
            g00, g01, g02, g10, g11, g12 = g[0, c], g[1, c], g[2, c], g[3, c], g[4, c], g[5, c]
            g20, g21, g22 = g[6, c], g[7, c], g[8, c]
            # G g: rows g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2
            h10, h11, h12 = 0.5 * (g00 + g10 + g20), 0.5 * (g01 + g11 + g21), 0.5 * (g02 + g12 + g22)
            h20, h21, h22 = 0.5 * (g00 - g10 + g20), 0.5 * (g01 - g11 + g21), 0.5 * (g02 - g12 + g22)
            # (G g) G^T: the same combination of each row's three columns
            f = f0 + c
            u[f], u[ks + f], u[2 * ks + f], u[3 * ks + f] = g00, 0.5 * (g00 + g01 + g02), 0.5 * (g00 - g01 + g02), g02
            u[4 * ks + f], u[5 * ks + f] = h10, 0.5 * (h10 + h11 + h12)
            u[6 * ks + f], u[7 * ks + f] = 0.5 * (h10 - h11 + h12), h12
            u[8 * ks + f], u[9 * ks + f] = h20, 0.5 * (h20 + h21 + h22)
            u[10 * ks + f], u[11 * ks + f] = 0.5 * (h20 - h21 + h22), h22
            u[12 * ks + f], u[13 * ks + f] = g20, 0.5 * (g20 + g21 + g22)
            u[14 * ks + f], u[15 * ks + f] = 0.5 * (g20 - g21 + g22), g22


def skewed(size: int) -> int:
    """The spacing of the 16 blocks of V or M in their flat scratch: at least `size`, and 64 bytes past a
    multiple of 4 KiB (in float32), so that the transforms' 16 streams fall in different cache sets. Spaced
    a power of two apart (DeepConvNet's 32 channels by 512 tiles), they evicted each other and the input
    transform ran 6x slower."""
    return -(-size // 1024) * 1024 + 16


# --- into and out of the scratch layout ------------------------------------------------------------------
# The transforms run on the channels innermost and the columns split by parity: xt[b, row, col % 2, col // 2,
# channel]. Then a window's rows, a tile row's B^T d rows and their even and odd columns are all contiguous
# runs, and every loop below is a long unit-stride loop over few arrays, which LLVM vectorises (with the
# channel loop innermost over 16-64 channels, or with 16 values a tile stored apart, it did not: 10 ns a tile
# and channel, as slow as the product saves).

@numba.njit(cache=True, nogil=True)
def _into(x, mask, masked, pad, xt):
    """xt (n, rows, S, cols, C) = x (n, C, H, W) shifted by pad, zero elsewhere, column j at (j % S, j // S)
    (S = 2 here, 4 for F(4x4, 3x3)); with masked, x where mask > 0 (a fused ReLU's gradient) and zero where
    not. Each column's offset in a row of xt is looked up, as in _out_of."""
    n, c, h, w = x.shape
    s, cols = xt.shape[2], xt.shape[3]
    row = s * cols * c
    offset = np.empty(w, np.int64)
    for xx in range(w):
        offset[xx] = (((xx + pad) % s) * cols + (xx + pad) // s) * c
    flat = _flat(xt)
    flat[:] = 0
    row_of = np.empty(w, x.dtype)
    for b in range(n):
        for ch in range(c):
            for yy in range(h):
                src = x[b, ch, yy]
                if masked:  # selected in a contiguous loop first, which vectorises: in the scatter below it
                    keep = mask[b, ch, yy]  # was a branch, mispredicted on half the values (8x slower)
                    for xx in range(w):
                        row_of[xx] = src[xx] if keep[xx] > 0 else 0
                    src = row_of
                base = (b * xt.shape[1] + yy + pad) * row + ch
                for xx in range(w):
                    flat[base + offset[xx]] = src[xx]


@numba.njit(cache=True, nogil=True)
def _out_of(yt, y, res, added):
    """y (n, O, OH, OW) = yt (n, rows, S, TW, O), column j at (j % S, j // S), rows and columns beyond y's
    cropped (S = 1: the columns in order, as the pooled output of F(2x2, 3x3) has them); with added, y =
    max(that + res, 0) (res y's shape: a residual block's sum and its ReLU, in this pass). Each column's
    offset in a row of yt is looked up: with rows of 2-4 tiles, loops over the phases and tiles ran 1.6x
    slower."""
    n, o, oh, ow = y.shape
    s, tw = yt.shape[2], yt.shape[3]
    row = s * tw * o
    offset = np.empty(ow, np.int64)
    for xx in range(ow):
        offset[xx] = ((xx % s) * tw + xx // s) * o
    flat = _flat(yt)
    for b in range(n):
        for c in range(o):
            for yy in range(oh):
                dst = y[b, c, yy]
                base = (b * yt.shape[1] + yy) * row + c
                if added:
                    r = res[b, c, yy]
                    for xx in range(ow):
                        v = flat[base + offset[xx]] + r[xx]
                        dst[xx] = 0 if v <= 0 else v  # a NaN passes, as in the ReLU layer
                else:
                    for xx in range(ow):
                        dst[xx] = flat[base + offset[xx]]


@numba.njit(cache=True, nogil=True)
def _flat(a):
    """A contiguous array's elements as a 1-D view."""
    return a.reshape(a.size)


def scratch(buffer, n: int, c: int, o: int, oh: int, ow: int, pool: bool, dtype) -> tuple:
    """conv_chunk's scratch (xt, rows, v, m, q, yt) for n images, from buffer(name, size, dtype) (a thread's
    own flat arrays, threads.Workers.buffer)."""
    th, tw = tiles(oh, ow)
    t = n * th * tw

    def get(name, shape):
        return buffer(name, math.prod(shape), dtype).reshape(shape)

    return (get("wg_xt", (n, 2 * th + 2, 2, tw + 1, c)), get("wg_rows", (4, 2 * (tw + 1) * c)),
            get("wg_v", (16 * skewed(t * c),)), get("wg_m", (16 * skewed(t * o),)), get("wg_q", (12, tw * o)),
            get("wg_yt", (n, th, 1, tw, o) if pool else (n, 2 * th, 2, tw, o)))


# --- the input transform: V = B^T d B of every tile ------------------------------------------------------
@numba.njit(cache=True, nogil=True)
def _minus(dst, a, b):
    for f in range(dst.size):
        dst[f] = a[f] - b[f]


@numba.njit(cache=True, nogil=True)
def _plus(dst, a, b):
    for f in range(dst.size):
        dst[f] = a[f] + b[f]


@numba.njit(cache=True, nogil=True)
def input_transform(xt, rows, v):
    """v: 16 blocks (k = 4 a + b) of (n*TH*TW, C), each skewed() apart, = B^T d B of each tile's 4x4 window d
    of xt (_into's layout), tiles numbered (image, row, column). Per tile row, rows (scratch (4, 2 (TW+1) C))
    takes the four rows of B^T d, still split by column parity; each of the 16 values is then one run over
    the row's tiles and channels."""
    n, hp, _, tw1, c = xt.shape
    th, tw = (hp - 2) // 2, tw1 - 1
    ks = v.size // 16
    run = tw * c  # a tile row's values of one position k
    half = tw1 * c  # the even columns, then the odd
    s0, s1, s2, s3 = rows[0], rows[1], rows[2], rows[3]
    for b in range(n):
        for ty in range(th):
            r0 = _flat(xt[b, 2 * ty])
            r1 = _flat(xt[b, 2 * ty + 1])
            r2 = _flat(xt[b, 2 * ty + 2])
            r3 = _flat(xt[b, 2 * ty + 3])
            _minus(s0, r0, r2)
            _plus(s1, r1, r2)
            _minus(s2, r2, r1)
            _minus(s3, r1, r3)
            t0 = (b * th + ty) * tw * c
            for a in range(4):
                s = rows[a]
                even, odd = s[:run], s[half : half + run]
                even2, odd2 = s[c : c + run], s[half + c : half + c + run]  # the next tile's columns 0 and 1
                k = 4 * a * ks + t0
                _minus(v[k : k + run], even, even2)
                _plus(v[k + ks : k + ks + run], odd, even2)
                _minus(v[k + 2 * ks : k + 2 * ks + run], even2, odd)
                _minus(v[k + 3 * ks : k + 3 * ks + run], odd, odd2)


# --- the output transform: Y = A^T M A of every tile, the bias, ReLU and pooling on the way out --------------
@numba.njit(cache=True, nogil=True)
def _sum3(dst, a, b, c):
    for f in range(dst.size):
        dst[f] = a[f] + b[f] + c[f]


@numba.njit(cache=True, nogil=True)
def _diff3(dst, a, b, c):
    for f in range(dst.size):
        dst[f] = a[f] - b[f] - c[f]


@numba.njit(cache=True, nogil=True)
def _finish(dst, a, b, c, sign, bias, relu):
    """dst = a + sign (b + c) + bias, rectified with relu (a NaN passes, as in the ReLU layer)."""
    for f in range(dst.size):
        y = a[f] + sign * (b[f] + c[f]) + bias[f]
        dst[f] = (0 if y <= 0 else y) if relu else y


@numba.njit(cache=True, nogil=True)
def _max4(dst, a, b, c, d):
    """dst = the max of a, b, c, d, pairwise, the first NaN kept (as max-pooling's window keeps it)."""
    for f in range(dst.size):
        m0 = a[f] if (a[f] >= b[f] or a[f] != a[f]) else b[f]
        m1 = c[f] if (c[f] >= d[f] or c[f] != c[f]) else d[f]
        dst[f] = m0 if (m0 >= m1 or m0 != m0) else m1


@numba.njit(cache=True, nogil=True)
def output_transform(m, bias_row, relu, pool, q, yq, yt):
    """yt (n, 2 TH, 2, TW, O) (_out_of's layout) = A^T M A + bias (rectified with relu) of each tile, m: 16
    blocks of (n*TH*TW, O) each skewed() apart, bias_row the bias repeated TW times; with pool, yt (n, TH, 1,
    TW, O) = each tile's maximum, its 2x2/2 max-pooling. Per tile row: q (scratch (8, TW O)) holds the rows of
    M A, yq (scratch (4, TW O)) the pooled rows' outputs."""
    n, o = yt.shape[0], yt.shape[4]
    tw = yt.shape[3]
    th = yt.shape[1] if pool else yt.shape[1] // 2
    ks = m.size // 16
    run = tw * o
    for b in range(n):
        for ty in range(th):
            t0 = (b * th + ty) * run
            for a in range(4):
                k = 4 * a * ks + t0
                m0, m1 = m[k : k + run], m[k + ks : k + ks + run]
                m2, m3 = m[k + 2 * ks : k + 2 * ks + run], m[k + 3 * ks : k + 3 * ks + run]
                _sum3(q[2 * a], m0, m1, m2)
                _diff3(q[2 * a + 1], m1, m2, m3)
            if pool:
                y00, y01, y10, y11 = yq[0], yq[1], yq[2], yq[3]
            else:
                y00, y01 = _flat(yt[b, 2 * ty, 0]), _flat(yt[b, 2 * ty, 1])
                y10, y11 = _flat(yt[b, 2 * ty + 1, 0]), _flat(yt[b, 2 * ty + 1, 1])
            _finish(y00, q[0], q[2], q[4], 1.0, bias_row, relu)  # Y row 0: M A's rows 0 + 1 + 2
            _finish(y01, q[1], q[3], q[5], 1.0, bias_row, relu)
            _finish(y10, q[2], q[4], q[6], -1.0, bias_row, relu)  # Y row 1: rows 1 - 2 - 3
            _finish(y11, q[3], q[5], q[7], -1.0, bias_row, relu)
            if pool:
                _max4(_flat(yt[b, ty, 0]), y00, y01, y10, y11)


@numba.njit(cache=True, nogil=True)
def conv_chunk(address, x, mask, masked, u, bias_row, pad, relu, pool, xt, rows, v, m, q, yt, y, res, added):
    """y = the 3x3 stride-1 convolution of the chunk's images x (n, C, H, W) with the transformed weights u
    (weights()), plus the bias (bias_row: repeated TW times), rectified with relu, pooled 2x2 with pool; x
    masked by mask > 0 with masked; with added, y = max(that + res, 0) instead (res y's shape). Scratch
    (scratch() makes it): xt, rows, v, m, q, yt."""
    _into(x, mask, masked, pad, xt)
    input_transform(xt, rows, v)
    c, o = x.shape[1], yt.shape[4]
    t = x.shape[0] * ((xt.shape[1] - 2) // 2) * (xt.shape[3] - 1)
    kv, km, ku = v.size // 16, m.size // 16, u.size // 16
    for k in range(16):  # M^T[k] (T, O) = V[k] (T, C) U[k]^T, U[k] (O, C)
        gemm(address, v[k * kv : k * kv + t * c].reshape((t, c)), u[k * ku : k * ku + o * c].reshape((o, c)),
             m[k * km : k * km + t * o].reshape((t, o)), 0.0, True)
    output_transform(m, bias_row, relu and not added, pool, q[:8], q[8:], yt)
    _out_of(yt, y, res, added)
