"""The chapter's deeper designs: VGG, ResNet (with a plain twin) and a small GoogLeNet."""
from __future__ import annotations

import math

from ..layers import (Affine, BatchNormalization, Concat, Convolution, Dropout, GlobalAveragePooling, Pooling, Relu,
                      Residual)
from ..layers.base import output_shape_of
from .sequential import Sequential

VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
VGG_SMALL = (32, 32, "M", 64, 64, "M", 128, 128, "M")  # for 28x28 or 32x32 inputs


class VGG(Sequential):
    """Stacks of 3x3 convolutions (pad 1) with ReLU, 2x2 max-pooling at each "M", then fully connected layers.

    VGG(VGG16, (3, 224, 224), 1000) is VGG-16 (Simonyan & Zisserman, 2014): 138,357,544 parameters.
    """

    def __init__(self, config=VGG_SMALL, input_shape=(1, 28, 28), num_classes: int = 10, hidden=(256,),
                 dropout: float = 0.5, batchnorm: bool = False, dtype=None):
        layers, c = [], input_shape[0]
        for item in config:
            if item == "M":
                layers.append(Pooling(2, stride=2))
                continue
            layers.append(Convolution(c, int(item), 3, pad=1, dtype=dtype))
            if batchnorm:
                layers.append(BatchNormalization(int(item), dtype=dtype))
            layers.append(Relu())
            c = int(item)
        width = int(math.prod(output_shape_of(layers, input_shape)))
        for h in hidden:
            layers += [Affine(width, h, "he", dtype), Relu(), Dropout(dropout)]
            width = h
        layers.append(Affine(width, num_classes, "he", dtype))
        super().__init__(layers, input_shape=input_shape)


def vgg16(input_shape=(3, 224, 224), num_classes: int = 1000, dtype=None) -> VGG:
    return VGG(VGG16, input_shape, num_classes, hidden=(4096, 4096), dtype=dtype)


def basic_block(cin: int, cout: int, stride: int, skip: bool, dtype=None) -> Residual:
    """conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut (a strided 1x1 conv + BN when the shape changes)."""
    branch = [Convolution(cin, cout, 3, stride=stride, pad=1, dtype=dtype), BatchNormalization(cout, dtype=dtype),
              Relu(), Convolution(cout, cout, 3, pad=1, dtype=dtype), BatchNormalization(cout, dtype=dtype)]
    shortcut = None
    if stride != 1 or cin != cout:
        shortcut = [Convolution(cin, cout, 1, stride=stride, dtype=dtype), BatchNormalization(cout, dtype=dtype)]
    return Residual(branch, shortcut, skip=skip)


class ResNet(Sequential):
    """ResNet for small images (He et al., 2015, section 4.2): depth = 6n + 2 weight layers.

    conv3x3 16 - three stages of n basic blocks (widths 16, 32, 64; stride 2 into stages 2 and 3)
    - global average pooling - affine. plain=True drops every shortcut (same weights otherwise).
    """

    def __init__(self, depth: int = 20, input_shape=(1, 28, 28), num_classes: int = 10, widths=(16, 32, 64),
                 plain: bool = False, dtype=None):
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"ResNet depth must be 6n + 2 (8, 14, 20, 32, 44, ...); got {depth}")
        n = (depth - 2) // 6
        layers = [Convolution(input_shape[0], widths[0], 3, pad=1, dtype=dtype),
                  BatchNormalization(widths[0], dtype=dtype), Relu()]
        cin = widths[0]
        for stage, cout in enumerate(widths):
            for b in range(n):
                stride = 2 if stage > 0 and b == 0 else 1
                layers += [basic_block(cin, cout, stride, skip=not plain, dtype=dtype), Relu()]
                cin = cout
        layers += [GlobalAveragePooling(), Affine(cin, num_classes, "he", dtype)]
        super().__init__(layers, input_shape=input_shape)
        self.depth, self.plain = depth, plain


def inception(cin: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, cp: int, dtype=None) -> Concat:
    """GoogLeNet's block: 1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 | 3x3 max-pool -> 1x1, each with ReLU, joined on channels.
    The 1x1 convolutions shrink the channels before the costly 3x3 and 5x5 ones."""
    return Concat([
        [Convolution(cin, c1, 1, dtype=dtype), Relu()],
        [Convolution(cin, c3r, 1, dtype=dtype), Relu(), Convolution(c3r, c3, 3, pad=1, dtype=dtype), Relu()],
        [Convolution(cin, c5r, 1, dtype=dtype), Relu(), Convolution(c5r, c5, 5, pad=2, dtype=dtype), Relu()],
        [Pooling(3, stride=1, pad=1), Convolution(cin, cp, 1, dtype=dtype), Relu()],
    ])


class GoogLeNetSmall(Sequential):
    """A small GoogLeNet-style network for 28x28 or 32x32 inputs: a conv stem, two inception blocks,
    max-pooling between, global average pooling and one affine layer."""

    def __init__(self, input_shape=(1, 28, 28), num_classes: int = 10, dtype=None):
        layers = [Convolution(input_shape[0], 32, 3, pad=1, dtype=dtype), Relu(), Pooling(2),
                  inception(32, 16, 16, 24, 4, 8, 8, dtype=dtype),           # -> 56 channels
                  inception(56, 24, 24, 32, 8, 16, 16, dtype=dtype),         # -> 88 channels
                  Pooling(2),
                  inception(88, 32, 32, 48, 8, 16, 16, dtype=dtype),         # -> 112 channels
                  GlobalAveragePooling(), Affine(112, num_classes, "he", dtype)]
        super().__init__(layers, input_shape=input_shape)
