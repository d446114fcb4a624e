"""Optional compiled CPU kernels (Numba) for the NumPy backend: im2col and col2im as plain loops.

The plain NumPy code stays the reference and the fallback; these run only when Numba imports
(pip install 'deepnet[fast]') and DEEPNET_NUMBA is not 0. Each kernel is single-threaded and
releases the GIL (nogil): the backend's own threads (threads.py) call them on separate chunks
of the batch. (Numba's parallel=True was tried first: its threads and OpenBLAS's fought over the
two cores and a step got 45% slower.) Measured on the 2-core machine: the chunked convolution with
these kernels is about 1.4x the same code on plain NumPy (benchmarks/results/cpu_paths_*.json). Results
equal the reference's, and are deterministic.
"""
from __future__ import annotations

import platform

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from ..settings import switch

ENABLED = switch("DEEPNET_NUMBA", default=True)


def usable(a) -> bool:
    """Compiled path for C-contiguous float32/float64 arrays while enabled; otherwise the NumPy reference."""
    return ENABLED and a.dtype in (np.float32, np.float64) and a.flags.c_contiguous


# --- patches in the layout col[c, i, j, b, y, x] ------------------------------------------------------
# The chunked convolution's layout (backends/cpu/conv.py): rows ordered (C, KH, KW) like
# W.reshape(O, -1), the images of a chunk side by side in each row, so one GEMM covers the chunk.
# Given the images as a (C, N, H, W) view instead, the same loops produce the reference layout
# (N, KH, KW, C, OH, OW) of base.Backend.im2col. The images are first copied into a padded scratch
# array `xpad` (N, C, H + 2P, W + 2P), so that every patch row is a plain strided copy with no bounds
# test: measured 1.7-2x faster than testing each element against the image's edges (DeepConvNet's
# layers, one cache-sized chunk each), and col2im likewise adds into a padded scratch and crops it.

@numba.njit(cache=True, nogil=True)
def _pad_into(x, pad, fill, xpad):
    n, c, h, w = x.shape
    wp = w + 2 * pad
    for b in range(n):
        for ch in range(c):
            for yy in range(h + 2 * pad):
                hy = yy - pad
                if hy < 0 or hy >= h:
                    for xx in range(wp):
                        xpad[b, ch, yy, xx] = fill
                else:
                    for xx in range(pad):
                        xpad[b, ch, yy, xx] = fill
                        xpad[b, ch, yy, wp - 1 - xx] = fill
                    for xx in range(w):
                        xpad[b, ch, yy, xx + pad] = x[b, ch, hy, xx]


@numba.njit(cache=True, nogil=True)
def im2col_rows(x, kh, kw, stride, pad, fill, col, xpad):
    n, c = x.shape[0], x.shape[1]
    oh, ow = col.shape[4], col.shape[5]
    _pad_into(x, pad, fill, xpad)
    for ch in range(c):
        for i in range(kh):
            for j in range(kw):
                for b in range(n):
                    for y in range(oh):
                        src = xpad[b, ch, y * stride + i]
                        dst = col[ch, i, j, b, y]
                        if stride == 1:
                            for xx in range(ow):
                                dst[xx] = src[xx + j]
                        else:
                            for xx in range(ow):
                                dst[xx] = src[xx * stride + j]
    return col


@numba.njit(cache=True, nogil=True)
def col2im_rows(col, stride, pad, img, xpad):
    """img = the sum of each patch entry onto its pixel, in a fixed order (deterministic); xpad is scratch
    of shape (N, C, H + 2P, W + 2P) for img's (N, C, H, W)."""
    c, kh, kw, n, oh, ow = col.shape
    h, w = img.shape[2], img.shape[3]
    xpad[:] = 0
    for b in range(n):
        for ch in range(c):
            for i in range(kh):
                for j in range(kw):
                    for y in range(oh):
                        dst = xpad[b, ch, y * stride + i]
                        src = col[ch, i, j, b, y]
                        if stride == 1:
                            for xx in range(ow):
                                dst[xx + j] += src[xx]
                        else:
                            for xx in range(ow):
                                dst[xx * stride + j] += src[xx]
    for b in range(n):
        for ch in range(c):
            for yy in range(h):
                for xx in range(w):
                    img[b, ch, yy, xx] = xpad[b, ch, yy + pad, xx + pad]
    return img


# --- max-pooling -----------------------------------------------------------------------------------------
# The NumPy path makes KH*KW passes over strided views (a max, then the arg-max by comparison). A general
# one-pass kernel with bounds tests was no faster than that (3.45 against 3.21 ms, DeepConvNet's first
# pooling at batch 100, 2 threads); the 2x2/stride-2 kernel below, unrolled, is 1.8x faster (1.91 ms).
# Ties keep the first maximum; a NaN counts as the maximum (the first one), as np.argmax does.

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


# --- ReLU in one pass each way ----------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True)
def relu(x, y):
    for i in range(x.size):
        v = x[i]
        y[i] = 0 if v <= 0 else v  # a NaN passes through, as in np.maximum (divergence must stay visible)


@numba.njit(cache=True, nogil=True)
def relu_backward(dout, y, dx):
    for i in range(dout.size):
        dx[i] = dout[i] if y[i] > 0 else 0


@numba.njit(cache=True, nogil=True)
def max_pool_2x2(x, y, arg, with_arg):
    """max_pool for the common 2x2 window, stride 2, no padding: the four reads unrolled, no bounds tests.

    Each window is reduced pairwise with selects, not branches, so that LLVM vectorizes the row: measured
    4x faster than a branch per read (3.9 to 0.96 ms for a (100, 16, 28, 28) input on one thread, arg-max
    included). The order of the comparisons keeps the reference's choice: the first maximum on ties, and
    the first NaN if any (x != x), so NaN propagates as np.max does."""
    n, c = x.shape[0], x.shape[1]
    oh, ow = y.shape[2], y.shape[3]
    for b in range(n):
        for ch in range(c):
            for oy in range(oh):
                r0 = x[b, ch, 2 * oy]
                r1 = x[b, ch, 2 * oy + 1]
                yr = y[b, ch, oy]
                ar = arg[b, ch, oy]
                for ox in range(ow):
                    v0, v1, v2, v3 = r0[2 * ox], r0[2 * ox + 1], r1[2 * ox], r1[2 * ox + 1]
                    first01 = v0 >= v1 or v0 != v0
                    first23 = v2 >= v3 or v2 != v2
                    m01 = v0 if first01 else v1
                    m23 = v2 if first23 else v3
                    top = m01 >= m23 or m01 != m01
                    yr[ox] = m01 if top else m23
                    if with_arg:
                        ar[ox] = (0 if first01 else 1) if top else (2 if first23 else 3)


@numba.njit(cache=True, nogil=True)
def max_pool_2x2_backward(dout, arg, dx):
    """dx for max_pool_2x2: each of a window's four cells gets dout where it held the maximum, else 0,
    written once (no zeroing pass, no scatter; 2.4x faster than the general kernel on one thread). A last
    row or column that no window covered (odd sizes) is zeroed."""
    n, c, h, w = dx.shape
    oh, ow = dout.shape[2], dout.shape[3]
    for b in range(n):
        for ch in range(c):
            for oy in range(oh):
                d = dout[b, ch, oy]
                k = arg[b, ch, oy]
                r0 = dx[b, ch, 2 * oy]
                r1 = dx[b, ch, 2 * oy + 1]
                for ox in range(ow):
                    v, kk = d[ox], k[ox]
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


@numba.njit(cache=True, nogil=True)
def bias_relu_pool_out(prod, b, ow, y):
    """y (n, O, OH//2, OW//2) = 2x2/2 max-pooling of max(prod + b, 0), prod (O, n, OH*OW): the inference pass
    of a convolution, its ReLU and the pooling after them, with the convolution's output never written.
    The ReLU lets a NaN through and the window keeps the first NaN, as the layers one by one do."""
    o, n = prod.shape[0], prod.shape[1]
    ph, pw = y.shape[2], y.shape[3]  # an odd last row or column of the convolution's output is in no window
    for i in range(n):
        for c in range(o):
            bc = b[c]
            src = prod[c, i]
            dst = y[i, c]
            for py in range(ph):
                r0 = 2 * py * ow
                r1 = r0 + ow
                for px in range(pw):
                    v0 = src[r0 + 2 * px] + bc
                    v1 = src[r0 + 2 * px + 1] + bc
                    v2 = src[r1 + 2 * px] + bc
                    v3 = src[r1 + 2 * px + 1] + bc
                    v0 = 0 if v0 <= 0 else v0
                    v1 = 0 if v1 <= 0 else v1
                    v2 = 0 if v2 <= 0 else v2
                    v3 = 0 if v3 <= 0 else v3
                    m01 = v0 if (v0 >= v1 or v0 != v0) else v1
                    m23 = v2 if (v2 >= v3 or v2 != v2) else v3
                    dst[py, px] = m01 if (m01 >= m23 or m01 != m01) else m23


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


# --- XNOR-popcount products for packed binary networks (deepnet/binary_inference.py) ------------------------
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


# --- waiting without sleeping, for the backend's threads (threads.Crew) ---------------------------------
# On a virtual machine a sleeping thread is slow to wake (the host must reschedule its virtual core): a thread
# pool whose threads sleep between tasks lost about 90 microseconds on every hand-off here, more than many of
# a small batch's layers take (benchmarks/README.md, "Threads that spin"). The crew's threads spin on a flag in memory
# instead, for a few milliseconds after each task, and hold no GIL while they do.
_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686", "x86")


@intrinsic
def _load_acquire(typingctx, arr, i):
    """arr[i] of a contiguous int64 array, read with an atomic acquire load: LLVM may not hoist it out of a loop
    (a plain load, with nothing in the loop that writes, would be read once and the loop never end)."""
    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        return builder.load_atomic(builder.gep(array.data, [args[1]]), "acquire", 8)
    return types.int64(arr, i), codegen


@intrinsic
def _pause(typingctx):
    """The x86 spin-wait hint (PAUSE: lets the core rest a few cycles and leaves the memory bus alone);
    nothing elsewhere."""
    def codegen(context, builder, signature, args):
        if _X86:
            fn = builder.module.declare_intrinsic("llvm.x86.sse2.pause", fnty=ir.FunctionType(ir.VoidType(), []))
            builder.call(fn, [])
        return context.get_dummy_value()
    return types.void(), codegen


@numba.njit(cache=True, nogil=True)
def spin_while_equal(flags, i, value, spins):
    """Wait while flags[i] == value, checking at most `spins` times (about 15 ns each here); returns flags[i]."""
    for _ in range(spins):
        now = _load_acquire(flags, i)
        if now != value:
            return now
        _pause()
    return _load_acquire(flags, i)
