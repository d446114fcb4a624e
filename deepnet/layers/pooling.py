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

    #: set by the MaxUnpooling that reads this pooling's arg-max (SegNet): it must keep them
    keep_indices = False

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

    def indices(self):
        """Where each window's maximum was in the last forward (the offset i*KW + j inside the window, in the
        backend's own array): what a MaxUnpooling puts its values back by."""
        if self.mode != "max":
            raise ValueError("only max pooling has indices to unpool by; this Pooling averages")
        if self.out_shape is None or getattr(self, "context", None) is None:
            raise RuntimeError("Pooling.indices was asked for before Pooling.forward ran: there are none yet")
        return current().max_pool2d_indices(self.context)

    def output_shape(self, input_shape):
        c, h, w = input_shape
        bk = current()
        return (c, bk.conv_output_size(h, self.kh, self.stride, self.pad),
                bk.conv_output_size(w, self.kw, self.stride, self.pad))

    def __repr__(self):
        return f"Pooling(({self.kh}, {self.kw}), stride={self.stride}, pad={self.pad}, mode={self.mode!r})"


class MaxUnpooling(Layer):
    """SegNet's upsampling (Badrinarayanan et al., 2015): each value goes back to the place its encoder's max
    pooling took the maximum from, zeros elsewhere; no weights. `pooling` is that encoder layer (its indices of
    the same forward pass are used, so the decoder must run after it).

    forward:  y = 0; y[window (i, j)'s arg-max] += x[i, j]   (max pooling's backward, applied to x)
    backward: dx[i, j] = dout[window (i, j)'s arg-max]      (its adjoint: a gather)
    """

    def __init__(self, pooling: Pooling):
        if not isinstance(pooling, Pooling) or pooling.mode != "max":
            raise ValueError(f"MaxUnpooling needs the max Pooling layer whose indices it uses; got {pooling!r}")
        self.pooling = pooling
        pooling.keep_indices = True  # the runner must not fuse it into a pass that keeps no indices

    def forward(self, x, train=False):
        p = self.pooling
        arg = p.indices()
        if tuple(x.shape) != tuple(arg.shape):
            raise ValueError(f"MaxUnpooling expects input of its pooling's output shape {tuple(arg.shape)}; got "
                             f"{tuple(x.shape)}")
        self.arg, self.x_shape = arg, p.x_shape
        return self._forwarded(current().max_pool_backward(x, arg, p.x_shape, p.kh, p.kw, p.stride, p.pad))

    def backward(self, dout):
        self._check_dout(dout)
        p = self.pooling
        return current().window_gather(dout, self.arg, p.kh, p.kw, p.stride, p.pad)

    def output_shape(self, input_shape):
        c, h, w = input_shape
        p = self.pooling
        return c, (h - 1) * p.stride - 2 * p.pad + p.kh, (w - 1) * p.stride - 2 * p.pad + p.kw

    def __repr__(self):
        return f"MaxUnpooling(({self.pooling.kh}, {self.pooling.kw}), stride={self.pooling.stride})"
