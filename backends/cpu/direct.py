"""Direct 3x3 stride-1 convolution, compiled (Numba), one chunk of images per call: the forward pass and the input
gradient of ResNet-20's and DeepConvNet's 3x3 layers, the weight gradient of their 16-channel ones.

im2col turns a 3x3 convolution into one matrix product by copying every input value nine times; with 16
channels (ResNet-20's first stage, DeepConvNet's second layer) that copy costs a third of the layer, and
the product, only 16 output rows high, runs at 45-60 GFLOP/s where a wide one runs near 95. Here there is
no copy and no BLAS. Each image is padded once into a scratch plane per channel, and the plane is read as
one flat row: with Wp the padded width, output (r, c) at q = r Wp + c reads input q + i Wp + j for tap (i, j),
so for every tap the whole output is one unit-stride loop over q, shifted:

    acc[o, q] += sum_{c, i, j} w[o, c, i, j] xpad[c, q + i Wp + j],    q < L = (OH - 1) Wp + OW

(the Wp - OW values of q past each output row are computed and dropped). The sums run in blocks of four
output channels by a few vectors of q, over every input channel and the nine taps in registers
(direct_block.py, written in LLVM IR: 170 GFLOP/s a core on an Emerald Rapids Xeon where Numba's own loop
over q, the sums in memory, ran at 50). The output pass adds the bias, rectifies, and pools or adds a
residual where asked. The weight gradient's sums are held in registers the same way (direct_block.gradient).
"""
from __future__ import annotations

import numba
import numpy as np

from . import vectors  # noqa: F401  (first: the vector width the kernels below are compiled for)
from .direct_block import (GB, GROWS, OB, QB, block, block_1, block_2, block_3, gradient, gradient_one, lanes, one,
                           one_1, one_2, one_3, step)
from .outputs import rectified, total
from .pooling import window
from .spin import claim

@numba.njit(cache=True, nogil=True)
def conv_chunk(x, mask, masked, w, b, pad, relu, pool, xpad, acc, y, res, added, claims):
    """y = the 3x3 stride-1 convolution of x (n, C, H, W) with w (O, C, 3, 3), padded by pad, plus b (O,);
    rectified with relu; with pool, y (n, O, OH // 2, OW // 2) is the 2x2/2 max-pooling of the rectified
    output; with added, y = max(that + res, 0) instead (res y's shape: a residual block's sum and its ReLU).
    With masked, x counts as zero where mask (x's shape) is not positive (a fused ReLU's gradient).
    The images are claimed one at a time from claims (spin.claim): threads that share claims share the batch,
    each image computed once, by whichever thread is free first.
    Scratch (scratch): xpad, the padded planes one after another and a step's slack; acc (O, L rounded
    up to whole vectors). The blocks (direct_block.py) compute every q < L in whole vectors: the positions past
    L read the next plane or the slack and are never output."""
    n, c_n, h, wd = x.shape
    o_n = w.shape[0]
    hp, wp = h + 2 * pad, wd + 2 * pad
    oh, ow = hp - 2, wp - 2
    plane = hp * wp
    span = (oh - 1) * wp + ow
    per = acc.shape[1]  # L rounded up to whole vectors
    width, whole = lanes(xpad.itemsize), step(xpad.itemsize)
    rest = -(-(span % whole) // width)  # vectors past the whole steps
    if rest == QB:  # as many as a step: one more whole step
        rest = 0
    full = per - rest * width
    xpad[:] = 0  # the border and the slack, zero for every image of the chunk
    planes = xpad[: c_n * plane].reshape(c_n, hp, wp)
    wf = w.reshape(w.size)
    af = acc.reshape(acc.size)
    blocks = o_n - o_n % OB
    while True:
        i = claim(claims)
        if i >= n:
            break
        _pad_into(planes, x[i], mask[i], masked, pad)
        for q0 in range(0, full, whole):  # a step's x stays in L1 while the output channels' blocks read it
            for o in range(0, blocks, OB):
                block(xpad, q0, plane, wp, c_n, wf, o * c_n * 9, c_n * 9, af, o * per + q0, per)
            for o in range(blocks, o_n):
                one(xpad, q0, plane, wp, c_n, wf, o * c_n * 9, c_n * 9, af, o * per + q0, per)
        if rest:
            for o in range(0, blocks, OB):
                _last(rest, True, xpad, full, plane, wp, c_n, wf, o * c_n * 9, c_n * 9, af, o * per + full, per)
            for o in range(blocks, o_n):
                _last(rest, False, xpad, full, plane, wp, c_n, wf, o * c_n * 9, c_n * 9, af, o * per + full, per)
        _output(acc, b, relu, pool, wp, y[i], res[i], added)


@numba.njit(cache=True, nogil=True)
def _pad_into(planes, x, mask, masked, pad):
    """planes[:, pad:pad + H, pad:pad + W] = x (C, H, W), the border left as it is; with masked, zero where mask
    (x's shape) is not positive."""
    c_n, h, wd = x.shape
    for c in range(c_n):
        for r in range(h):
            src = x[c, r]
            dst = planes[c, r + pad, pad:]
            if masked:
                keep = mask[c, r]
                for s in range(wd):
                    dst[s] = src[s] if keep[s] > 0 else 0
            else:
                for s in range(wd):
                    dst[s] = src[s]


@numba.njit(cache=True, nogil=True)
def _last(count, four, x, q0, plane, wp, c_n, w, woff, wstride, acc, aoff, astride):
    """The positions past a pass's whole steps: `count` (fewer than QB) vectors of them, for OB output
    channels (four) or one."""
    if four:
        if count == 3:
            block_3(x, q0, plane, wp, c_n, w, woff, wstride, acc, aoff, astride)
        elif count == 2:
            block_2(x, q0, plane, wp, c_n, w, woff, wstride, acc, aoff, astride)
        else:
            block_1(x, q0, plane, wp, c_n, w, woff, wstride, acc, aoff, astride)
    elif count == 3:
        one_3(x, q0, plane, wp, c_n, w, woff, wstride, acc, aoff, astride)
    elif count == 2:
        one_2(x, q0, plane, wp, c_n, w, woff, wstride, acc, aoff, astride)
    else:
        one_1(x, q0, plane, wp, c_n, w, woff, wstride, acc, aoff, astride)


@numba.njit(cache=True, nogil=True)
def _output(acc, b, relu, pool, wp, y, res, added):
    """y (O, OH, OW) = acc's rows (stride wp) plus the bias, rectified; or with pool y (O, OH // 2, OW // 2), the
    2x2/2 max-pooling of the rectified rows (a NaN passes the ReLU and the first one wins a window, as the
    layers one by one do); or with added, max(acc's rows + bias + res, 0) (res y's shape).
    Pooled, each window's maximum is taken first, then the bias added and rectified once: the same value, since
    adding b (rounded) and the ReLU never change which value is largest, and a NaN stays NaN. With the ReLU on
    each of the four values the loop's selects became branches, mispredicted on rectified data: 87 against 6
    us an image of 16 x 28 x 28 outputs (one thread, an AMD EPYC without AVX-512, each call a new image)."""
    o_n, rows, cols = y.shape
    for o in range(o_n):
        bo = b[o]
        src = acc[o]
        dst = y[o]
        if pool:
            for r in range(rows):
                r0 = src[2 * r * wp :]
                r1 = src[(2 * r + 1) * wp :]
                out = dst[r]
                for s in range(cols):
                    out[s] = rectified(window(r0[2 * s], r0[2 * s + 1], r1[2 * s], r1[2 * s + 1])[0] + bo)
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
    """(xpad, sums) for conv_chunk (acc) and weight_chunk (dyw) from buffer(key, size, dtype) (a thread's reusable
    buffers): the padded planes and a step's slack in one flat array, and O rows of L rounded up to whole
    vectors."""
    hp, wp = h + 2 * pad, w + 2 * pad
    span = (hp - 3) * wp + wp - 2
    itemsize = np.dtype(dtype).itemsize
    width = lanes(itemsize)
    per = -(-span // width) * width
    return buffer("xpad", c * hp * wp + step(itemsize), dtype), buffer("prod", o * per, dtype).reshape(o, per)


# --- the weight gradient --------------------------------------------------------------------------------
# dW[o, c, i, j] = sum over the images and q of dy[o, q] xpad[c, q + i Wp + j], dy spread to the padded width
# (zero in the Wp - OW columns past each row): for GB output channels, one input channel and GROWS rows of taps,
# the sums held in vector registers over q (direct_block.gradient: 2 x 9 sums with 32 registers, 3 x 3 with 16).

@numba.njit(cache=True, nogil=True)
def weight_chunk(x, dy, mask, masked, pad, xpad, dyw, dw, db):
    """dw (O, C, 3, 3) += the weight gradient of the 3x3 stride-1 convolution of x (n, C, H, W), padded by pad,
    for dy (n, O, OH, OW); db (O,) += dy summed. With masked, dy counts as zero where mask (dy's shape; a fused
    ReLU's output) is not positive. Scratch (scratch): xpad, the padded planes one after another and a
    step's slack; dyw (O, L rounded up to whole vectors). dw C-contiguous."""
    n, c_n, h, wd = x.shape
    o_n, oh, ow = dy.shape[1], dy.shape[2], dy.shape[3]
    hp, wp = h + 2 * pad, wd + 2 * pad
    plane = hp * wp
    span = (oh - 1) * wp + ow
    per = dyw.shape[1]
    xpad[:] = 0
    dyw[:] = 0  # the columns past each output row stay zero
    planes = xpad[: c_n * plane].reshape(c_n, hp, wp)
    dywf = dyw.reshape(dyw.size)
    dwf = dw.reshape(dw.size)
    grouped = o_n - o_n % GB
    for i in range(n):
        _pad_into(planes, x[i], x[i], False, pad)
        for o in range(o_n):
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
            db[o] += total(dyw[o, :span])  # the columns past each row are zero
        for o in range(0, grouped, GB):
            for c in range(c_n):
                for t in range(0, 3, GROWS):
                    gradient(xpad, c * plane + t * wp, wp, dywf, o * per, per, span, dwf, (o * c_n + c) * 9 + 3 * t,
                             c_n * 9)
        for o in range(grouped, o_n):
            for c in range(c_n):
                gradient_one(xpad, c * plane, wp, dywf, o * per, per, span, dwf, (o * c_n + c) * 9, c_n * 9)
