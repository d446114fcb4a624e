"""The chapter's networks: SimpleConvNet, DeepConvNet (Figure 8.1) and AlexNet."""
from __future__ import annotations

import math

from ..layers import LRN, Affine, Convolution, Dropout, Pooling, Relu
from ..layers.base import output_shape_of
from .sequential import Sequential


def _flat(shape) -> int:
    return int(math.prod(shape))


class SimpleConvNet(Sequential):
    """conv - relu - pool - affine - relu - affine - softmax (the book's chapter 7 network)."""

    def __init__(self, input_shape=(1, 28, 28), num_classes: int = 10, filters: int = 30, kernel_size: int = 5,
                 hidden: int = 100, weight_init="he", dtype=None):
        c = input_shape[0]
        body = [Convolution(c, filters, kernel_size, weight_init=weight_init, dtype=dtype), Relu(), Pooling(2)]
        flat = _flat(output_shape_of(body, input_shape))
        super().__init__(body + [Affine(flat, hidden, weight_init, dtype), Relu(),
                                 Affine(hidden, num_classes, weight_init, dtype)], input_shape=input_shape)


class DeepConvNet(Sequential):
    """The book's Figure 8.1, exactly:

        conv3x3 16 (pad 1) relu, conv3x3 16 (pad 1) relu, max-pool 2
        conv3x3 32 (pad 1) relu, conv3x3 32 (pad 2) relu, max-pool 2
        conv3x3 64 (pad 1) relu, conv3x3 64 (pad 1) relu, max-pool 2
        affine 50, relu, dropout 0.5, affine 10, dropout 0.5, softmax
    with He initialisation throughout.
    """

    def __init__(self, input_shape=(1, 28, 28), num_classes: int = 10, hidden: int = 50, dropout: float = 0.5,
                 dtype=None):
        c = input_shape[0]
        body = [
            Convolution(c, 16, 3, pad=1, dtype=dtype), Relu(),
            Convolution(16, 16, 3, pad=1, dtype=dtype), Relu(),
            Pooling(2, stride=2),
            Convolution(16, 32, 3, pad=1, dtype=dtype), Relu(),
            Convolution(32, 32, 3, pad=2, dtype=dtype), Relu(),
            Pooling(2, stride=2),
            Convolution(32, 64, 3, pad=1, dtype=dtype), Relu(),
            Convolution(64, 64, 3, pad=1, dtype=dtype), Relu(),
            Pooling(2, stride=2),
        ]
        flat = _flat(output_shape_of(body, input_shape))
        head = [Affine(flat, hidden, "he", dtype), Relu(), Dropout(dropout),
                Affine(hidden, num_classes, "he", dtype), Dropout(dropout)]
        super().__init__(body + head, input_shape=input_shape)


class AlexNet(Sequential):
    """AlexNet (Krizhevsky et al., 2012) for 3x227x227 inputs and 1000 classes, for the timing benchmarks.

    conv11x11/4 96, relu, LRN, max-pool 3/2; conv5x5 256 (pad 2), relu, LRN, max-pool 3/2;
    conv3x3 384, 384, 256 (pad 1) with relu; max-pool 3/2; affine 4096, relu, dropout;
    affine 4096, relu, dropout; affine 1000.
    The original splits conv2, conv4 and conv5 into two groups (one per GPU); here
    they are ordinary (ungrouped) convolutions, which has more weights and FLOPs.
    """

    def __init__(self, input_shape=(3, 227, 227), num_classes: int = 1000, dropout: float = 0.5, dtype=None):
        c = input_shape[0]
        body = [
            Convolution(c, 96, 11, stride=4, dtype=dtype), Relu(), LRN(), Pooling(3, stride=2),
            Convolution(96, 256, 5, pad=2, dtype=dtype), Relu(), LRN(), Pooling(3, stride=2),
            Convolution(256, 384, 3, pad=1, dtype=dtype), Relu(),
            Convolution(384, 384, 3, pad=1, dtype=dtype), Relu(),
            Convolution(384, 256, 3, pad=1, dtype=dtype), Relu(),
            Pooling(3, stride=2),
        ]
        flat = _flat(output_shape_of(body, input_shape))
        head = [Affine(flat, 4096, "he", dtype), Relu(), Dropout(dropout),
                Affine(4096, 4096, "he", dtype), Relu(), Dropout(dropout),
                Affine(4096, num_classes, "he", dtype)]
        super().__init__(body + head, input_shape=input_shape)
