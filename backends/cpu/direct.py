"""Direct 3x3 stride-1 convolution for narrow layers, compiled (Numba), one chunk of images per call.

im2col turns a 3x3 convolution into one matrix product by copying every input value nine times; with 16
channels (ResNet-20's first stage, DeepConvNet's second layer) that copy costs a third of the layer, and
the product, only 16 output rows high, runs at 45-60 GFLOP/s where a wide one runs near 95. Here there is
no copy and no BLAS. Each image is padded once into a scratch plane per channel, and the plane is read as
one flat row: with Wp the padded width, output (r, c) at q = r Wp + c reads input q + i Wp + j for tap (i, j),
so for every tap the whole output is one unit-stride loop over q, shifted:

    acc[o, q] += sum_{c, i, j} w[o, c, i, j] xpad[c, q + i Wp + j],    q < L = (OH - 1) Wp + OW

(the Wp - OW values of q past each output row are computed and dropped). The loop over q runs four output
channels and the nine taps of one input channel at once: nine loads of x feed 36 multiply-adds into four
accumulator rows that stay in L1, and LLVM vectorises it (AVX-512 here: 80 GFLOP/s a core on 16 x 16
channels, 32 x 32 images). The output pass adds the bias, rectifies, and pools where asked.

The shifted views (x[k:]) keep every index non-negative as LLVM sees it: written as x[q + k], Numba's
negative-index wrap-around turned each load into a gather and the loop ran at 7 GFLOP/s.
"""
from __future__ import annotations

import numba

#: Output channels a pass over q computes at once: with 4, the nine loads of x serve 36 multiply-adds.
BLOCK = 4
#: LLVM's licence for the loops over q: fused multiply-adds; for the weight gradient's sums also their
#: reassociation, without which a sum is not vectorised. Not the rest of fastmath (no NaN or infinity
#: assumed away: a NaN in the data must reach the output, as in the other paths).
TAPS = {"contract"}
SUMS = {"contract", "reassoc"}


@numba.njit(cache=True, nogil=True, fastmath=TAPS)
def _taps4(x, w, acc, o, c, wp, q0, q1):
    """acc[o + k, q] += sum over the nine taps of w[o + k, c] times x shifted, k < 4, q0 <= q < q1."""
    w0, w1, w2, w3 = w[o, c], w[o + 1, c], w[o + 2, c], w[o + 3, c]
    a0, a1, a2, a3 = acc[o, q0:], acc[o + 1, q0:], acc[o + 2, q0:], acc[o + 3, q0:]
    x0, x1, x2 = x[q0:], x[q0 + 1 :], x[q0 + 2 :]
    x3, x4, x5 = x[q0 + wp :], x[q0 + wp + 1 :], x[q0 + wp + 2 :]
    x6, x7, x8 = x[q0 + 2 * wp :], x[q0 + 2 * wp + 1 :], x[q0 + 2 * wp + 2 :]
    p00, p01, p02, p03, p04 = w0[0, 0], w0[0, 1], w0[0, 2], w0[1, 0], w0[1, 1]
    p05, p06, p07, p08 = w0[1, 2], w0[2, 0], w0[2, 1], w0[2, 2]
    p10, p11, p12, p13, p14 = w1[0, 0], w1[0, 1], w1[0, 2], w1[1, 0], w1[1, 1]
    p15, p16, p17, p18 = w1[1, 2], w1[2, 0], w1[2, 1], w1[2, 2]
    p20, p21, p22, p23, p24 = w2[0, 0], w2[0, 1], w2[0, 2], w2[1, 0], w2[1, 1]
    p25, p26, p27, p28 = w2[1, 2], w2[2, 0], w2[2, 1], w2[2, 2]
    p30, p31, p32, p33, p34 = w3[0, 0], w3[0, 1], w3[0, 2], w3[1, 0], w3[1, 1]
    p35, p36, p37, p38 = w3[1, 2], w3[2, 0], w3[2, 1], w3[2, 2]
    for q in range(q1 - q0):  # from 0: a loop from q0 could be negative for Numba, and then is not vectorised
        v0, v1, v2, v3, v4, v5, v6, v7, v8 = x0[q], x1[q], x2[q], x3[q], x4[q], x5[q], x6[q], x7[q], x8[q]
        a0[q] += p00 * v0 + p01 * v1 + p02 * v2 + p03 * v3 + p04 * v4 + p05 * v5 + p06 * v6 + p07 * v7 + p08 * v8
        a1[q] += p10 * v0 + p11 * v1 + p12 * v2 + p13 * v3 + p14 * v4 + p15 * v5 + p16 * v6 + p17 * v7 + p18 * v8
        a2[q] += p20 * v0 + p21 * v1 + p22 * v2 + p23 * v3 + p24 * v4 + p25 * v5 + p26 * v6 + p27 * v7 + p28 * v8
        a3[q] += p30 * v0 + p31 * v1 + p32 * v2 + p33 * v3 + p34 * v4 + p35 * v5 + p36 * v6 + p37 * v7 + p38 * v8


@numba.njit(cache=True, nogil=True, fastmath=TAPS)
def _taps1(x, w, acc, o, c, wp, q0, q1):
    """One output channel's share of _taps4 (the channels left over from the blocks of four)."""
    w0, a0 = w[o, c], acc[o, q0:]
    x0, x1, x2 = x[q0:], x[q0 + 1 :], x[q0 + 2 :]
    x3, x4, x5 = x[q0 + wp :], x[q0 + wp + 1 :], x[q0 + wp + 2 :]
    x6, x7, x8 = x[q0 + 2 * wp :], x[q0 + 2 * wp + 1 :], x[q0 + 2 * wp + 2 :]
    p00, p01, p02, p03, p04 = w0[0, 0], w0[0, 1], w0[0, 2], w0[1, 0], w0[1, 1]
    p05, p06, p07, p08 = w0[1, 2], w0[2, 0], w0[2, 1], w0[2, 2]
    for q in range(q1 - q0):  # from 0: a loop from q0 could be negative for Numba, and then is not vectorised
        a0[q] += (p00 * x0[q] + p01 * x1[q] + p02 * x2[q] + p03 * x3[q] + p04 * x4[q] + p05 * x5[q]
                  + p06 * x6[q] + p07 * x7[q] + p08 * x8[q])


@numba.njit(cache=True, nogil=True)
def conv_chunk(x, mask, masked, w, b, pad, relu, pool, band, xpad, acc, y, res, added):
    """y = the 3x3 stride-1 convolution of x (n, C, H, W) with w (O, C, 3, 3), padded by pad, plus b (O,);
    rectified with relu; with pool, y (n, O, OH // 2, OW // 2) is the 2x2/2 max-pooling of the rectified
    output; with added, y = max(that + res, 0) instead (res y's shape: a residual block's sum and its ReLU).
    With masked, x counts as zero where mask (x's shape) is not positive (a fused ReLU's gradient).
    Scratch: xpad (C, H + 2 pad, W + 2 pad), acc (O, L). q runs in bands of `band` so that a block's
    accumulators stay in L1 on large images."""
    n, c_n, h, wd = x.shape
    o_n = w.shape[0]
    hp, wp = h + 2 * pad, wd + 2 * pad
    oh, ow = hp - 2, wp - 2
    span = (oh - 1) * wp + ow
    xpad[:] = 0  # the border, zero for every image of the chunk
    flat = xpad.reshape(c_n, hp * wp)
    blocks = o_n - o_n % BLOCK
    for i in range(n):
        for c in range(c_n):
            for r in range(h):
                src = x[i, c, r]
                dst = xpad[c, r + pad, pad:]
                if masked:
                    keep = mask[i, c, r]
                    for s in range(wd):
                        dst[s] = src[s] if keep[s] > 0 else 0
                else:
                    for s in range(wd):
                        dst[s] = src[s]
        acc[:] = 0
        for q0 in range(0, span, band):
            q1 = min(span, q0 + band)
            for o in range(0, blocks, BLOCK):
                for c in range(c_n):
                    _taps4(flat[c], w, acc, o, c, wp, q0, q1)
            for o in range(blocks, o_n):
                for c in range(c_n):
                    _taps1(flat[c], w, acc, o, c, wp, q0, q1)
        _output(acc, b, relu, pool, wp, y[i], res[i], added)


@numba.njit(cache=True, nogil=True)
def _output(acc, b, relu, pool, wp, y, res, added):
    """y (O, OH, OW) = acc's rows (stride wp) plus the bias, rectified; or with pool y (O, OH // 2, OW // 2), the
    2x2/2 max-pooling of the rectified rows (a NaN passes the ReLU and the first one wins a window, as the
    layers one by one do); or with added, max(acc's rows + bias + res, 0) (res y's shape)."""
    o_n, rows, cols = y.shape
    for o in range(o_n):
        bo = b[o]
        src = acc[o]
        dst = y[o]
        if pool:
            for r in range(rows):
                r0 = 2 * r * wp
                r1 = r0 + wp
                for s in range(cols):
                    v0, v1 = src[r0 + 2 * s] + bo, src[r0 + 2 * s + 1] + bo
                    v2, v3 = src[r1 + 2 * s] + bo, src[r1 + 2 * s + 1] + bo
                    v0 = 0 if v0 <= 0 else v0
                    v1 = 0 if v1 <= 0 else v1
                    v2 = 0 if v2 <= 0 else v2
                    v3 = 0 if v3 <= 0 else v3
                    m01 = v0 if (v0 >= v1 or v0 != v0) else v1
                    m23 = v2 if (v2 >= v3 or v2 != v2) else v3
                    dst[r, s] = m01 if (m01 >= m23 or m01 != m01) else m23
        else:
            for r in range(rows):
                row = src[r * wp :]
                out = dst[r]
                if added:
                    more = res[o, r]
                    for s in range(cols):
                        v = row[s] + bo + more[s]
                        out[s] = 0 if v <= 0 else v
                elif relu:
                    for s in range(cols):
                        v = row[s] + bo
                        out[s] = 0 if v <= 0 else v  # a NaN passes through, as in the ReLU layer
                else:
                    for s in range(cols):
                        out[s] = row[s] + bo


def scratch(buffer, c: int, o: int, h: int, w: int, pad: int, dtype) -> tuple:
    """(xpad, acc) for conv_chunk from buffer(key, size, dtype) (a thread's reusable buffers)."""
    hp, wp = h + 2 * pad, w + 2 * pad
    span = (hp - 3) * wp + wp - 2
    return (buffer("xpad", c * hp * wp, dtype).reshape(c, hp, wp),
            buffer("prod", o * span, dtype).reshape(o, span))


# --- the weight gradient --------------------------------------------------------------------------------
# dW[o, c, i, j] = sum over the images and q of dy[o, q] xpad[c, q + i Wp + j], dy spread to the padded width
# (zero in the Wp - OW columns past each row): for two output channels and one input channel, 18 sums over q
# in one loop, nine loads of x and two of dy feeding 18 multiply-adds; LLVM keeps each sum in a vector
# register (reassociating the sums: SUMS).

@numba.njit(cache=True, nogil=True, fastmath=SUMS)
def _grad2(x, dyw, o, c, wp, span, dw):
    """dw[o + k, c] += the nine sums of dyw[o + k, q] x[q + tap], k < 2."""
    d0, d1 = dyw[o], dyw[o + 1]
    x0, x1, x2 = x[0:], x[1:], x[2:]
    x3, x4, x5 = x[wp:], x[wp + 1 :], x[wp + 2 :]
    x6, x7, x8 = x[2 * wp :], x[2 * wp + 1 :], x[2 * wp + 2 :]
    s00 = s01 = s02 = s03 = s04 = s05 = s06 = s07 = s08 = dw.dtype.type(0)
    s10 = s11 = s12 = s13 = s14 = s15 = s16 = s17 = s18 = dw.dtype.type(0)
    for q in range(span):
        e0, e1 = d0[q], d1[q]
        v0, v1, v2, v3, v4, v5, v6, v7, v8 = x0[q], x1[q], x2[q], x3[q], x4[q], x5[q], x6[q], x7[q], x8[q]
        s00 += e0 * v0
        s01 += e0 * v1
        s02 += e0 * v2
        s03 += e0 * v3
        s04 += e0 * v4
        s05 += e0 * v5
        s06 += e0 * v6
        s07 += e0 * v7
        s08 += e0 * v8
        s10 += e1 * v0
        s11 += e1 * v1
        s12 += e1 * v2
        s13 += e1 * v3
        s14 += e1 * v4
        s15 += e1 * v5
        s16 += e1 * v6
        s17 += e1 * v7
        s18 += e1 * v8
    g0, g1 = dw[o, c], dw[o + 1, c]
    g0[0, 0] += s00
    g0[0, 1] += s01
    g0[0, 2] += s02
    g0[1, 0] += s03
    g0[1, 1] += s04
    g0[1, 2] += s05
    g0[2, 0] += s06
    g0[2, 1] += s07
    g0[2, 2] += s08
    g1[0, 0] += s10
    g1[0, 1] += s11
    g1[0, 2] += s12
    g1[1, 0] += s13
    g1[1, 1] += s14
    g1[1, 2] += s15
    g1[2, 0] += s16
    g1[2, 1] += s17
    g1[2, 2] += s18


@numba.njit(cache=True, nogil=True, fastmath=SUMS)
def _grad1(x, dyw, o, c, wp, span, dw):
    """One output channel's share of _grad2 (an odd last channel)."""
    d0 = dyw[o]
    g0 = dw[o, c]
    for i in range(3):
        for j in range(3):
            xs = x[i * wp + j :]
            s = dw.dtype.type(0)
            for q in range(span):
                s += d0[q] * xs[q]
            g0[i, j] += s


@numba.njit(cache=True, nogil=True)
def weight_chunk(x, dy, mask, masked, pad, xpad, dyw, dw, db):
    """dw (O, C, 3, 3) += the weight gradient of the 3x3 stride-1 convolution of x (n, C, H, W), padded by pad,
    for dy (n, O, OH, OW); db (O,) += dy summed. With masked, dy counts as zero where mask (dy's shape; a fused
    ReLU's output) is not positive. Scratch: xpad (C, H + 2 pad, W + 2 pad), dyw (O, L)."""
    n, c_n, h, wd = x.shape
    o_n, oh, ow = dy.shape[1], dy.shape[2], dy.shape[3]
    hp, wp = h + 2 * pad, wd + 2 * pad
    span = (oh - 1) * wp + ow
    xpad[:] = 0
    dyw[:] = 0  # the columns past each output row stay zero
    flat = xpad.reshape(c_n, hp * wp)
    pairs = o_n - o_n % 2
    for i in range(n):
        for c in range(c_n):
            for r in range(h):
                src = x[i, c, r]
                dst = xpad[c, r + pad, pad:]
                for s in range(wd):
                    dst[s] = src[s]
        for o in range(o_n):
            total = db.dtype.type(0)
            for r in range(oh):
                src = dy[i, o, r]
                dst = dyw[o, r * wp :]
                if masked:  # a select, which vectorises; with the sum in the same loop it became a branch
                    keep = mask[i, o, r]
                    for s in range(ow):
                        dst[s] = src[s] if keep[s] > 0 else 0
                else:
                    for s in range(ow):
                        dst[s] = src[s]
                for s in range(ow):
                    total += dst[s]
            db[o] += total
        for o in range(0, pairs, 2):
            for c in range(c_n):
                _grad2(flat[c], dyw, o, c, wp, span, dw)
        for o in range(pairs, o_n):
            for c in range(c_n):
                _grad1(flat[c], dyw, o, c, wp, span, dw)
