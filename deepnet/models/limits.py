"""Sane bounds on what names a model, checked before anything is built.

A model's name, input shape and class count come from the command line or from a file's metadata,
which a hostile or corrupt file controls: `resnet600000002` or a 200000x200000 input would make
the model's construction eat all memory before any later check could run. These bounds are far
above every model deepnet ships (AlexNet's 3x227x227, VGG-16's 3x224x224, ResNet-1202) and far
below what a machine cannot hold.
"""
from __future__ import annotations

import math

from ..errors import InvalidValue
from ..validation import whole

MAX_CHANNELS = 4096
MAX_SIDE = 4096
MAX_PIXELS = 1 << 24  # per sample, over all channels
MAX_CLASSES = 100_000
MAX_DEPTH = 1202  # ResNet-1202, the deepest in He et al. (2015)
MAX_PARAMETERS = 1 << 31  # 8 GiB of float32


def check_input_shape(shape, source: str = "input_shape") -> tuple:
    """A (C, H, W) tuple of positive ints within the bounds, or a clear InvalidValue naming the parameter `source`."""
    try:
        shape = tuple(shape)
        ok = len(shape) == 3 and all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape)
    except TypeError:
        ok = False
    if not ok:
        raise InvalidValue(f"`{source}` must be three positive integers C, H, W; got {shape!r}", parameters=(source,))
    c, h, w = shape
    if c > MAX_CHANNELS or h > MAX_SIDE or w > MAX_SIDE or math.prod(shape) > MAX_PIXELS:
        raise InvalidValue(f"`{source}` {c}x{h}x{w} is beyond what deepnet builds (at most {MAX_CHANNELS} channels, "
                           f"{MAX_SIDE} pixels a side and {MAX_PIXELS:,} values per sample)", parameters=(source,))
    return shape


def parse_input_shape(text: str, source: str = "input_shape") -> tuple:
    """'1x28x28' -> (1, 28, 28), checked."""
    try:
        shape = tuple(int(v) for v in str(text).lower().split("x"))
    except ValueError:
        shape = None
    if shape is None or len(shape) != 3:
        raise InvalidValue(f"`{source}` must look like CxHxW, e.g. 1x28x28; got {text!r}", parameters=(source,))
    return check_input_shape(shape, source)


def check_classes(n, source: str = "num_classes") -> int:
    return whole(1, MAX_CLASSES).check(source, n)
