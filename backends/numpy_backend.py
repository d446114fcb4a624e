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

    def matmul(self, a, b):
        # NumPy has no BLAS for float16 (about 0.5 GFLOP/s here): store and move
        # float16, but multiply in float32 and round the result, as tensor cores do.
        if a.dtype == np.float16 or b.dtype == np.float16:
            return np.matmul(a.astype(np.float32), b.astype(np.float32)).astype(np.float16)
        return np.matmul(a, b)

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
