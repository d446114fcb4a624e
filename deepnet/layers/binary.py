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


class _SignWeights:
    """Forward with sign(W), the latent W clipped to [-1, 1] in training; backward with the same sign(W),
    its weight gradient applied to the latent W unchanged (straight through). Mixed into a layer class."""

    def forward(self, x, train=False):
        if train:
            current().xp.clip(self.W, -1, 1, out=self.W)
        latent, self.W = self.W, binarize(self.W)
        try:
            return super().forward(x, train)
        finally:
            self.binary_W, self.W = self.W, latent

    def _with_sign_weights(self, method, dout):
        latent, self.W = self.W, self.binary_W
        try:
            return method(dout)
        finally:
            self.W = latent

    def backward(self, dout):
        return self._with_sign_weights(super().backward, dout)


class BinaryConvolution(_SignWeights, Convolution):
    """A convolution with weights sign(W) of latent real weights W kept in [-1, 1] (the batch normalisation
    after it shifts, so its bias stays at 0 unless trained)."""

    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, pad=0, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, pad, weight_init="xavier", dtype=dtype)

    def backward_params(self, dout) -> None:
        self._with_sign_weights(super().backward_params, dout)


class BinaryAffine(_SignWeights, Affine):
    """A fully connected layer with weights sign(W), latent W in [-1, 1], as BinaryConvolution."""

    def __init__(self, in_features, out_features, dtype=None):
        super().__init__(in_features, out_features, weight_init="xavier", dtype=dtype)
