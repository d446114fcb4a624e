"""Batch normalisation and local response normalisation (LRN), compiled (Numba).

Batch normalisation: each channel's statistics, normalisation, scale and shift (and the ReLU after it, when
the layer runner fuses one) in passes over that channel alone, and the mirror in backward. Arrays are (N, C,
P): P the pixels of a channel (1 for dense input). A thread takes a range of channels, so every sum is one
thread's, in one order: the results are deterministic. Sums are taken in float64.

LRN: a range of images per call, each image's passes over its channels' rows, in float64 inside.

Single-threaded and GIL-free, like the other kernels."""
from __future__ import annotations

import math

import numba
import numpy as np

from . import vectors  # noqa: F401  (first: the vector width the kernels below are compiled for)


# The per-channel sums, with their additions free to be reassociated and so vectorised: one float64
# accumulator in a sequential chain ran at one addition every four cycles, most of the layer's time. The order
# is then the compiler's, fixed for a given machine; each sum has one loop, entered the same way whether or not
# a ReLU was fused (tests/backends/test_fused.py holds the two equal bit for bit). Nothing else of fastmath: a
# NaN must reach the sums.
@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def _moments(x, c, x0):
    """(sum of x[:, c] - x0, sum of its squares) in float64."""
    n, _, p = x.shape
    s = 0.0
    s2 = 0.0
    for i in range(n):
        row = x[i, c]
        for k in range(p):
            d = row[k] - x0
            s += d
            s2 += d * d
    return s, s2


@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def _gradient_sums(d, xhat, c):
    """(sum of d, sum of d xhat[:, c]) in float64, d (N, P) one channel's gradient."""
    n, p = d.shape
    sd = 0.0
    sdx = 0.0
    for i in range(n):
        drow, hrow = d[i], xhat[i, c]
        for k in range(p):
            v = float(drow[k])
            sd += v
            sdx += v * hrow[k]
    return sd, sdx


@numba.njit(cache=True, nogil=True)
def batch_norm(x, gamma, beta, eps, relu, batch_stats, c0, c1, mean, var, inv_std, xhat, y):
    """Channels c0..c1-1: with batch_stats, mean and var (biased) from x in one pass, written out; else read from
    mean and var. xhat = (x - mean) / sqrt(var + eps), y = gamma xhat + beta (then max(y, 0) with relu)."""
    n, _, p = x.shape
    m = n * p
    for c in range(c0, c1):
        if batch_stats:
            # one pass for both moments, shifted by the channel's first value so that a large mean does not
            # cancel the variance away (float64 sums: var = E[(x - x0)^2] - (E[x - x0])^2)
            x0 = float(x[0, c, 0])  # float64: the differences and squares in double precision
            s, s2 = _moments(x, c, x0)
            shift = s / m
            mean[c] = x0 + shift
            var[c] = max(s2 / m - shift * shift, 0.0)
        mu = mean[c]
        inv = 1.0 / math.sqrt(var[c] + eps)
        inv_std[c] = inv
        g, b = gamma[c], beta[c]
        for i in range(n):
            for k in range(p):
                h = (x[i, c, k] - mu) * inv
                xhat[i, c, k] = h
                v = g * h + b
                y[i, c, k] = 0 if relu and v <= 0 else v  # a NaN passes through, as in the ReLU layer


@numba.njit(cache=True, nogil=True)
def batch_norm_backward(dy, xhat, relu_out, relu, gamma, inv_std, batch_stats, c0, c1, dgamma, dbeta, dx):
    """Channels c0..c1-1 of dx, dgamma, dbeta; with relu, dy counts only where the output was positive.
    With batch statistics: dx = gamma inv_std (dy - mean(dy) - xhat mean(dy xhat)); else gamma inv_std dy.
    Each channel's dy is first copied out, masked with relu (a select, which vectorises), so that the sums and
    dx run one loop either way."""
    n, _, p = dy.shape
    m = n * p
    d = np.empty((n, p), dy.dtype)
    for c in range(c0, c1):
        for i in range(n):
            src, out = dy[i, c], d[i]
            if relu:
                keep = relu_out[i, c]
                for k in range(p):
                    out[k] = src[k] if keep[k] > 0 else 0
            else:
                for k in range(p):
                    out[k] = src[k]
        sd, sdx = _gradient_sums(d, xhat, c)
        dbeta[c] = sd
        dgamma[c] = sdx
        scale = gamma[c] * inv_std[c]
        mean_d = sd / m if batch_stats else 0.0
        mean_dx = sdx / m if batch_stats else 0.0
        for i in range(n):
            drow, hrow, out = d[i], xhat[i, c], dx[i, c]
            for k in range(p):
                out[k] = scale * (drow[k] - mean_d - hrow[k] * mean_dx)


# --- local response normalisation (AlexNet): a range of images per call, in float64 inside ----------------------
@numba.njit(cache=True, nogil=True)
def _window_sums(a, size, acc, ch):
    """acc (P) = the sum of a[c] (C, P) over the `size` channels centred on channel ch, in float64."""
    half = size // 2
    acc[:] = 0.0
    for c in range(max(0, ch - half), min(a.shape[0], ch + half + 1)):
        row = a[c]
        for q in range(acc.size):
            acc[q] += row[q]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def lrn(x, size, alpha, beta, k, i0, i1, scale, factor, y):
    """Images i0..i1-1 of x (N, C, P): scale = k + (alpha / size) (window sum of x^2), factor = scale^(-beta),
    y = x factor; in float64 inside, stored in x's dtype. AlexNet's beta = 0.75 is 1 / sqrt(s sqrt(s)), which
    vectorises; a power does not (NumPy's float32 power was most of the reference layer's time)."""
    _, c, p = x.shape
    sq = np.empty((c, p))
    acc = np.empty(p)
    coef = alpha / size
    for i in range(i0, i1):
        for ch in range(c):
            src, dst = x[i, ch], sq[ch]
            for q in range(p):
                v = np.float64(src[q])
                dst[q] = v * v
        for ch in range(c):
            _window_sums(sq, size, acc, ch)
            xs, sc, fa, out = x[i, ch], scale[i, ch], factor[i, ch], y[i, ch]
            if beta == 0.75:
                for q in range(p):
                    s = k + coef * acc[q]
                    f = 1.0 / math.sqrt(s * math.sqrt(s))
                    sc[q] = s
                    fa[q] = f
                    out[q] = xs[q] * f
            else:
                for q in range(p):
                    s = k + coef * acc[q]
                    f = s ** -beta
                    sc[q] = s
                    fa[q] = f
                    out[q] = xs[q] * f


@numba.njit(cache=True, nogil=True, error_model="numpy")
def lrn_backward(dout, x, scale, factor, size, alpha, beta, i0, i1, dx):
    """Images i0..i1-1: dx = dout factor - (2 alpha beta / size) x (window sum of dout x factor / scale)."""
    _, c, p = x.shape
    t = np.empty((c, p))
    acc = np.empty(p)
    coef = 2.0 * alpha * beta / size
    for i in range(i0, i1):
        for ch in range(c):
            for q in range(p):
                t[ch, q] = np.float64(dout[i, ch, q]) * x[i, ch, q] * factor[i, ch, q] / scale[i, ch, q]
        for ch in range(c):
            _window_sums(t, size, acc, ch)
            for q in range(p):
                dx[i, ch, q] = dout[i, ch, q] * np.float64(factor[i, ch, q]) - coef * x[i, ch, q] * acc[q]
