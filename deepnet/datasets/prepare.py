"""The one place images become model input: x / 255 in the model's dtype, on the backend's device.

The uint8 array travels to the device first (a quarter of float32's bytes), then is
converted there.
"""
from __future__ import annotations

from ..backends import current

SCALE = 1.0 / 255.0  # as the book: pixels in [0, 1]


def to_model_input(x_uint8, dtype=None):
    bk = current()
    dev = bk.to_device(x_uint8)
    out = dev.astype(dtype or bk.dtype)
    out *= SCALE
    return out
