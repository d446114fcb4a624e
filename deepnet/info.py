"""`deepnet info`: what deepnet runs on."""
from __future__ import annotations

import os
import platform
import sys


def report() -> str:
    import numpy as np

    from .backends import current, statuses

    bk = current()
    lines = [
        f"deepnet      {__import__('deepnet').__version__}",
        f"backend      {bk.name} (DEEPNET_BACKEND={os.environ.get('DEEPNET_BACKEND', '') or 'unset'})",
        f"device       {bk.device_name}",
        f"dtype        {bk.dtype.name} (DEEPNET_DTYPE={os.environ.get('DEEPNET_DTYPE', '') or 'unset'})",
        f"python       {platform.python_version()} ({sys.executable})",
        f"numpy        {np.__version__}",
    ]
    for name, status in statuses().items():  # every registered backend, usable or not
        lines.append(f"{name + ' backend':<12} {status}")
    lines.append(f"cpu          {os.cpu_count()} logical cores, {len(os.sched_getaffinity(0))} usable"
                 if hasattr(os, "sched_getaffinity") else f"cpu          {os.cpu_count()} logical cores")
    about = bk.describe()
    if "threads" in about:
        threads = about["threads"]
        lines.append(f"threads      {threads} (DEEPNET_THREADS={os.environ.get('DEEPNET_THREADS', '') or 'unset'})"
                     + ("; BLAS runs on one thread inside them once work is split" if threads > 1 else ""))
    if "kernels" in about:
        lines.append("kernels      " + about["kernels"] + (" (pip install 'deepnet[fast]' for the compiled ones)"
                                                            if about["kernels"] == "plain NumPy" else ""))
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            if pool.get("user_api") == "blas":
                lines.append(f"blas         {pool.get('internal_api')} {pool.get('version')} "
                             f"({pool.get('num_threads')} threads, {pool.get('architecture', '?')})")
    except ImportError:
        lines.append("blas         (install threadpoolctl to see it)")
    if "gpu_memory_total_bytes" in about:
        lines.append(f"gpu memory   {about['gpu_memory_free_bytes'] / 2**30:.1f} GiB free of "
                     f"{about['gpu_memory_total_bytes'] / 2**30:.1f} GiB")
        lines.append(f"cuda         runtime {about['cuda_runtime']}, driver {about['cuda_driver']}")
    return "\n".join(lines)
