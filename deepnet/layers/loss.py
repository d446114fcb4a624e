"""Softmax with cross-entropy loss."""
from __future__ import annotations

import contextlib
import contextvars

import numpy as np

from ..backends import current
from .base import Layer


def log_softmax(x):
    """log softmax(x) along the last axis, stable for large logits (max subtracted first)."""
    xp = current().xp
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(x):
    return current().xp.exp(log_softmax(x))


_TRUSTED = contextvars.ContextVar("deepnet_labels_checked", default=False)


@contextlib.contextmanager
def labels_checked():
    """Inside the block the loss trusts its class indices: the caller has checked the whole label set once, as
    the trainer does when its data goes to the device, so a training step reads nothing back from the device
    (on a GPU the per-batch check is a device-to-host copy and a wait, every step)."""
    token = _TRUSTED.set(True)
    try:
        yield
    finally:
        _TRUSTED.reset(token)


def labels_trusted() -> bool:
    """Whether the caller has checked the labels (inside labels_checked()): the losses and Embedding then skip
    their own per-batch range checks, and so their reads from the device."""
    return _TRUSTED.get()


def check_classes(t, k: int) -> None:
    """Class indices must be integers in [0, k): a label of k would index past the logits, a negative one
    would silently pick another class, and 0.5 is no class. `t` on the host or the device (there: one host
    read of its min and max)."""
    if t.dtype.kind not in "iu":
        raise TypeError(f"labels must be integer class indices 0..{k - 1} (or one-hot rows); got dtype {t.dtype.name}")
    if t.size:
        bk = current()
        pair = (t.min(), t.max()) if isinstance(t, np.ndarray) else bk.to_numpy(bk.xp.stack([t.min(), t.max()]))
        lo, hi = (int(v) for v in pair)
        if lo < 0 or hi >= k:
            raise ValueError(f"labels must be class indices 0..{k - 1} for {k} logits; got values from {lo} to {hi}")


class SoftmaxWithLoss(Layer):
    """L = -(1/N) sum_n log softmax(x_n)[t_n];  dx = (softmax(x) - onehot(t)) / N.

    Labels may be integer class indices (N,) or one-hot rows (N, K). The loss is a
    0-d array on the backend's device: reading it (float(loss)) is the caller's
    choice, so a training step need not wait for the device.
    """

    def forward(self, x, t, train=False):
        xp = current().xp
        if x.ndim == 4:  # per-pixel classification (segmentation): (N, K, H, W) logits, (N, H, W) labels
            return self._forward_maps(x, t)
        self.map_shape = None
        if x.ndim != 2:
            raise ValueError(f"SoftmaxWithLoss expects logits of shape (N, classes), or (N, classes, H, W) "
                             f"per pixel; got {tuple(x.shape)}")
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
        elif not labels_trusted():
            check_classes(t, k)
        self.t, self.y, self.x_dtype = t, xp.exp(logp), x.dtype
        picked = xp.take_along_axis(logp, t.reshape(n, 1).astype(xp.intp, copy=False), axis=1)
        return -picked.mean().astype(x.dtype)

    def _forward_maps(self, x, t):
        n, k, h, w = x.shape
        if t.shape != (n, h, w):
            raise ValueError(f"per-pixel labels must have shape (N, H, W) = {(n, h, w)} for logits {tuple(x.shape)}; "
                             f"got {tuple(t.shape)}")
        # every pixel a sample: the mean over N*H*W pixels, computed by the (N, K) path
        loss = self.forward(x.transpose(0, 2, 3, 1).reshape(-1, k), t.reshape(-1))
        self.map_shape = (n, h, w, k)
        self.pixels_y = self.y
        self.y = self.y.reshape(n, h, w, k).transpose(0, 3, 1, 2)  # (N, K, H, W): argmax(axis=1) is the map
        return loss

    def backward(self, dout=1.0):
        if getattr(self, "y", None) is None:
            raise RuntimeError("SoftmaxWithLoss.backward was called before forward: there is no loss to "
                               "differentiate yet")
        xp = current().xp
        y = self.pixels_y if self.map_shape is not None else self.y
        n, k = y.shape
        dx = y.copy()
        dx[xp.arange(n), self.t] -= 1
        dx *= dout / n
        dx = dx.astype(self.x_dtype, copy=False)
        if self.map_shape is not None:
            b, h, w, _ = self.map_shape
            dx = xp.ascontiguousarray(dx.reshape(b, h, w, k).transpose(0, 3, 1, 2))
        return dx


class BinaryCrossEntropyWithLogits(Layer):
    """L = mean(softplus(x) - t x) for logits x and targets t in {0, 1};  dx = (sigmoid(x) - t) / N."""

    def forward(self, x, t, train=False):
        xp = current().xp
        x = x.reshape(len(x), -1)[:, 0]
        self.t = t.astype(x.dtype)
        self.p = 0.5 * (xp.tanh(0.5 * x) + 1)  # sigmoid without overflow
        softplus = xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))
        self.shape = (len(x), 1)
        return (softplus - self.t * x).mean()

    def backward(self, dout=1.0):
        return ((self.p - self.t) * (dout / len(self.t))).reshape(self.shape)


class HuberQLoss(Layer):
    """The Huber loss of the chosen actions' Q-values against their targets, averaged over the batch.
    t is (N, 2): the action taken (as a number) and the target. Per sample, with d = Q(s, a) - target:
        loss = d^2 / 2 if |d| <= 1 else |d| - 1/2;   dQ(s, a) = clip(d, -1, 1) / N, 0 for the other actions."""

    def forward(self, q, t):
        xp = current().xp
        n = q.shape[0]
        self.action = t[:, 0].astype(xp.int64)
        self.q_shape = q.shape
        d = q[xp.arange(n), self.action] - t[:, 1].astype(q.dtype)
        self.d = d
        a = xp.abs(d)
        return xp.where(a <= 1, 0.5 * d * d, a - 0.5).mean()

    def backward(self, dout=1.0):
        xp = current().xp
        n = self.q_shape[0]
        dq = xp.zeros(self.q_shape, dtype=self.d.dtype)
        dq[xp.arange(n), self.action] = xp.clip(self.d, -1, 1) * (dout / n)
        return dq
