"""The backend interface, with plain array-module reference code.

Everything that differs between NumPy and CuPy lives behind this class: device
transfer, synchronisation, random numbers, timing, and the kernels the layers
need (im2col/col2im, scatter-add). The code here is written against `self.xp`
only, so it runs on either library; a backend overrides a method only where it
does the job faster or differently.
"""
from __future__ import annotations

import time

import numpy as np


class Timer:
    """Wall-clock timer for host work: `with backend.timer() as t: ...; t.seconds`."""

    def __init__(self, backend: "Backend"):
        self.backend = backend
        self.seconds = float("nan")

    def __enter__(self):
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self._start
        return False


class Random:
    """The one seeded generator deepnet draws from.

    Numbers are drawn on the host with NumPy's PCG64 and then sent to the device,
    so a seed gives the same weights on the CPU and the GPU. Its state is a plain
    dict, so checkpoints can store it as JSON.
    """

    def __init__(self, backend: "Backend", seed: int | None = None):
        self.backend = backend
        self.seed(seed)

    def seed(self, seed: int | None) -> None:
        self._gen = np.random.default_rng(seed)

    def normal(self, shape, scale: float = 1.0, dtype=None):
        dtype = np.dtype(dtype or self.backend.dtype)
        draw = self._gen.standard_normal(shape, dtype=np.float64)
        return self.backend.to_device((draw * scale).astype(dtype))

    def uniform(self, shape, dtype=None):
        """Uniform on [0, 1)."""
        dtype = np.dtype(dtype or self.backend.dtype)
        work = dtype if dtype in (np.float32, np.float64) else np.float32
        return self.backend.to_device(self._gen.random(shape, dtype=work).astype(dtype, copy=False))

    def permutation(self, n: int):
        return self.backend.to_device(self._gen.permutation(n))

    def integers(self, low: int, high: int, size=None):
        return self.backend.to_device(self._gen.integers(low, high, size=size))

    @property
    def host(self) -> np.random.Generator:
        """The host generator, for draws that stay on the CPU (data order, augmentation parameters)."""
        return self._gen

    def get_state(self) -> dict:
        return self._gen.bit_generator.state

    def set_state(self, state: dict) -> None:
        self._gen.bit_generator.state = state


class Backend:
    """One array library on one device. Subclasses set `xp`, `name`, `device_name`."""

    xp = np
    name = "base"
    device_name = "host"
    is_gpu = False

    def __init__(self, dtype=None, seed: int | None = None):
        from . import settings

        self.dtype = settings.parse_dtype(dtype) if dtype is not None else settings.default_dtype()
        self.rng = Random(self, seed)

    def __repr__(self) -> str:
        return f"<deepnet backend {self.name} on {self.device_name}, dtype {self.dtype.name}>"

    # --- arrays and devices -------------------------------------------------
    @property
    def ndarray(self) -> type:
        return self.xp.ndarray

    def is_array(self, a) -> bool:
        return isinstance(a, self.xp.ndarray)

    def to_device(self, a, dtype=None):
        """An array on this backend's device (no copy if it is already there in that dtype)."""
        return self.xp.asarray(a, dtype=dtype)

    def to_numpy(self, a) -> np.ndarray:
        """A NumPy copy on the host; never moves or alters `a` itself."""
        return np.array(a, copy=True)

    def check_array(self, a, where: str) -> None:
        """A clear TypeError when an array from another library (or none) reaches a layer."""
        if not isinstance(a, self.xp.ndarray):
            kind = f"{type(a).__module__}.{type(a).__name__}"
            raise TypeError(
                f"{where} expected a {self.xp.__name__}.ndarray (deepnet backend {self.name!r} on {self.device_name}) "
                f"but got {kind}; move inputs with deepnet.backends.current().to_device(x)"
            )

    def synchronize(self) -> None:
        """Wait for queued device work to finish (nothing to wait for on the host)."""

    def timer(self) -> Timer:
        return Timer(self)

    def memory_info(self) -> dict:
        return {}

    # --- kernels ------------------------------------------------------------
    def matmul(self, a, b):
        """a @ b (batched over leading axes), in the inputs' dtype."""
        return self.xp.matmul(a, b)

    @staticmethod
    def conv_output_size(size: int, kernel: int, stride: int, pad: int) -> int:
        out = (size + 2 * pad - kernel) // stride + 1
        if out < 1:
            raise ValueError(
                f"a {kernel}-wide window with stride {stride} and pad {pad} does not fit an input of size {size}"
            )
        return out

    def im2col(self, x, kh: int, kw: int, stride: int = 1, pad: int = 0, fill: float = 0.0):
        """Patches of NCHW images as a (N, C, KH, KW, OH, OW) array.

        col[n, c, i, j, y, x] = x_padded[n, c, y*stride + i, x*stride + j]; it
        reshapes without a copy to (N, C*KH*KW, OH*OW), so a convolution is one
        batched matrix product. `fill` is the padding value (-inf for max-pooling).
        """
        xp = self.xp
        n, c, h, w = x.shape
        oh = self.conv_output_size(h, kh, stride, pad)
        ow = self.conv_output_size(w, kw, stride, pad)
        if pad:
            x = xp.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant", constant_values=fill)
        col = xp.empty((n, c, kh, kw, oh, ow), dtype=x.dtype)
        for i in range(kh):
            for j in range(kw):
                col[:, :, i, j] = x[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride]
        return col

    def col2im(self, col, x_shape, kh: int, kw: int, stride: int = 1, pad: int = 0):
        """The adjoint of im2col: sums each patch entry back onto its pixel.

        Deterministic: a loop over the KH*KW offsets, each a dense strided add.
        """
        xp = self.xp
        n, c, h, w = x_shape
        oh, ow = col.shape[4], col.shape[5]
        img = xp.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=col.dtype)
        for i in range(kh):
            for j in range(kw):
                img[:, :, i : i + stride * oh : stride, j : j + stride * ow : stride] += col[:, :, i, j]
        if pad:
            img = img[:, :, pad : pad + h, pad : pad + w]
        return img

    def scatter_add(self, a, indices, values) -> None:
        """a[indices] += values, accumulating repeated indices (in place)."""
        self.xp.add.at(a, indices, values)
