"""Winograd's minimal filtering F(4x4, 3x3) for 3x3 stride-1 convolutions, compiled (Numba), one chunk of
images per call (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016, section 4.2),
beside winograd.py's F(2x2, 3x3), whose layout and products it shares.

The output is cut into 4x4 tiles; each tile reads a 6x6 window d of the padded input. With the transforms of
the interpolation points 0, 1, -1, 2, -2 (and infinity)

    B^T = [4  0 -5  0  1  0]     G = [ 1/4    0     0  ]     A^T = [1  1  1  1  1  0]
          [0 -4 -4  1  1  0]         [-1/6  -1/6  -1/6 ]           [0  1 -1  2 -2  0]
          [0  4 -4 -1  1  0]         [-1/6   1/6  -1/6 ]           [0  1  1  4  4  0]
          [0 -2 -1  2  1  0]         [1/24  1/12  1/6  ]           [0  1 -1  8 -8  1]
          [0  2 -1 -2  1  0]         [1/24 -1/12  1/6  ]
          [0  4  0 -5  0  1]         [ 0     0     1   ]

a tile of output channel o is  Y = A^T [ sum_c (G g_oc G^T) . (B^T d_c B) ] A: 36 multiply-adds per input
channel for 16 outputs, where F(2x2, 3x3) spends 64 and im2col's product 144. Summed over the channels,
each of the 36 positions is one matrix product V[k] (tiles, C) times U[k]^T (C, O). The transforms have
factors up to 8 and G's weights are no longer exact in binary, so the float32 error grows: several times
im2col's (tests/backends/test_winograd.py bounds it), which is why the narrower F(2x2, 3x3) is kept beside it.

The input gradient is the same convolution of dy with the filters turned and transposed (winograd.py); the
weight gradient is this algorithm transposed, F(3x3, 4x4) (below, weight_gradient_chunk): with both, a
backward pass builds no patches at all.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from . import vectors  # noqa: F401  (first: the vector width the kernels below are compiled for)
from .blas import gemm
from .winograd import _flat, _into, _max4, _out_of, skewed

#: the values of a tile's transformed window: one matrix product each
POSITIONS = 36
B_T = np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0],
                [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], dtype=float)
#: G of F(4x4, 3x3): the weight transform
G = np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6],
              [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]])
A_T = np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]], dtype=float)


def tiles(oh: int, ow: int) -> tuple[int, int]:
    """Tile rows and columns covering an (oh, ow) output: the last row or column of tiles may be cut short."""
    return (oh + 3) // 4, (ow + 3) // 4


def weights(w, dtype) -> np.ndarray:
    """U: 36 blocks (k = 6 a + b) of (O, C), each skewed() apart in one flat array, = G g G^T of each (O, C,
    3, 3) filter g, in float64 then dtype."""
    o, c = w.shape[:2]
    u = np.empty(36 * skewed(c * o), dtype)
    _weights(np.ascontiguousarray(w).reshape(o, c, 9), u)
    return u


@numba.njit(cache=True, nogil=True, inline="always")
def _g(x0, x1, x2):
    """G (x0, x1, x2): six values (multiplied by the reciprocals: a division does not vectorise)."""
    sixth, twelfth, twenty_fourth = 1 / 6, 1 / 12, 1 / 24
    return (0.25 * x0, -sixth * (x0 + x1 + x2), -sixth * (x0 - x1 + x2), twenty_fourth * x0 + twelfth * x1 + sixth * x2,
            twenty_fourth * x0 - twelfth * x1 + sixth * x2, x2)


@numba.njit(cache=True, nogil=True, inline="always")
def _put(u, f, ks, r):
    """u[f + b ks] = r[b], b = 0 .. 5."""
    u[f], u[f + ks], u[f + 2 * ks], u[f + 3 * ks], u[f + 4 * ks], u[f + 5 * ks] = r


@numba.njit(cache=True, nogil=True)
def _weights(w, u):
    """u[k * ks + o C + c] = (G g G^T)[a, b] of g = w[o, c] (9 values, row by row), k = 6 a + b, in float64.
    As winograd._weights: each output channel's filters laid out tap by tap, then one loop over the input
    channels, all 36 values straight-line code, which vectorises (numpy.einsum took 0.5 ms for 64 x 64
    filters, a tenth of the layer)."""
    o_n, c_n = w.shape[0], w.shape[1]
    ks = u.size // 36
    g = np.empty((9, c_n))
    for o in range(o_n):
        for c in range(c_n):
            for tap in range(9):
                g[tap, c] = w[o, c, tap]
        f0 = o * c_n
        for c in range(c_n):
            h0 = _g(g[0, c], g[3, c], g[6, c])  # G g, column by column
            h1 = _g(g[1, c], g[4, c], g[7, c])
            h2 = _g(g[2, c], g[5, c], g[8, c])
            f = f0 + c
            _put(u, f, ks, _g(h0[0], h1[0], h2[0]))  # (G g) G^T, row by row
            _put(u, f + 6 * ks, ks, _g(h0[1], h1[1], h2[1]))
            _put(u, f + 12 * ks, ks, _g(h0[2], h1[2], h2[2]))
            _put(u, f + 18 * ks, ks, _g(h0[3], h1[3], h2[3]))
            _put(u, f + 24 * ks, ks, _g(h0[4], h1[4], h2[4]))
            _put(u, f + 30 * ks, ks, _g(h0[5], h1[5], h2[5]))


def gradient_weights(w, dtype) -> np.ndarray:
    """U for the input gradient: the filters turned 180 degrees, their input and output channels swapped."""
    return weights(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3), dtype)


def scratch(buffer, n: int, c: int, o: int, oh: int, ow: int, pool: bool, dtype) -> tuple:
    """conv_chunk's scratch (xt, rows, v, m, q, yt) for n images, from buffer(name, size, dtype) (a thread's
    own flat arrays, threads.Workers.buffer)."""
    th, tw = tiles(oh, ow)
    t = n * th * tw

    def get(name, shape):
        return buffer(name, math.prod(shape), dtype).reshape(shape)

    return (get("wg4_xt", (n, 4 * th + 2, 4, tw + 1, c)), get("wg4_rows", (6, 4 * (tw + 1) * c)),
            get("wg4_v", (36 * skewed(t * c),)), get("wg4_m", (36 * skewed(t * o),)), get("wg4_q", (40, tw * o)),
            get("wg4_yt", (n, 2 * th, 2, tw, o) if pool else (n, 4 * th, 4, tw, o)))


# --- the transforms, each one loop over a run of values: B^T on six runs, A^T on six -------------------------
@numba.njit(cache=True, nogil=True)
def _b_t(d0, d1, d2, d3, d4, d5, o0, o1, o2, o3, o4, o5, k):
    """(o0 .. o5) = B^T (d0 .. d5), element by element; k holds 2, 4, 5 in the arrays' dtype (a float64
    constant would turn float32 arithmetic into float64)."""
    two, four, five = k[0], k[1], k[2]
    for f in range(o0.size):
        a0, a1, a2, a3, a4, a5 = d0[f], d1[f], d2[f], d3[f], d4[f], d5[f]
        t1, t2 = a4 - four * a2, a3 - four * a1
        t3, t4 = a4 - a2, two * (a3 - a1)
        o0[f] = four * a0 - five * a2 + a4
        o1[f] = t1 + t2
        o2[f] = t1 - t2
        o3[f] = t3 + t4
        o4[f] = t3 - t4
        o5[f] = four * a1 - five * a3 + a5


@numba.njit(cache=True, nogil=True)
def _a_t(m0, m1, m2, m3, m4, m5, y0, y1, y2, y3, k):
    """(y0 .. y3) = A^T (m0 .. m5), element by element; k holds 2, 4, 8 in k[0], k[1], k[3]."""
    two, four, eight = k[0], k[1], k[3]
    for f in range(y0.size):
        p, q = m1[f] + m2[f], m1[f] - m2[f]
        r, s = m3[f] + m4[f], m3[f] - m4[f]
        y0[f] = m0[f] + p + r
        y1[f] = q + two * s
        y2[f] = p + four * r
        y3[f] = q + eight * s + m5[f]


@numba.njit(cache=True, nogil=True)
def _a_t_finish(m0, m1, m2, m3, m4, m5, y0, y1, y2, y3, k, bias, relu):
    """(y0 .. y3) = A^T (m0 .. m5) + bias, rectified with relu (a NaN passes, as in the ReLU layer)."""
    two, four, eight = k[0], k[1], k[3]
    for f in range(y0.size):
        p, q = m1[f] + m2[f], m1[f] - m2[f]
        r, s = m3[f] + m4[f], m3[f] - m4[f]
        b = bias[f]
        v0, v1 = m0[f] + p + r + b, q + two * s + b
        v2, v3 = p + four * r + b, q + eight * s + m5[f] + b
        if relu:
            v0, v1 = (0 if v0 <= 0 else v0), (0 if v1 <= 0 else v1)
            v2, v3 = (0 if v2 <= 0 else v2), (0 if v3 <= 0 else v3)
        y0[f], y1[f], y2[f], y3[f] = v0, v1, v2, v3


@numba.njit(cache=True, nogil=True)
def input_transform(xt, rows, v, k):
    """v: 36 blocks (k = 6 a + b) of (n*TH*TW, C), each skewed() apart, = B^T d B of each tile's 6x6 window d
    of xt (winograd._into's layout with columns split four ways: column j at (j % 4, j // 4)), tiles numbered
    (image, row, column). Per tile row, rows (scratch (6, 4 (TW+1) C)) takes the six rows of B^T d; window
    column j of every tile in the row is then one run of rows[a], and each of the 36 values one run over the
    row's tiles and channels."""
    n, hp, _, tw1, c = xt.shape
    th, tw = (hp - 2) // 4, tw1 - 1
    ks = v.size // 36
    run = tw * c  # a tile row's values of one position
    phase = tw1 * c  # the columns 4 t + j of one j
    for b in range(n):
        for ty in range(th):
            r = 4 * ty
            _b_t(_flat(xt[b, r]), _flat(xt[b, r + 1]), _flat(xt[b, r + 2]), _flat(xt[b, r + 3]),
                 _flat(xt[b, r + 4]), _flat(xt[b, r + 5]), rows[0], rows[1], rows[2], rows[3], rows[4], rows[5], k)
            t0 = (b * th + ty) * run
            for a in range(6):
                s = rows[a]
                f = 6 * a * ks + t0
                _b_t(s[:run], s[phase : phase + run], s[2 * phase : 2 * phase + run],
                     s[3 * phase : 3 * phase + run], s[c : c + run], s[phase + c : phase + c + run],
                     v[f : f + run], v[f + ks : f + ks + run], v[f + 2 * ks : f + 2 * ks + run],
                     v[f + 3 * ks : f + 3 * ks + run], v[f + 4 * ks : f + 4 * ks + run],
                     v[f + 5 * ks : f + 5 * ks + run], k)


@numba.njit(cache=True, nogil=True)
def output_transform(m, bias_row, relu, pool, k, q, yq, yt):
    """yt (n, 4 TH, 4, TW, O) (column j at (j % 4, j // 4)) = A^T M A + bias (rectified with relu) of each
    tile, m: 36 blocks of (n*TH*TW, O) each skewed() apart, bias_row the bias repeated TW times; with pool,
    yt (n, 2 TH, 2, TW, O) = the 2x2/2 max-pooling of each tile's 4x4 (pooled column j at (j % 2, j // 2)).
    Per tile row: q (scratch (24, TW O)) holds M A, yq (scratch (16, TW O)) the tile's outputs before
    pooling."""
    n, o, tw = yt.shape[0], yt.shape[4], yt.shape[3]
    th = yt.shape[1] // 2 if pool else yt.shape[1] // 4
    ks = m.size // 36
    run = tw * o
    for b in range(n):
        for ty in range(th):
            t0 = (b * th + ty) * run
            for a in range(6):
                f = 6 * a * ks + t0
                _a_t(m[f : f + run], m[f + ks : f + ks + run], m[f + 2 * ks : f + 2 * ks + run],
                     m[f + 3 * ks : f + 3 * ks + run], m[f + 4 * ks : f + 4 * ks + run],
                     m[f + 5 * ks : f + 5 * ks + run], q[4 * a], q[4 * a + 1], q[4 * a + 2], q[4 * a + 3], k)
            for j in range(4):  # output column j of every tile: A^T down the six rows of M A's column j
                if pool:
                    y0, y1, y2, y3 = yq[j], yq[4 + j], yq[8 + j], yq[12 + j]
                else:
                    y0, y1 = _flat(yt[b, 4 * ty, j]), _flat(yt[b, 4 * ty + 1, j])
                    y2, y3 = _flat(yt[b, 4 * ty + 2, j]), _flat(yt[b, 4 * ty + 3, j])
                _a_t_finish(q[j], q[4 + j], q[8 + j], q[12 + j], q[16 + j], q[20 + j], y0, y1, y2, y3, k, bias_row,
                            relu)
            if pool:
                for pr in range(2):
                    for pc in range(2):
                        i = 8 * pr + 2 * pc  # the window's top-left output: row 2 pr, column 2 pc
                        _max4(_flat(yt[b, 2 * ty + pr, pc]), yq[i], yq[i + 1], yq[i + 4], yq[i + 5])


@numba.njit(cache=True, nogil=True)
def conv_chunk(address, x, mask, masked, u, bias_row, pad, relu, pool, xt, rows, v, m, q, yt, y, res, added):
    """y = the 3x3 stride-1 convolution of the chunk's images x (n, C, H, W) with the transformed weights u
    (weights()), plus the bias (bias_row: repeated TW times), rectified with relu, pooled 2x2 with pool; x
    masked by mask > 0 with masked; with added, y = max(that + res, 0) instead (res y's shape). Scratch
    (scratch() makes it): xt, rows, v, m, q, yt."""
    k = np.empty(4, x.dtype)
    k[0], k[1], k[2], k[3] = 2, 4, 5, 8
    _into(x, mask, masked, pad, xt)
    input_transform(xt, rows, v, k)
    c, o = x.shape[1], yt.shape[4]
    t = x.shape[0] * ((xt.shape[1] - 2) // 4) * (xt.shape[3] - 1)
    kv, km, ku = v.size // 36, m.size // 36, u.size // 36
    for p in range(36):  # M^T[p] (T, O) = V[p] (T, C) U[p]^T, U[p] (O, C)
        gemm(address, v[p * kv : p * kv + t * c].reshape((t, c)), u[p * ku : p * ku + o * c].reshape((o, c)),
             m[p * km : p * km + t * o].reshape((t, o)), 0.0, True)
    output_transform(m, bias_row, relu and not added, pool, k, q[:24], q[24:], yt)
    _out_of(yt, y, res, added)


# --- the weight gradient: F(3x3, 4x4), the transpose of the forward's algorithm ---------------------------
# dW[o, c] sums dy[o] times x[c] shifted by each of the 3x3 taps. Over one 4x4 tile of dy and the 6x6 window of
# x its outputs read, that is 3x3 outputs of a 4x4 "filter" (dy's tile) over a 6x6 input: the bilinear form
# of the forward's y = A^T [(G g) . (B^T d)] gives, by differentiating sum(y . dy) in g,
#
#     dW = G^T [ (A dy A^T) . (B^T d B) ] G
#
# with the forward's own B^T (so the window transform V is the forward's, in the same layout) and A = the
# transpose of its A^T. Summed over the tiles, each of the 36 positions is one matrix product D[k]^T V[k]
# ((O, T) times (T, C)) whose inner dimension is the tiles: a long product BLAS runs near its peak, with 4x
# fewer multiplications than im2col's col dy^T. The closing G^T M G is in float64, once a pass.

def gradient_scratch(buffer, n: int, c: int, o: int, oh: int, ow: int, dtype) -> tuple:
    """weight_gradient_chunk's scratch (xt, rows, v, dyt, drows, d) for n images, from buffer(name, size,
    dtype) (a thread's own flat arrays)."""
    th, tw = tiles(oh, ow)
    t = n * th * tw

    def get(name, shape):
        return buffer(name, math.prod(shape), dtype).reshape(shape)

    return (get("wg4_xt", (n, 4 * th + 2, 4, tw + 1, c)), get("wg4_rows", (6, 4 * (tw + 1) * c)),
            get("wg4_v", (36 * skewed(t * c),)), get("wg4_dyt", (n, 4 * th, 4, tw, o)),
            get("wg4_drows", (6, 4 * tw * o)), get("wg4_d", (36 * skewed(t * o),)))


@numba.njit(cache=True, nogil=True)
def _a(d0, d1, d2, d3, e0, e1, e2, e3, e4, e5, k):
    """(e0 .. e5) = A (d0 .. d3), A = the transpose of A^T, element by element; k holds 2, 4, 8 in k[0], k[1],
    k[3] (exact: powers of two)."""
    two, four, eight = k[0], k[1], k[3]
    for f in range(e0.size):
        a0, a1, a2, a3 = d0[f], d1[f], d2[f], d3[f]
        p, q = a0 + a2, a1 + a3
        r, s = a0 + four * a2, two * a1 + eight * a3
        e0[f] = a0
        e1[f] = p + q
        e2[f] = p - q
        e3[f] = r + s
        e4[f] = r - s
        e5[f] = a3


@numba.njit(cache=True, nogil=True)
def gradient_transform(dyt, drows, d, k):
    """d: 36 blocks (k = 6 a + b) of (n*TH*TW, O), each skewed() apart, = A dy A^T of each 4x4 tile of dy,
    from dyt (winograd._into's layout, columns split four ways); the tiles numbered as input_transform's.
    Per tile row, drows (scratch (6, 4 TW O)) takes the six rows of A dy."""
    n, rows4, _, tw, o = dyt.shape
    th = rows4 // 4
    ks = d.size // 36
    run = tw * o
    for b in range(n):
        for ty in range(th):
            r = 4 * ty
            _a(_flat(dyt[b, r]), _flat(dyt[b, r + 1]), _flat(dyt[b, r + 2]), _flat(dyt[b, r + 3]), drows[0],
               drows[1], drows[2], drows[3], drows[4], drows[5], k)
            t0 = (b * th + ty) * run
            for a in range(6):
                s = drows[a]
                f = 6 * a * ks + t0
                _a(s[:run], s[run : 2 * run], s[2 * run : 3 * run], s[3 * run :], d[f : f + run],
                   d[f + ks : f + ks + run], d[f + 2 * ks : f + 2 * ks + run], d[f + 3 * ks : f + 3 * ks + run],
                   d[f + 4 * ks : f + 4 * ks + run], d[f + 5 * ks : f + 5 * ks + run], k)


@numba.njit(cache=True, nogil=True)
def weight_gradient_chunk(address, x, dy, mask, masked, pad, mw, db, xt, rows, v, dyt, drows, d):
    """Adds the chunk's sums M[k] = D[k]^T V[k] into mw (36 blocks of (O, C), one after another; weights_of()
    turns them into dW) and its bias gradient into db (float64), for the chunk's images x (n, C, H, W) and dy
    (n, O, OH, OW), dy masked by mask > 0 with masked (a fused ReLU's output). Scratch: gradient_scratch()."""
    kk = np.empty(4, x.dtype)
    kk[0], kk[1], kk[2], kk[3] = 2, 4, 5, 8
    _into(x, x, False, pad, xt)
    input_transform(xt, rows, v, kk)
    _into(dy, mask, masked, 0, dyt)
    gradient_transform(dyt, drows, d, kk)
    c, o = x.shape[1], dy.shape[1]
    t = x.shape[0] * (dyt.shape[1] // 4) * dyt.shape[3]
    kv, kd = v.size // 36, d.size // 36
    for p in range(36):  # M[p] (O, C) += D[p]^T V[p]: D[p] (T, O), V[p] (T, C)
        gemm(address, d[p * kd : p * kd + t * o].reshape((t, o)), v[p * kv : p * kv + t * c].reshape((t, c)),
             mw[p], 1.0, False, True)
    ones = d[7 * kd : 7 * kd + t * o]  # position (1, 1): A's row of ones both ways, each tile's sum of dy
    for i in range(t):
        for j in range(o):
            db[j] += ones[i * o + j]


def weights_of(mw, shape, dtype) -> np.ndarray:
    """dW (O, C, 3, 3) = G^T M G of the summed products mw (36, O, C), in float64 then dtype (_weights_of)."""
    dw = np.empty(shape, dtype)
    _weights_of(np.ascontiguousarray(mw).reshape(36, -1), G, dw.reshape(-1, 9))
    return dw


@numba.njit(cache=True, nogil=True)
def _weights_of(m, g, dw):
    """dw[k, 3 i + j] = sum over a, b of g[a, i] m[6 a + b, k] g[b, j], in float64: G^T on the left, a row of
    (O C) values at a time (vectorised), then on the right. NumPy's two tensordots and their copies took 150 us
    for 32 x 32 channels, a sixth of the layer's weight gradient at batch 10."""
    n = m.shape[1]
    t = np.empty((3, 6, n))
    for i in range(3):
        g0, g1, g2, g3, g4, g5 = g[0, i], g[1, i], g[2, i], g[3, i], g[4, i], g[5, i]
        for b in range(6):
            r, m0, m1, m2, m3, m4, m5 = t[i, b], m[b], m[6 + b], m[12 + b], m[18 + b], m[24 + b], m[30 + b]
            for k in range(n):
                r[k] = (g0 * np.float64(m0[k]) + g1 * np.float64(m1[k]) + g2 * np.float64(m2[k])
                        + g3 * np.float64(m3[k]) + g4 * np.float64(m4[k]) + g5 * np.float64(m5[k]))
    for i in range(3):
        for j in range(3):
            h0, h1, h2, h3, h4, h5 = g[0, j], g[1, j], g[2, j], g[3, j], g[4, j], g[5, j]
            t0, t1, t2, t3, t4, t5 = t[i, 0], t[i, 1], t[i, 2], t[i, 3], t[i, 4], t[i, 5]
            col = dw[:, 3 * i + j]
            for k in range(n):
                col[k] = h0 * t0[k] + h1 * t1[k] + h2 * t2[k] + h3 * t3[k] + h4 * t4[k] + h5 * t5[k]
