"""A fully connected layer is a convolution whose filter covers its whole input (the book's 8.4.2): a trained
classifier made fully convolutional, so one forward pass over a larger image scores every window of it."""
from __future__ import annotations

from ..errors import InvalidValue
from ..layers import (Affine, BatchNormalization, Convolution, Dropout, LeakyRelu, Pooling, Relu, Sigmoid, Tanh)
from ..layers.base import output_shape_of
from ..layers.binary import BinaryAffine, BinaryConvolution, Sign
from .sequential import Sequential

#: Layers that act on each position of a map alike, and so work unchanged on a larger input.
_KEPT = (Convolution, Pooling, Relu, LeakyRelu, Sigmoid, Tanh, BatchNormalization, Sign)


def fully_convolutional(model: Sequential) -> Sequential:
    """The same network with every Affine layer replaced by the Convolution that computes it.

    The first Affine after the convolutional body sees a (C, H, W) map flattened in C order, index
    c*H*W + h*W + w: its (C*H*W, K) weights are a (K, C, H, W) filter with an H x W kernel. Each later
    Affine (D, K) is a 1x1 convolution. A BinaryAffine becomes the BinaryConvolution of the same latent
    weights (it convolves with their signs, as the affine multiplies by them). Dropout is dropped (the
    identity at inference); convolutions, pooling, activations and batch normalisation are kept as they
    are (shared, not copied). Any other layer (a residual block, global average pooling, a layer of
    one's own) has no such form: InvalidValue names it. On an input of the training size the new network's
    logits are the old ones as (N, K, 1, 1); on a larger input, a map of logits, one per window, with
    the body's total stride between neighbouring windows."""
    if model.input_shape is None:
        raise InvalidValue("fully_convolutional needs a model that knows its input shape")
    layers, shape, convert = [], tuple(model.input_shape), False
    for name, layer in model.layers.items():
        if isinstance(layer, Dropout):
            continue
        if isinstance(layer, Affine):
            c, h, w = shape if len(shape) == 3 else (shape[0], 1, 1)
            if c * h * w != layer.in_features:
                raise InvalidValue(f"{name}: expects {layer.in_features} features, the map before it has shape "
                                   f"{shape}")
            if type(layer) is BinaryAffine:
                conv = BinaryConvolution(c, layer.out_features, (h, w), dtype=layer.W.dtype)
            elif type(layer) is Affine:
                conv = Convolution(c, layer.out_features, (h, w), dtype=layer.W.dtype)
            else:
                raise InvalidValue(f"layer {name!r} ({type(layer).__name__}) has no convolutional form here")
            conv.W = layer.W.T.reshape(layer.out_features, c, h, w).copy()
            conv.b = layer.b.copy()
            layers.append((name, conv))
            shape, convert = (layer.out_features, 1, 1), True
            continue
        if type(layer) not in _KEPT and type(layer) is not BinaryConvolution:
            raise InvalidValue(f"layer {name!r} ({type(layer).__name__}) cannot be made fully convolutional: only "
                               f"convolutions, pooling, activations, batch normalisation, dropout and fully "
                               f"connected layers can")
        layers.append((name, layer))
        shape = output_shape_of([layer], shape)
    if not convert:
        raise InvalidValue("the model has no fully connected layer to convert")
    return Sequential(layers, input_shape=None)


def window_stride(model: Sequential) -> tuple[int, int]:
    """The input-pixel distance between neighbouring positions of the score map (the product of strides)."""
    sy = sx = 1
    for layer in model.layers.values():
        s = getattr(layer, "stride", 1)
        sy, sx = sy * s, sx * s
    return sy, sx
