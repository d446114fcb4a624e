"""A binarized convolutional network for MNIST (Courbariaux, Hubara et al., 2016): the hidden layers' weights
and activations are +1/-1; the first convolution and the last fully connected layer stay in float."""
from __future__ import annotations

from ..layers import Affine, BatchNormalization, Convolution, Pooling
from ..layers.binary import BinaryAffine, BinaryConvolution, Sign
from .sequential import Sequential


class BinaryNet(Sequential):
    """conv3x3 32 (float, pad 1), BN, sign;
    binary conv3x3 64 (no padding: +-1 inputs have no zero to pad with), max-pool 2, BN, sign;
    binary conv3x3 64, max-pool 2, BN, sign;  binary affine 256, BN, sign;  affine 10 (float).
    Every hidden product is of +-1 values: an XNOR and a popcount (deepnet/binary_inference.py)."""

    def __init__(self, input_shape=(1, 28, 28), num_classes: int = 10, dtype=None):
        c, h, w = input_shape
        h2, w2 = (h - 2) // 2, (w - 2) // 2
        h3, w3 = (h2 - 2) // 2, (w2 - 2) // 2
        super().__init__([
            ("conv1", Convolution(c, 32, 3, pad=1, dtype=dtype)), ("bn1", BatchNormalization(32, dtype=dtype)),
            ("sign1", Sign()),
            ("bconv2", BinaryConvolution(32, 64, 3, dtype=dtype)), ("pool2", Pooling(2)),
            ("bn2", BatchNormalization(64, dtype=dtype)), ("sign2", Sign()),
            ("bconv3", BinaryConvolution(64, 64, 3, dtype=dtype)), ("pool3", Pooling(2)),
            ("bn3", BatchNormalization(64, dtype=dtype)), ("sign3", Sign()),
            ("baffine4", BinaryAffine(64 * h3 * w3, 256, dtype=dtype)), ("bn4", BatchNormalization(256, dtype=dtype)),
            ("sign4", Sign()),
            ("affine5", Affine(256, num_classes, "xavier", dtype)),
        ], input_shape=input_shape)
