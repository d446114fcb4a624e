"""What the tests of the CPU backend's fast 3x3 convolutions (Winograd's, the direct one) check against: the
reference convolution in float64, and their data."""
import numpy as np

from deepnet import backends
from deepnet.backends.base import Backend


def reference(x, w, b, pad, dy, relu=False):
    """The reference backend's convolution and its gradients in float64 (a fused ReLU's mask applied to dy)."""
    bk = backends.create("cpu", dtype="float64")
    f64 = [a.astype(np.float64) for a in (x, w, b, dy)]
    y, context = Backend.conv2d(bk, *f64[:3], 1, pad)
    dy = f64[3] * (y > 0) if relu else f64[3]
    dx, dw, db = Backend.conv2d_backward(bk, dy, f64[1], context, 1, pad)
    return (np.maximum(y, 0) if relu else y), dx, dw, db


def data(shape, o, pad, dtype, seed=0):
    """(x, w, b, dy) for a 3x3 stride-1 convolution of x (shape) into o channels, padded by pad."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    w = (rng.standard_normal((o, shape[1], 3, 3)) / np.sqrt(9 * shape[1])).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    oh, ow = shape[2] + 2 * pad - 2, shape[3] + 2 * pad - 2
    return x, w, b, rng.standard_normal((shape[0], o, oh, ow)).astype(dtype)
