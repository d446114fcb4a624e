"""Max and average pooling."""
from __future__ import annotations

from ..backends import current
from .base import Layer
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
        self.stride = int(stride) if stride is not None else self.kh
        self.pad = int(pad)
        if mode not in ("max", "avg"):
            raise ValueError(f"Pooling mode must be 'max' or 'avg'; got {mode!r}")
        self.mode = mode

    def forward(self, x, train=False):
        bk = current()
        xp = bk.xp
        if x.ndim != 4:
            raise ValueError(f"Pooling expects (N, C, H, W) input; got shape {tuple(x.shape)}")
        n, c = x.shape[:2]
        fill = float("-inf") if self.mode == "max" else 0.0
        col = bk.im2col(x, self.kh, self.kw, self.stride, self.pad, fill=fill)
        oh, ow = col.shape[4], col.shape[5]
        col = col.reshape(n, c, self.kh * self.kw, oh, ow)
        self.x_shape = x.shape
        if self.mode == "avg":
            return col.mean(axis=2)
        self.arg = col.argmax(axis=2)
        return xp.take_along_axis(col, self.arg[:, :, None], axis=2)[:, :, 0]

    def backward(self, dout):
        bk = current()
        xp = bk.xp
        n, c, oh, ow = dout.shape
        k = self.kh * self.kw
        if self.mode == "avg":
            dcol = xp.broadcast_to((dout / k)[:, :, None], (n, c, k, oh, ow))
        else:
            # A one-hot mask, not a scatter: the same code on NumPy and CuPy, and no atomics.
            hit = self.arg[:, :, None] == xp.arange(k).reshape(1, 1, k, 1, 1)
            dcol = xp.where(hit, dout[:, :, None], 0)
        dcol = dcol.reshape(n, c, self.kh, self.kw, oh, ow)
        return bk.col2im(dcol, self.x_shape, self.kh, self.kw, self.stride, self.pad)

    def output_shape(self, input_shape):
        c, h, w = input_shape
        bk = current()
        return (c, bk.conv_output_size(h, self.kh, self.stride, self.pad),
                bk.conv_output_size(w, self.kw, self.stride, self.pad))

    def __repr__(self):
        return f"Pooling(({self.kh}, {self.kw}), stride={self.stride}, pad={self.pad}, mode={self.mode!r})"
