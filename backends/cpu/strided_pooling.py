"""Max-pooling in plain NumPy, over strided views: each window offset (i, j) is one strided view of the
(padded) image, so the max and the first arg-max are KH*KW element-wise passes over the output, with no
patch array. The CPU backend runs this for any window without Numba, and with Numba for the windows its
compiled kernels (pooling.py: the 2x2/2 window both ways, any window backward) do not cover: a general
compiled forward measured no faster than these passes, while the compiled any-window backward is several
times faster than the strided one (benchmarks/results/cpu_tuning.md)."""
from __future__ import annotations

import numpy as np


def _offset_views(a, kh, kw, stride, oh, ow) -> list:
    """One strided (N, C, OH, OW) view of `a` per window offset k = i*KW + j."""
    return [a[:, :, i : i + stride * (oh - 1) + 1 : stride, j : j + stride * (ow - 1) + 1 : stride]
            for i in range(kh) for j in range(kw)]


def max_pool(x, kh, kw, stride, pad, y, arg) -> None:
    """Max-pool x into y, and the offset of each window's first maximum into arg unless it is None."""
    oh, ow = y.shape[2], y.shape[3]
    if pad:
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=-np.inf)
    views = _offset_views(x, kh, kw, stride, oh, ow)
    np.copyto(y, views[0])
    for v in views[1:]:
        np.maximum(y, v, out=y)
    if arg is not None:
        arg.fill(len(views) - 1)
        for k in range(len(views) - 2, -1, -1):  # last offset first, so the first maximum wins
            np.copyto(arg, k, where=views[k] == y)


def max_pool_backward(dout, arg, kh, kw, stride, pad, dx) -> None:
    """dx for max-pooling: each window's gradient to its first maximum."""
    n, c, h, w = dx.shape
    oh, ow = dout.shape[2], dout.shape[3]
    tiles = pad == 0 and kh == kw == stride and h == oh * kh and w == ow * kw
    full = dx if tiles or not pad else np.empty((n, c, h + 2 * pad, w + 2 * pad), dtype=dx.dtype)
    if not tiles:
        full.fill(0)
    for k, view in enumerate(_offset_views(full, kh, kw, stride, oh, ow)):
        if tiles:  # the views partition dx: write each once
            np.multiply(dout, arg == k, out=view)
        else:  # overlapping windows: a deterministic strided add per offset
            view += dout * (arg == k)
    if full is not dx:
        dx[...] = full[:, :, pad : pad + h, pad : pad + w]
