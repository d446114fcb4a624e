"""Element-wise activations: ReLU, sigmoid, tanh."""
from __future__ import annotations

from ..backends import current
from .base import Layer


class Relu(Layer):
    """y = max(0, x);  dx = dout * [x > 0]."""

    def forward(self, x, train=False):
        # the backend's own pass; its context (the output itself) tells backward where x > 0
        y, self.context = current().relu(x)
        return self._forwarded(y)

    def backward(self, dout):
        self._check_dout(dout)
        return current().relu_backward(dout, self.context)


class Sigmoid(Layer):
    """y = 1 / (1 + exp(-x));  dx = dout * y * (1 - y)."""

    def forward(self, x, train=False):
        # 0.5 * (tanh(x/2) + 1) equals the logistic function and never overflows.
        self.out = 0.5 * (current().xp.tanh(0.5 * x) + 1)
        return self._forwarded(self.out)

    def backward(self, dout):
        self._check_dout(dout)
        return dout * self.out * (1 - self.out)


class Tanh(Layer):
    """y = tanh(x);  dx = dout * (1 - y^2)."""

    def forward(self, x, train=False):
        self.out = current().xp.tanh(x)
        return self._forwarded(self.out)

    def backward(self, dout):
        self._check_dout(dout)
        return dout * (1 - self.out * self.out)
