"""Transposed convolution ("deconvolution"): the adjoint of Convolution, for upsampling (FCN, DCGAN)."""
from __future__ import annotations

import numpy as np

from .. import initializers
from ..backends import current
from .base import Layer, _check_dtype, resolve_dtype, whole
from .convolution import _pair


class TransposedConvolution(Layer):
    """The adjoint of a convolution with the same weights: where Convolution gathers a window of the input
    into one output pixel, this scatters one input pixel into a window of the output.

    Weights are stored (in_channels, out_channels, KH, KW): the same array, read as Convolution's
    (O, C, KH, KW), is the convolution this layer is the adjoint of. The arithmetic is the backend's
    (conv_transpose2d; the CPU's runs in the chunked convolution's pieces). With W flattened to rows ordered
    like im2col's, Wr = (C_in, KH*KW*C_out):
        col = Wr^T x             (one product per image: every input pixel's contribution to its window)
        y   = col2im(col) + b    (the windows summed onto the output, which is larger by the stride)
        dx  = Wr im2col(dout),   dW = sum_n x_n im2col(dout)_n^T,   db = sum dout
    Output size: (H - 1) * stride - 2 * pad + KH + output_padding, so that a convolution with the same
    kernel, stride and pad maps it back to H (output_padding < stride picks among the sizes that do).
    """

    param_names = ("W", "b")

    def __init__(self, in_channels: int, out_channels: int, kernel_size=4, stride: int = 2, pad: int = 1,
                 output_padding: int = 0, weight_init="he", dtype=None):
        dtype = resolve_dtype(dtype)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kh, self.kw = _pair(kernel_size)
        self.stride, self.pad = whole(stride, "TransposedConvolution stride"), whole(pad, "TransposedConvolution pad")
        self.output_padding = whole(output_padding, "TransposedConvolution output_padding")
        if self.stride < 1 or self.pad < 0 or self.kh < 1 or self.kw < 1 or self.in_channels < 1 \
                or self.out_channels < 1:
            raise ValueError(f"TransposedConvolution needs kernel_size >= 1, stride >= 1, pad >= 0 and at least one "
                             f"channel each way; got kernel_size={kernel_size}, stride={stride}, pad={pad}, "
                             f"channels {in_channels} -> {out_channels}")
        if not 0 <= self.output_padding < self.stride:
            raise ValueError(f"TransposedConvolution needs 0 <= output_padding < stride; got output_padding="
                             f"{output_padding} with stride {stride}")
        # each output pixel sums about KH*KW*C_in/stride^2 inputs: that is the fan-in He's rule wants
        fan_in = max(1, self.in_channels * self.kh * self.kw // (self.stride * self.stride))
        self.W = initializers.normal((self.in_channels, self.out_channels, self.kh, self.kw), weight_init, fan_in,
                                     self.out_channels * self.kh * self.kw, dtype)
        self.b = initializers.zeros((self.out_channels,), dtype)
        self.dW = self.db = None
        self.context = None

    def output_shape(self, input_shape):
        c, h, w = input_shape
        if c != self.in_channels:
            raise ValueError(f"TransposedConvolution expects {self.in_channels} input channels; got shape "
                             f"{tuple(input_shape)}")
        return (self.out_channels, self._size(h, self.kh), self._size(w, self.kw))

    def _size(self, n: int, k: int) -> int:
        size = (n - 1) * self.stride - 2 * self.pad + k + self.output_padding
        if size < 1:
            raise ValueError(f"TransposedConvolution with kernel {k}, stride {self.stride} and pad {self.pad} gives "
                             f"no output for an input of size {n}")
        return size

    def forward(self, x, train=False):
        bk = current()
        bk.check_array(x, "TransposedConvolution.forward")
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"TransposedConvolution expects (N, {self.in_channels}, H, W) input; got shape "
                             f"{tuple(x.shape)}")
        _check_dtype(self, x, self.W)
        h, w = x.shape[2:]
        y, self.context = bk.conv_transpose2d(x, self.W, self.b, self.stride, self.pad, self._size(h, self.kh),
                                              self._size(w, self.kw))
        return self._forwarded(y)

    def backward(self, dout):
        self._check_dout(dout)
        dx, self.dW, self.db = current().conv_transpose2d_backward(dout, self.W, self.context, self.stride, self.pad)
        return dx

    def __repr__(self):
        return (f"TransposedConvolution({self.in_channels}, {self.out_channels}, kernel_size=({self.kh}, {self.kw}), "
                f"stride={self.stride}, pad={self.pad}, output_padding={self.output_padding})")


def bilinear_kernel(size: int) -> np.ndarray:
    """The (size, size) bilinear interpolation filter FCN initialises its upsampling with: for a transposed
    convolution of stride f, size 2f - f % 2 (4 for f = 2) reproduces bilinear upsampling."""
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    og = np.arange(size)
    filt = 1 - np.abs(og - center) / factor
    return np.outer(filt, filt)


def init_bilinear(layer: TransposedConvolution) -> TransposedConvolution:
    """Set layer's weights to channel-wise bilinear upsampling (channel i to channel i; zero bias)."""
    if layer.kh != layer.kw:
        raise ValueError(f"bilinear initialisation needs a square kernel; got {layer.kh}x{layer.kw}")
    bk = current()
    w = np.zeros(layer.W.shape, dtype=np.float64)
    k = bilinear_kernel(layer.kh)
    for i in range(min(layer.in_channels, layer.out_channels)):
        w[i, i] = k
    layer.W = bk.to_device(w.astype(layer.W.dtype))
    layer.b = bk.xp.zeros_like(layer.b)
    return layer
