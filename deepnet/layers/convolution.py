"""2-D convolution by im2col: the convolution becomes one batched matrix product."""
from __future__ import annotations

import numpy as np

from .. import initializers
from ..backends import current
from .base import Layer, _check_dtype, resolve_dtype, whole


def _pair(v, what: str = "kernel_size") -> tuple[int, int]:
    return (whole(v, what),) * 2 if not isinstance(v, (tuple, list)) else (whole(v[0], what), whole(v[1], what))


class Convolution(Layer):
    """y[n, o] = sum_{c,i,j} W[o, c, i, j] * x_pad[n, c, s*y + i, s*x + j] + b[o].

    With col = im2col(x) reshaped to (N, KH*KW*C, OH*OW) and W flattened to match, (O, KH*KW*C):
        y = W col + b
        dW = sum_n dout_n col_n^T,   db = sum dout,   dx = col2im(W^T dout)
    The backend computes these (Backend.conv2d is the plain reference; the CPU backend runs the
    same products over cache-sized chunks of the batch, on every core).
    Weights are stored (out_channels, in_channels, KH, KW), as in the book.
    """

    param_names = ("W", "b")

    def __init__(self, in_channels: int, out_channels: int, kernel_size=3, stride: int = 1, pad: int = 0,
                 weight_init="he", dtype=None):
        dtype = resolve_dtype(dtype)
        self.in_channels, self.out_channels = whole(in_channels, "in_channels"), whole(out_channels, "out_channels")
        self.kh, self.kw = _pair(kernel_size)
        self.stride, self.pad = whole(stride, "Convolution stride"), whole(pad, "Convolution pad")
        if self.stride < 1 or self.pad < 0 or self.kh < 1 or self.kw < 1:
            raise ValueError(f"Convolution needs kernel_size >= 1, stride >= 1 and pad >= 0; got "
                             f"kernel_size={kernel_size}, stride={stride}, pad={pad}")
        if self.in_channels < 1 or self.out_channels < 1:
            raise ValueError(f"Convolution needs at least one input and one output channel; got "
                             f"{in_channels} and {out_channels}")
        fan_in = self.in_channels * self.kh * self.kw
        self.W = initializers.normal((self.out_channels, self.in_channels, self.kh, self.kw), weight_init,
                                     fan_in, self.out_channels * self.kh * self.kw, dtype)
        self.b = initializers.zeros((self.out_channels,), dtype)
        self.dW = self.db = None
        self.context = None  # what backward needs, kept by the backend in its own form
        self.relu = False  # whether the last forward rectified its output (a fused ReLU; see forward)

    def forward(self, x, train=False, relu=False):
        """y = W * x + b; with relu=True, max(y, 0): the ReLU that follows this layer done in the same pass
        (layers/runner.py fuses a Convolution and the Relu after it; backward then applies the ReLU's mask too)."""
        bk = current()
        self._check_input(x)
        run = bk.conv2d_relu if relu else bk.conv2d
        W = self.W if train else self._inference_weights()
        y, self.context = run(x, W, self.b, self.stride, self.pad, reuse=self.context)
        self.relu = bool(relu)
        return self._forwarded(y)

    def forward_relu_pool(self, x):
        """Inference only: the 2x2/2 max-pooling of max(W * x + b, 0) in one pass (the backend's
        conv2d_relu_pool; Sequential runs a Convolution, its Relu and such a Pooling so when it predicts).
        Nothing is kept for backward, which is then refused as before any forward."""
        self._check_input(x)
        y = current().conv2d_relu_pool(x, self._inference_weights(), self.b, self.stride, self.pad)
        self.context, self.out_shape = None, None
        return y

    def forward_folded(self, x, bn, relu=False, residual=None):
        """Inference only: bn(W * x + b), max(., 0) with relu, as one convolution. With the running statistics,
        s = gamma / sqrt(running_var + eps):
            bn(W * x + b) = (s W) * x + (s (b - running_mean) + beta)
        so the normalisation costs no pass over the output (as oneDNN and TensorRT fold it). The scaled weights
        are formed in float32 at least, then cast. With a residual (the output's shape), max(bn(W * x + b) +
        residual, 0): a residual block's last convolution, its sum and the ReLU after it, in the convolution's
        output pass where the backend can (conv2d_add_relu). Nothing is kept for backward, which is then
        refused."""
        self._check_input(x)
        bk = current()
        xp = bk.xp

        def fold():
            acc = xp.promote_types(self.W.dtype, xp.float32)
            s = bn.gamma.astype(acc) / xp.sqrt(bn.running_var.astype(acc) + acc.type(bn.eps))
            W = (self.W.astype(acc) * s[:, None, None, None]).astype(self.W.dtype)
            b = (s * (self.b.astype(acc) - bn.running_mean.astype(acc)) + bn.beta.astype(acc)).astype(self.b.dtype)
            return W, b

        # folded again only when a parameter or statistic changed (Backend.derived: the CPU backend keeps the last
        # fold, and its convolution keeps Winograd's transform of it; checking costs about what folding does)
        sources = (self.W, self.b, bn.gamma, bn.beta, bn.running_mean, bn.running_var, np.float64(bn.eps))
        W, b = bk.derived(self._kept("folded"), sources, fold)
        self.out_shape = None
        if residual is not None:
            self.context = None
            return bk.conv2d_add_relu(x, W, b, residual, self.stride, self.pad)
        run = bk.conv2d_relu if relu else bk.conv2d
        y, self.context = run(x, W, b, self.stride, self.pad, reuse=self.context)  # the context: buffers to reuse
        return y

    def _inference_weights(self):
        """W for inference: as Backend.derived keeps it (on the CPU a read-only copy while W is unchanged, whose
        Winograd transform the backend then keeps too, where it was made again on every call: 6.6 ms of
        AlexNet's pass of about 130 ms at batch 8)."""
        return current().derived(self._kept("weights"), (self.W,), lambda: (self.W,))[0]

    def _kept(self, use: str) -> dict:
        """The layer's store for Backend.derived, one per use (made here: a layer loaded without __init__ has
        none yet)."""
        stores = self.__dict__.setdefault("_derived", {})
        return stores.setdefault(use, {})

    def _check_input(self, x) -> None:
        current().check_array(x, "Convolution.forward")
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"Convolution expects (N, {self.in_channels}, H, W) input; got shape {tuple(x.shape)}")
        _check_dtype(self, x, self.W)
        if x.shape[0] == 0:
            raise ValueError(f"Convolution got an empty batch (shape {tuple(x.shape)}); expected at least one sample")

    def _backward(self, dout, need_dx):
        self._check_dout(dout)
        bk = current()
        run = bk.conv2d_relu_backward if self.relu else bk.conv2d_backward
        dx, self.dW, self.db = run(dout, self.W, self.context, self.stride, self.pad, need_dx=need_dx)
        return dx

    def backward(self, dout):
        return self._backward(dout, need_dx=True)

    def backward_params(self, dout) -> None:
        """dW and db only: a network's first layer has no layer below it to pass dx to."""
        self._backward(dout, need_dx=False)

    def output_shape(self, input_shape):
        c, h, w = input_shape
        if c != self.in_channels:
            raise ValueError(f"Convolution expects {self.in_channels} input channels; got shape {tuple(input_shape)}")
        bk = current()
        return (self.out_channels, bk.conv_output_size(h, self.kh, self.stride, self.pad),
                bk.conv_output_size(w, self.kw, self.stride, self.pad))

    def __repr__(self):
        return (f"Convolution({self.in_channels}, {self.out_channels}, kernel_size=({self.kh}, {self.kw}), "
                f"stride={self.stride}, pad={self.pad})")
