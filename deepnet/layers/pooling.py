"""Max and average pooling."""
from __future__ import annotations

from ..backends import current
from .base import Layer, whole
from .convolution import _pair


class Pooling(Layer):
    """Max (default) or average over KH x KW windows.

    max:  y = max over the window;  dx gets dout at the window's first arg-max, 0 elsewhere.
    avg:  y = mean over the window (padding counts as zeros);  dx = dout / (KH*KW) on every entry.
    The output size counts the padding: OH = (H + 2*pad - KH) // stride + 1.
    Max-pooling pads with -inf, so padding never wins the max.
    """

    def __init__(self, pool_size=2, stride=None, pad: int = 0, mode: str = "max"):
        self.kh, self.kw = _pair(pool_size)
        self.stride = whole(stride, "Pooling stride") if stride is not None else self.kh
        self.pad = whole(pad, "Pooling pad")
        if self.kh < 1 or self.kw < 1 or self.stride < 1 or self.pad < 0:
            raise ValueError(f"Pooling needs pool_size >= 1, stride >= 1 and pad >= 0; got pool_size={pool_size}, "
                             f"stride={stride}, pad={pad}")
        if self.pad >= min(self.kh, self.kw):
            # a window made only of padding would have no maximum (the CPU and GPU paths would disagree)
            raise ValueError(f"Pooling needs pad smaller than the pool size so that every window sees a pixel; "
                             f"got pool_size={pool_size}, pad={pad}")
        if mode not in ("max", "avg"):
            raise ValueError(f"Pooling mode must be 'max' or 'avg'; got {mode!r}")
        self.mode = mode

    def forward(self, x, train=False):
        bk = current()
        if x.ndim != 4:
            raise ValueError(f"Pooling expects (N, C, H, W) input; got shape {tuple(x.shape)}")
        self.x_shape = x.shape
        if self.mode == "max":
            # what backward needs, in the backend's own form (inference skips the arg-max until asked)
            y, self.context = bk.max_pool2d(x, self.kh, self.kw, self.stride, self.pad, train=train)
            return self._forwarded(y)
        n, c = x.shape[:2]
        col = bk.im2col(x, self.kh, self.kw, self.stride, self.pad)
        return self._forwarded(col.reshape(n, self.kh * self.kw, c, col.shape[4], col.shape[5]).mean(axis=1))

    def backward(self, dout):
        self._check_dout(dout)
        bk = current()
        if self.mode == "max":
            return bk.max_pool2d_backward(dout, self.context)
        n, c, oh, ow = dout.shape
        k = self.kh * self.kw
        dcol = bk.xp.broadcast_to((dout / k)[:, None], (n, k, c, oh, ow)).reshape(n, self.kh, self.kw, c, oh, ow)
        return bk.col2im(dcol, self.x_shape, self.kh, self.kw, self.stride, self.pad)

    def output_shape(self, input_shape):
        c, h, w = input_shape
        bk = current()
        return (c, bk.conv_output_size(h, self.kh, self.stride, self.pad),
                bk.conv_output_size(w, self.kw, self.stride, self.pad))

    def __repr__(self):
        return f"Pooling(({self.kh}, {self.kw}), stride={self.stride}, pad={self.pad}, mode={self.mode!r})"
