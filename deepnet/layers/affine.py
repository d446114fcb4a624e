"""The fully connected layer."""
from __future__ import annotations

import math

from .. import initializers
from ..backends import current
from .base import Layer, _check_dtype, resolve_dtype


class Affine(Layer):
    """y = x W + b, with x flattened to (N, in_features).

    dx = dout W^T (reshaped back to x's shape),  dW = x^T dout,  db = sum_n dout.
    Accepts images (N, C, H, W) or vectors (N, D).
    """

    param_names = ("W", "b")

    def __init__(self, in_features: int, out_features: int, weight_init="he", dtype=None):
        dtype = resolve_dtype(dtype)
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.W = initializers.normal((self.in_features, self.out_features), weight_init,
                                     self.in_features, self.out_features, dtype)
        self.b = initializers.zeros((self.out_features,), dtype)
        self.dW = self.db = None

    def forward(self, x, train=False):
        current().check_array(x, "Affine.forward")
        _check_dtype(self, x, self.W)
        self.x_shape = x.shape
        x2 = x.reshape(x.shape[0], -1)
        if x2.shape[1] != self.in_features:
            raise ValueError(
                f"Affine expects {self.in_features} input features per sample; got input of shape {tuple(x.shape)} "
                f"({x2.shape[1]} features)"
            )
        self.x = x2
        return self._forwarded(current().matmul(x2, self.W) + self.b)

    def backward(self, dout):
        self._check_dout(dout)
        bk = current()
        self.dW = bk.matmul(self.x.T, dout)
        self.db = dout.sum(axis=0)
        return bk.matmul(dout, self.W.T).reshape(self.x_shape)

    def output_shape(self, input_shape):
        if math.prod(input_shape) != self.in_features:
            raise ValueError(f"Affine expects {self.in_features} features; input shape {tuple(input_shape)} has "
                             f"{math.prod(input_shape)}")
        return (self.out_features,)

    def __repr__(self):
        return f"Affine({self.in_features}, {self.out_features})"
