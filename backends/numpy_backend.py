"""The CPU backend: NumPy on the host."""
from __future__ import annotations

import platform

import numpy as np

from .base import Backend


class NumpyBackend(Backend):
    xp = np
    name = "numpy"
    is_gpu = False

    def __init__(self, dtype=None, seed=None):
        super().__init__(dtype, seed)
        self.device_name = f"CPU ({_cpu_model()})"

    def to_device(self, a, dtype=None):
        if hasattr(a, "__cuda_array_interface__") and hasattr(a, "get"):
            a = a.get()  # a CuPy array handed to the CPU backend: copy it to the host
        return np.asarray(a, dtype=dtype)

    def matmul(self, a, b, out=None):
        # NumPy has no BLAS for float16 (about 0.5 GFLOP/s here): store and move
        # float16, but multiply in float32 and round the result, as tensor cores do.
        if a.dtype == np.float16 or b.dtype == np.float16:
            return np.matmul(a.astype(np.float32), b.astype(np.float32)).astype(np.float16)
        return super().matmul(a, b, out=out)

    def max_pool(self, x, kh, kw, stride, pad=0):
        if not _tiles(x.shape, kh, kw, stride, pad):
            return super().max_pool(x, kh, kw, stride, pad)
        # Windows that tile the image (the usual 2x2, stride 2): each window offset is a strided
        # view of x, so the max and the first arg-max are a few element-wise passes, with no
        # patch array and no transposed copy.
        n, c, h, w = x.shape
        views = _offset_views(x, kh, kw)
        y = views[0].copy()
        for v in views[1:]:
            np.maximum(y, v, out=y)
        arg = np.full(y.shape, len(views) - 1, dtype=np.int8 if len(views) <= 127 else np.int32)
        for k in range(len(views) - 2, -1, -1):  # last offset first, so the first maximum wins
            np.copyto(arg, k, where=views[k] == y)
        return y, arg

    def max_pool_backward(self, dout, arg, x_shape, kh, kw, stride, pad=0):
        if not _tiles(x_shape, kh, kw, stride, pad):
            return super().max_pool_backward(dout, arg, x_shape, kh, kw, stride, pad)
        dx = np.empty(x_shape, dtype=dout.dtype)
        for k, view in enumerate(_offset_views(dx, kh, kw)):
            np.multiply(dout, arg == k, out=view)
        return dx

    def to_numpy(self, a) -> np.ndarray:
        if hasattr(a, "__cuda_array_interface__") and hasattr(a, "get"):
            return a.get()
        return np.array(a, copy=True)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _offset_views(a, kh, kw) -> list:
    """For tiling windows: one strided (N, C, OH, OW) view of `a` per window offset k = i*KW + j."""
    n, c, h, w = a.shape
    six = a.reshape(n, c, h // kh, kh, w // kw, kw)
    return [six[:, :, :, i, :, j] for i in range(kh) for j in range(kw)]


def _tiles(shape, kh, kw, stride, pad) -> bool:
    """Do the windows tile the image exactly (no overlap, no padding, no remainder)?"""
    return pad == 0 and kh == kw == stride and shape[2] % kh == 0 and shape[3] % kw == 0
