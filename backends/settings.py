"""The environment variables that configure deepnet, read once at import.

DEEPNET_BACKEND  cpu (default, also when unset or empty) | gpu | auto | any registered backend (registry.py)
DEEPNET_DEVICE   CUDA device ordinal for the gpu backend (default 0)
DEEPNET_DTYPE    float32 (default) | float64 | float16
DEEPNET_NUMBA    on (default) | off: the CPU backend's compiled kernels (1/0, true/false, yes/no also)
DEEPNET_CONV     im2col (default) | cudnn | auto: the GPU backend's convolution (auto: cuDNN where it imports)
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
