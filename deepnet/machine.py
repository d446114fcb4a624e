"""What deepnet runs on, as data: the machine stamp kept with checkpoints, histories and benchmark results."""
from __future__ import annotations

import os
import platform

from .backends import current, usable_cores


def blas() -> list:
    """Every BLAS loaded in this process, with the kernel it runs (OpenBLAS's 'architecture')."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    return [{"library": p.get("internal_api"), "version": p.get("version"), "threads": p.get("num_threads"),
             "kernel": p.get("architecture")} for p in threadpool_info() if p.get("user_api") == "blas"]


def machine(backends_used=None) -> dict:
    """The machine stamp (checkpoints, histories, benchmark results): each backend's own describe()
    (threads and kernels on the CPU, memory and CUDA versions on a GPU), Python, NumPy, the BLAS kernel,
    the cores and the platform. Defaults to the active backend."""
    import numpy as np

    used = [current()] if backends_used is None else list(backends_used)
    return {**(used[0].describe() if used else {}), "backends": [bk.describe() for bk in used],
            "deepnet": __import__("deepnet").__version__, "python": platform.python_version(),
            "numpy": np.__version__, "platform": platform.platform(), "cpu_count": os.cpu_count(),
            "affinity": usable_cores(), "blas": blas()}
