"""Binarized layers (Courbariaux, Hubara et al., "Binarized Neural Networks", 2016; the book's 8.3.4).

Weights and activations are +1 or -1 in the hidden layers. Training keeps real-valued latent weights,
clipped to [-1, 1]; the forward pass uses their signs, and the gradient reaches the latent weights
through the sign unchanged (the straight-through estimator). The sign activation passes the gradient
where |x| <= 1 and stops it elsewhere (the derivative of the hard tanh it stands in for). sign(0) = +1.
"""
from __future__ import annotations

from ..backends import current
from .affine import Affine
from .base import Layer
from .convolution import Convolution


def binarize(a):
    """+1 where a >= 0, else -1, in a's dtype."""
    xp = current().xp
    return xp.where(a >= 0, a.dtype.type(1), a.dtype.type(-1))


class Sign(Layer):
    """y = sign(x) in {-1, +1};  dx = dout * [|x| <= 1] (straight-through, as hard tanh's derivative)."""

    def forward(self, x, train=False):
        self.pass_through = (abs(x) <= 1).astype(x.dtype)
        return self._forwarded(binarize(x))

    def backward(self, dout):
        self._check_dout(dout)
        return dout * self.pass_through


class BinaryConvolution(Convolution):
    """A convolution with weights sign(W) of latent real weights W kept in [-1, 1] (no bias by default:
    the batch normalisation after it shifts). Backward gives dW for sign(W), applied to W unchanged."""

    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, pad=0, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, pad, weight_init="xavier", dtype=dtype)

    def forward(self, x, train=False):
        xp = current().xp
        if train:
            xp.clip(self.W, -1, 1, out=self.W)
        latent, self.W = self.W, binarize(self.W)
        try:
            return super().forward(x, train)
        finally:
            self.binary_W, self.W = self.W, latent

    def backward(self, dout):
        latent, self.W = self.W, self.binary_W
        try:
            return super().backward(dout)  # dW for sign(W): the straight-through estimate for W
        finally:
            self.W = latent

    def backward_params(self, dout) -> None:
        latent, self.W = self.W, self.binary_W
        try:
            super().backward_params(dout)
        finally:
            self.W = latent


class BinaryAffine(Affine):
    """A fully connected layer with weights sign(W), latent W in [-1, 1], as BinaryConvolution."""

    def __init__(self, in_features, out_features, dtype=None):
        super().__init__(in_features, out_features, weight_init="xavier", dtype=dtype)

    def forward(self, x, train=False):
        xp = current().xp
        if train:
            xp.clip(self.W, -1, 1, out=self.W)
        latent, self.W = self.W, binarize(self.W)
        try:
            return super().forward(x, train)
        finally:
            self.binary_W, self.W = self.W, latent

    def backward(self, dout):
        latent, self.W = self.W, self.binary_W
        try:
            return super().backward(dout)
        finally:
            self.W = latent
