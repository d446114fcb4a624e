"""Segmentation networks: a fully convolutional network (Long et al., 2015; the book's 8.4.2) and SegNet
(Badrinarayanan et al., 2015; the book's 8.5.3, scene understanding for autonomous driving)."""
from __future__ import annotations

from ..layers import (BatchNormalization, Convolution, MaxUnpooling, Pooling, Relu, Residual, TransposedConvolution,
                      init_bilinear)
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

    task = "segment"

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


class SegNet(Sequential):
    """An encoder-decoder whose decoder upsamples by the encoder's pooling indices (SegNet):

        encoder: for widths w, 2w, 4w: 2 x (conv3x3, batch norm, ReLU), max-pool 2 (its arg-max kept)
        decoder: mirrored: unpool by that pooling's indices, 2 x (conv3x3, batch norm, ReLU), the last block's
                 final convolution giving the K class scores (no ReLU) at the input's resolution

    Unpooling puts each value back where its maximum came from and leaves zeros elsewhere; the convolutions
    after it fill the map in. The boundaries come back from the pooling indices, not from learnt upsampling
    or skip connections carrying features (as FCN's do). With width 16 it has about FCN's parameter count.
    Input sides must be multiples of 8.
    """

    task = "segment"

    def __init__(self, input_shape=(1, 64, 64), num_classes: int = 11, width: int = 16, dtype=None):
        c, h, w = input_shape
        if h % 8 or w % 8:
            raise ValueError(f"SegNet needs input sides that are multiples of 8 (three poolings); got {h}x{w}")
        widths = [width, 2 * width, 4 * width]

        def block(name, i, o, relu=True):
            out = [(f"{name}", Convolution(i, o, 3, pad=1, dtype=dtype)),
                   (f"{name}_bn", BatchNormalization(o, dtype=dtype))]
            return out + [(f"{name}_relu", Relu())] if relu else out[:1]

        layers, pools, ch = [], [], c
        for s, o in enumerate(widths, start=1):
            pools.append(Pooling(2))
            layers += block(f"enc{s}a", ch, o) + block(f"enc{s}b", o, o) + [(f"pool{s}", pools[-1])]
            ch = o
        for s in range(len(widths), 0, -1):
            o = widths[s - 2] if s > 1 else num_classes
            layers += [(f"unpool{s}", MaxUnpooling(pools[s - 1])), *block(f"dec{s}a", ch, ch),
                       *block(f"dec{s}b", ch, o, relu=s > 1)]
            ch = o
        super().__init__(layers, input_shape=input_shape)
