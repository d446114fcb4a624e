"""Batch normalisation and local response normalisation."""
from __future__ import annotations

from .. import initializers
from ..backends import current
from .base import Layer, resolve_dtype


class BatchNormalization(Layer):
    """y = gamma * (x - mu) / sqrt(var + eps) + beta, per feature (dense input) or per channel (NCHW).

    Training normalises with the batch's mean and variance and updates the running
    statistics (running = momentum * running + (1 - momentum) * batch); inference uses
    the running statistics. Backward, with xhat = (x - mu) / std over m samples:
        dbeta = sum dout,  dgamma = sum dout * xhat,
        dx = (gamma / std) * (dout - mean(dout) - xhat * mean(dout * xhat))
    and, in inference mode, dx = gamma / sqrt(running_var + eps) * dout.

    The arithmetic is the backend's (batch_norm, batch_norm_backward), on the input seen as (N, C, P). The
    layer runner fuses a Relu that follows (forward(..., relu=True)), as it does after a convolution: the
    ReLU inside the normalisation's output pass, its mask inside this backward.
    """

    param_names = ("gamma", "beta")
    buffer_names = ("running_mean", "running_var")

    def __init__(self, num_features: int, momentum: float = 0.9, eps: float = 1e-5, dtype=None):
        dtype = resolve_dtype(dtype)
        self.num_features = int(num_features)
        self.momentum, self.eps = float(momentum), float(eps)
        self.gamma = initializers.ones((self.num_features,), dtype)
        self.beta = initializers.zeros((self.num_features,), dtype)
        self.running_mean = initializers.zeros((self.num_features,), dtype)
        self.running_var = initializers.ones((self.num_features,), dtype)
        self.dgamma = self.dbeta = None

    def _channels(self, x):
        """x as (N, C, P): a view, channels on axis 1 (P = H*W, or 1 for dense input)."""
        if x.ndim not in (2, 4):
            raise ValueError(f"BatchNormalization expects (N, D) or (N, C, H, W) input; got shape {tuple(x.shape)}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"BatchNormalization has {self.num_features} features; got input of shape "
                             f"{tuple(x.shape)}")
        return x.reshape(x.shape[0], x.shape[1], -1)

    def forward(self, x, train=False, relu=False):
        bk = current()
        x3 = self._channels(x)
        self.shape = x.shape
        if train:
            # the running statistics updated in the same call (one kernel with inv_std on the GPU)
            y, self.context = bk.batch_norm(x3, self.gamma, self.beta, self.eps, relu,
                                            running=(self.running_mean, self.running_var, self.momentum))
        else:
            y, self.context = bk.batch_norm(x3, self.gamma, self.beta, self.eps, relu, self.running_mean,
                                            self.running_var)
        return self._forwarded(y.reshape(x.shape))

    def backward(self, dout):
        self._check_dout(dout)
        dx, self.dgamma, self.dbeta = current().batch_norm_backward(self._channels(dout), self.gamma, self.context)
        return dx.reshape(self.shape)

    def output_shape(self, input_shape):
        if not input_shape or input_shape[0] != self.num_features:
            raise ValueError(f"BatchNormalization normalises {self.num_features} channels; got input of shape "
                             f"{tuple(input_shape)}")
        return tuple(input_shape)

    def __repr__(self):
        return f"BatchNormalization({self.num_features})"


class LRN(Layer):
    """Local response normalisation across channels (AlexNet, 2012):

        s_c = k + (alpha / n) * sum_{c' in window(c)} x_{c'}^2,   y_c = x_c * s_c^(-beta)
        dx_c = dout_c * s_c^(-beta) - (2 alpha beta / n) x_c * sum_{c' in window(c)} dout_{c'} x_{c'} s_{c'}^(-beta-1)

    window(c) holds the n channels centred on c (clipped at the edges); n is odd.
    """

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0):
        if size < 1 or size % 2 == 0:
            raise ValueError(f"LRN size must be a positive odd number; got {size}")
        self.size, self.alpha, self.beta, self.k = int(size), float(alpha), float(beta), float(k)

    def forward(self, x, train=False):
        if x.ndim != 4:
            raise ValueError(f"LRN expects (N, C, H, W) input; got shape {tuple(x.shape)}")
        y, self.context = current().lrn(x, self.size, self.alpha, self.beta, self.k)
        return self._forwarded(y)

    def backward(self, dout):
        self._check_dout(dout)
        return current().lrn_backward(dout, self.context, self.size, self.alpha, self.beta)

    def __repr__(self):
        return f"LRN(size={self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k})"
