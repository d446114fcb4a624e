"""`deepnet info`: what deepnet runs on."""
from __future__ import annotations

import os
import platform
import sys

from ..backends import current, settings, statuses
from ..machine import blas, usable_cores


def report() -> str:
    import numpy as np

    bk = current()
    lines = [
        f"deepnet      {__import__('deepnet').__version__}",
        f"backend      {bk.name} (DEEPNET_BACKEND={settings.given('DEEPNET_BACKEND') or 'unset'})",
        f"device       {bk.device_name}",
        f"dtype        {bk.dtype.name} (DEEPNET_DTYPE={settings.given('DEEPNET_DTYPE') or 'unset'})",
        f"python       {platform.python_version()} ({sys.executable})",
        f"numpy        {np.__version__}",
    ]
    for name, status in statuses().items():  # every registered backend, usable or not
        lines.append(f"{name + ' backend':<12} {status}")
    lines.append(f"cpu          {os.cpu_count()} logical cores, {usable_cores()} usable")
    about = bk.describe()
    if "threads" in about:
        threads = about["threads"]
        lines.append(f"threads      {threads} (DEEPNET_THREADS={settings.given('DEEPNET_THREADS') or 'unset'})"
                     + ("; BLAS runs on one thread inside them once work is split" if threads > 1 else ""))
    if "kernels" in about:
        lines.append("kernels      " + about["kernels"] + (" (pip install 'deepnet[fast]' for the compiled ones)"
                                                            if about["kernels"] == "plain NumPy" else ""))
    if "conv_chunk_bytes" in about:
        lines.append(f"conv chunks  {about['conv_chunk_bytes'] / 2**20:g} MB of patches a chunk "
                     f"(from the CPU's caches)")
    pools = blas()
    for pool in pools:
        lines.append(f"blas         {pool['library']} {pool['version']} ({pool['threads']} threads, "
                     f"{pool['kernel'] or '?'})")
    if not pools:
        lines.append("blas         (not loaded, or threadpoolctl is missing)")
    if "gpu_memory_total_bytes" in about:
        lines.append(f"gpu memory   {about['gpu_memory_free_bytes'] / 2**30:.1f} GiB free of "
                     f"{about['gpu_memory_total_bytes'] / 2**30:.1f} GiB")
        lines.append(f"cuda         runtime {about['cuda_runtime']}, driver {about['cuda_driver']}")
    return "\n".join(lines)


NAME = "info"
HELP = "backend, device, dtype, versions and BLAS"


def add_arguments(p) -> None:
    """No options."""


def run(args) -> int:
    print(report())
    return 0
