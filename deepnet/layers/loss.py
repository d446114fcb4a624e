"""Softmax with cross-entropy loss."""
from __future__ import annotations

from ..backends import current
from .base import Layer


def log_softmax(x):
    """log softmax(x) along the last axis, stable for large logits (max subtracted first)."""
    xp = current().xp
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(x):
    return current().xp.exp(log_softmax(x))


class SoftmaxWithLoss(Layer):
    """L = -(1/N) sum_n log softmax(x_n)[t_n];  dx = (softmax(x) - onehot(t)) / N.

    Labels may be integer class indices (N,) or one-hot rows (N, K). The loss is a
    0-d array on the backend's device: reading it (float(loss)) is the caller's
    choice, so a training step need not wait for the device.
    """

    def forward(self, x, t, train=False):
        xp = current().xp
        if x.ndim != 2:
            raise ValueError(f"SoftmaxWithLoss expects logits of shape (N, classes); got {tuple(x.shape)}")
        n, k = x.shape
        # float16 logits are normalised in float32: exp and the log-sum lose too much in half precision.
        work = x.astype(xp.float32) if x.dtype.itemsize < 4 else x
        logp = log_softmax(work)
        if t.ndim == 2:
            if t.shape != x.shape:
                raise ValueError(f"one-hot labels of shape {tuple(t.shape)} do not match logits of shape {(n, k)}")
            t = t.argmax(axis=1)
        elif t.shape != (n,):
            raise ValueError(f"labels must be (N,) class indices or (N, {k}) one-hot; got shape {tuple(t.shape)} "
                             f"for {n} samples")
        self.t, self.y, self.x_dtype = t, xp.exp(logp), x.dtype
        picked = xp.take_along_axis(logp, t.reshape(n, 1).astype(xp.intp, copy=False), axis=1)
        return -picked.mean().astype(x.dtype)

    def backward(self, dout=1.0):
        xp = current().xp
        n, k = self.y.shape
        dx = self.y.copy()
        dx[xp.arange(n), self.t] -= 1
        dx *= dout / n
        return dx.astype(self.x_dtype, copy=False)
