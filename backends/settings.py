"""Every environment variable that configures deepnet, each read by one function here, which checks it and says
what it expected (a ConfigError); nothing else in deepnet reads os.environ for them. Each is read when the value
is needed (the backend's when it opens, a data directory when data is loaded), so a process can change one
before that.

DEEPNET_BACKEND    cpu (default, also when unset or empty) | gpu | auto | any registered backend (registry.py)
DEEPNET_DEVICE     CUDA device ordinal for the gpu backend (default 0)
DEEPNET_DTYPE      float32 (default) | float64 | float16
DEEPNET_NUMBA      on (default) | off: the CPU backend's compiled kernels (1/0, true/false, yes/no also)
DEEPNET_SPIN       on (default) | off: the CPU backend's threads spin between tasks, or sleep
DEEPNET_WINOGRAD   on (default) | off: the CPU backend's Winograd F(4x4, 3x3), F(2x2, 3x3) for wide 3x3 stride-1 layers
DEEPNET_DIRECT     on (default) | off: the CPU backend's direct 3x3 convolution for narrow layers on wide images
DEEPNET_WIDE_VECTORS  on (default) | off: the CPU backend's compiled kernels prefer 512-bit vectors on AVX-512
DEEPNET_THREADS    the CPU backend's thread count (default: the usable cores)
DEEPNET_CONV       im2col (default) | cudnn | auto: the GPU backend's convolution (auto: cuDNN where it imports)
DEEPNET_DATA       where data sets are cached (default: the platform's user cache directory)
DEEPNET_MNIST_DIR  a directory holding MNIST's four IDX .gz files, tried first
DEEPNET_MNIST_MIRRORS  the MNIST mirrors to try, separated by spaces (`none`: none)
DEEPNET_FASHION_MNIST_DIR  a directory holding Fashion-MNIST's IDX files
"""
from __future__ import annotations

import os

import numpy as np

from .errors import ConfigError
from .registry import names

DTYPES = ("float32", "float64", "float16")


def _read(name: str, default: str) -> str:
    return (os.environ.get(name) or "").strip().lower() or default


def backend_name() -> str:
    value = _read("DEEPNET_BACKEND", "cpu")
    if value not in names():
        raise ConfigError(
            f"DEEPNET_BACKEND={os.environ.get('DEEPNET_BACKEND')!r} is not a backend; "
            f"valid values: {', '.join(names())} (unset or empty means cpu)"
        )
    return value


CONV_IMPLEMENTATIONS = ("im2col", "cudnn", "auto")


def conv_implementation() -> str:
    value = _read("DEEPNET_CONV", "im2col")
    if value not in CONV_IMPLEMENTATIONS:
        raise ConfigError(f"DEEPNET_CONV={os.environ.get('DEEPNET_CONV')!r} is not a convolution implementation; "
                          f"valid values: {', '.join(CONV_IMPLEMENTATIONS)} (unset or empty means im2col)")
    return value


def device_ordinal() -> int:
    raw = _read("DEEPNET_DEVICE", "0")
    try:
        ordinal = int(raw)
    except ValueError:
        ordinal = -1
    if ordinal < 0:
        raise ConfigError(f"DEEPNET_DEVICE={raw!r} is not a CUDA device ordinal; expected 0, 1, 2, ...")
    return ordinal


SWITCH_ON = ("1", "true", "yes", "on")
SWITCH_OFF = ("0", "false", "no", "off")


def switch(name: str, default: bool) -> bool:
    """An on/off environment variable: unset or empty gives `default`; anything unknown is an error."""
    raw = _read(name, "")
    if not raw:
        return default
    if raw in SWITCH_ON:
        return True
    if raw in SWITCH_OFF:
        return False
    raise ConfigError(f"{name}={os.environ.get(name)!r} is not on or off; valid values: "
                      f"{', '.join(SWITCH_ON)} (on) or {', '.join(SWITCH_OFF)} (off)")


def parse_dtype(value, source: str = "dtype") -> np.dtype:
    """The floating dtype named by `value`, or a ConfigError listing the choices."""
    if isinstance(value, np.dtype) or isinstance(value, type):
        name = np.dtype(value).name
    else:
        name = str(value).strip().lower()
    if name == "bfloat16":
        raise ConfigError(f"{source}={value!r}: no deepnet backend supports bfloat16 (NumPy has no bfloat16 "
                          f"type, and CuPy's arrays follow NumPy's); use float16 for mixed precision")
    if name not in DTYPES:
        raise ConfigError(f"{source}={value!r} is not a supported dtype; valid values: {', '.join(DTYPES)}")
    return np.dtype(name)


def default_dtype() -> np.dtype:
    raw = _read("DEEPNET_DTYPE", "float32")
    return parse_dtype(raw, source="DEEPNET_DTYPE")


def given(name: str) -> str:
    """The variable's value as given (stripped), or '' when unset: for reports such as `deepnet info`."""
    return (os.environ.get(name) or "").strip()


def threads() -> int | None:
    """DEEPNET_THREADS as a thread count, or None when unset (the backend then takes the usable cores)."""
    raw = given("DEEPNET_THREADS")
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"DEEPNET_THREADS={raw!r} is not a thread count; expected 1, 2, 3, ...")
    return value


def spin() -> bool:
    return switch("DEEPNET_SPIN", default=True)


def winograd() -> bool:
    return switch("DEEPNET_WINOGRAD", default=True)


def direct() -> bool:
    return switch("DEEPNET_DIRECT", default=True)


def wide_vectors() -> bool:
    return switch("DEEPNET_WIDE_VECTORS", default=True)


def directory(name: str) -> str | None:
    """A directory variable (DEEPNET_DATA, DEEPNET_MNIST_DIR, DEEPNET_FASHION_MNIST_DIR), or None when unset."""
    return given(name) or None


def mnist_mirrors(default) -> list[str]:
    """DEEPNET_MNIST_MIRRORS split on spaces; `none` or empty for none; `default` when unset."""
    raw = os.environ.get("DEEPNET_MNIST_MIRRORS")
    if raw is None:
        return list(default)
    return [] if raw.strip().lower() in ("", "none") else raw.split()
