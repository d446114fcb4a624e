"""Patches in the chunked convolution's layout, compiled (Numba): im2col and col2im as plain loops over a
padded scratch copy. Single-threaded and GIL-free: the backend's threads (threads.py) call them on separate
chunks of the batch. The plain NumPy code (base.Backend.im2col/col2im) is the reference they are tested
against."""
from __future__ import annotations

import numba

from . import vectors  # noqa: F401  (first: the vector width the kernels below are compiled for)

# --- patches in the layout col[c, i, j, b, y, x] ------------------------------------------------------
# The chunked convolution's layout (backends/cpu/conv.py): rows ordered (C, KH, KW) like
# W.reshape(O, -1), the images of a chunk side by side in each row, so one GEMM covers the chunk.
# Given the images as a (C, N, H, W) view instead, the same loops produce the reference layout
# (N, KH, KW, C, OH, OW) of base.Backend.im2col. The images are first copied into a padded scratch
# array `xpad` (N, C, H + 2P, W + 2P), so that every patch row is a plain strided copy with no bounds
# test, faster than testing each element against the image's edges (benchmarks/results/cpu_tuning.md),
# and col2im likewise adds into a padded scratch and crops it.

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
    if pad:
        _pad_into(x, pad, fill, xpad)
        _patches(xpad, kh, kw, stride, col)
    else:  # no border to add: the patches straight from x (ResNet's 1x1 stride-2 shortcuts copied all of x
        _patches(x, kh, kw, stride, col)  # first, 3x slower)
    return col


@numba.njit(cache=True, nogil=True)
def _patches(xpad, kh, kw, stride, col):
    """col[c, i, j, b, y, x] = xpad[b, c, y stride + i, x stride + j]."""
    c, n = col.shape[0], col.shape[3]
    oh, ow = col.shape[4], col.shape[5]
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


# col2im_rows is im2col_rows's adjoint and _add_patches keeps _patches's loop nest, the copy turned into an add
# (the duplicates tool pairs the two by shape; one loop with a direction flag would put a branch in the
# innermost loop).
@numba.njit(cache=True, nogil=True)
def col2im_rows(col, stride, pad, img, xpad):
    """img = the sum of each patch entry onto its pixel, in a fixed order (deterministic); xpad is scratch
    of shape (N, C, H + 2P, W + 2P) for img's (N, C, H, W)."""
    if not pad:  # no border to crop: added straight into img
        img[:] = 0
        _add_patches(col, stride, img)
        return img
    h, w = img.shape[2], img.shape[3]
    xpad[:] = 0
    _add_patches(col, stride, xpad)
    for b in range(img.shape[0]):
        for ch in range(img.shape[1]):
            for yy in range(h):
                for xx in range(w):
                    img[b, ch, yy, xx] = xpad[b, ch, yy + pad, xx + pad]
    return img


@numba.njit(cache=True, nogil=True)
def _add_patches(col, stride, xpad):
    """xpad[b, c, y stride + i, x stride + j] += col[c, i, j, b, y, x]: _patches's adjoint."""
    c, kh, kw, n, oh, ow = col.shape
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
