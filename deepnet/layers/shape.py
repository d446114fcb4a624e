"""Layers that only change an array's shape."""
from __future__ import annotations

from .base import Layer


class Reshape(Layer):
    """(N, D) -> (N, *shape) and back."""

    def __init__(self, *shape):
        self.shape = tuple(int(s) for s in shape)

    def forward(self, x, train=False):
        self.in_shape = x.shape
        return self._forwarded(x.reshape((x.shape[0],) + self.shape))

    def backward(self, dout):
        self._check_dout(dout)
        return dout.reshape(self.in_shape)

    def output_shape(self, input_shape):
        return self.shape
