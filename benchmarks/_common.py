"""Shared by the benchmark scripts: the machine stamp, honest timing, and result files."""
from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

# Figure 8.14's layer types, and the order they are drawn in.
GROUPS = ("conv", "pool", "fc", "norm", "relu", "dropout", "softmax/loss", "other")
_GROUP_OF = {"Convolution": "conv", "Pooling": "pool", "Affine": "fc", "LRN": "norm", "BatchNormalization": "norm",
             "Relu": "relu", "Dropout": "dropout", "SoftmaxWithLoss": "softmax/loss"}


def group_of(layer) -> str:
    """The book's layer type for a layer object or class name."""
    name = layer if isinstance(layer, str) else type(layer).__name__
    return _GROUP_OF.get(name, "other")


def cpu_model() -> str:
    from deepnet.backends.numpy_backend import cpu_model as model

    return model()


def machine(backends_used=()) -> dict:
    """CPU model and cores, GPU name where one was used, and the versions that matter."""
    info = {
        "cpu": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "cpu_cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [f"{p.get('internal_api')} {p.get('version')} ({p.get('num_threads')} threads)"
                        for p in threadpool_info() if p.get("user_api") == "blas"]
    except ImportError:
        pass
    for bk in backends_used:
        if bk.is_gpu:
            info["gpu"] = bk.device_name
            info["cupy"] = bk.xp.__version__
            info["cuda_runtime"] = bk.xp.cuda.runtime.runtimeGetVersion()
    torch = try_torch()
    if torch is not None:
        info["torch"] = torch.__version__
    from deepnet.backends.cpu_workers import default_threads
    from deepnet.backends.numpy_backend import _numba

    info["deepnet_cpu_threads"] = default_threads()
    kernels = _numba()
    info["numba"] = kernels.numba.__version__ if kernels is not None and kernels.ENABLED else None
    import deepnet

    info["deepnet"] = deepnet.__version__
    return info


def try_torch():
    """PyTorch if importable (a benchmark-only comparison, never a deepnet dependency), else None."""
    try:
        import torch
    except Exception:
        return None
    return torch


def open_backends(names, dtype):
    """Backends for the requested names; a GPU that cannot open is reported and skipped, not faked."""
    from deepnet import backends

    out = []
    for name in names:
        try:
            out.append(backends.create(name, dtype=dtype))
        except backends.BackendUnavailable as exc:
            print(f"skipping backend {name}: {exc}", file=sys.stderr)
    if not out:
        raise SystemExit("no backend could be opened")
    return out


def median(xs) -> float:
    return float(statistics.median(xs))


def write_json(path, payload) -> Path:
    from deepnet import io

    path = Path(path)
    io.write_json(path, payload)
    return path


def write_results(out, name, payload, draw=None) -> Path:
    """`name`.json under `out`, and `name`.png drawn by draw(path) when matplotlib is installed."""
    json_path = write_json(Path(out) / f"{name}.json", payload)
    print(f"wrote {json_path}")
    if draw is not None:
        png = Path(out) / f"{name}.png"
        try:
            draw(png)
            print(f"wrote {png}")
        except ImportError:
            print("(no PNG: matplotlib is not installed; pip install 'deepnet[plot]')")
    return json_path


def stamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def save_png(fig, path) -> None:
    """Write a matplotlib figure atomically and close it."""
    import matplotlib.pyplot as plt

    from deepnet import io

    fig.tight_layout()
    with io.atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def label(bk) -> str:
    return "GPU" if bk.is_gpu else "CPU"
