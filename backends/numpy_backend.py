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
