"""A fully convolutional network for segmentation (Long et al., 2015; the book's 8.4.2)."""
from __future__ import annotations

from ..layers import Convolution, Pooling, Relu, Residual, TransposedConvolution, init_bilinear
from .sequential import Sequential


class FCN(Sequential):
    """Per-pixel class scores at the input's resolution, from convolutions, pooling and upsampling:

        full:  conv3x3 w, relu, conv3x3 w, relu                                      -> f1 (H x W)
        half:  pool, conv3x3 2w, relu, conv3x3 2w, relu                             -> f2 (H/2)
        quarter: pool, 3 x (conv3x3 4w, relu), transposed conv 4x4/2 to 2w, added to f2 (a skip)
        scores: conv1x1 to K at H/2, transposed conv 4x4/2 initialised as bilinear upsampling, added to
                conv1x1 of f1 to K (FCN's score fusion with the finer layer)

    The skips are Residual blocks (branch + shortcut). At the quarter scale a pixel sees a 38-pixel
    window, more than a 28-pixel digit, so it knows which digit it belongs to; the full-scale scores
    put the boundaries back where the strokes are. Input sides must be multiples of 4.
    """

    def __init__(self, input_shape=(1, 64, 64), num_classes: int = 11, width: int = 16, dtype=None):
        c, h, w = input_shape
        if h % 4 or w % 4:
            raise ValueError(f"FCN needs input sides that are multiples of 4; got {h}x{w}")
        w1, w2, w4 = width, 2 * width, 4 * width
        conv = lambda i, o, k=3: Convolution(i, o, k, pad=k // 2, dtype=dtype)  # noqa: E731
        quarter = Residual([Pooling(2), conv(w2, w4), Relu(), conv(w4, w4), Relu(), conv(w4, w4), Relu(),
                            TransposedConvolution(w4, w2, 4, stride=2, pad=1, dtype=dtype)])
        up = init_bilinear(TransposedConvolution(num_classes, num_classes, 4, stride=2, pad=1, dtype=dtype))
        half = Residual([Pooling(2), conv(w1, w2), Relu(), conv(w2, w2), Relu(), quarter, conv(w2, num_classes, 1),
                         up], shortcut=[conv(w1, num_classes, 1)])
        super().__init__([conv(c, w1), Relu(), conv(w1, w1), Relu(), half], input_shape=input_shape)
