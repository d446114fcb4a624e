"""Element-wise activations: ReLU, leaky ReLU, sigmoid, tanh."""
from __future__ import annotations

from ..backends import current
from .base import Layer


class Relu(Layer):
    """y = max(0, x);  dx = dout * [x > 0].

    After a Convolution, Sequential runs the two as one (Convolution.forward(..., relu=True)): this layer
    then only records the rectified output (`fused`), and its backward passes dout through unchanged,
    because the convolution's backward applies the mask."""

    fused = False

    def forward(self, x, train=False):
        # the backend's own pass; its context (the output itself) tells backward where x > 0
        y, self.context = current().relu(x)
        self.fused = False
        return self._forwarded(y)

    def adopt(self, y):
        """Take y, already rectified by the layer below (a fused ReLU), as this layer's output."""
        self.context, self.fused = y, True
        return self._forwarded(y)

    def backward(self, dout):
        self._check_dout(dout)
        if self.fused:
            return dout
        return current().relu_backward(dout, self.context)


class LeakyRelu(Layer):
    """y = x for x > 0, alpha * x otherwise;  dx = dout * (1 or alpha). DCGAN's discriminator uses alpha 0.2."""

    def __init__(self, alpha: float = 0.2):
        if not 0 <= alpha < 1:
            raise ValueError(f"LeakyRelu needs 0 <= alpha < 1; got {alpha}")
        self.alpha = float(alpha)

    def forward(self, x, train=False):
        xp = current().xp
        if x.dtype.kind != "f":  # alpha * x has no integer form (0.2 would round to 0: a plain ReLU)
            raise TypeError(f"LeakyRelu expects floating-point input; got {x.dtype.name}")
        self.slope = xp.where(x > 0, x.dtype.type(1), x.dtype.type(self.alpha))
        return self._forwarded(x * self.slope)

    def backward(self, dout):
        self._check_dout(dout)
        return dout * self.slope


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
