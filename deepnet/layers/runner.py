"""Running a chain of layers: the one loop every network uses, forward and backward.

Sequential models, the residual and inception blocks inside them, the GAN's networks, the judge's
feature pass, the packed binary network and the per-layer benchmarks all run their layers through
`forward` and `backward` here, so the fusions below happen wherever the layers stand:

- a Convolution and the Relu right after it run as one pass (the backend's conv2d_relu: the ReLU inside
  the convolution's output pass, its mask inside the convolution's backward); the Relu records the
  output and steps aside. A BatchNormalization and its Relu likewise (batch_norm with relu=True), which
  puts the ReLU of ResNet's blocks, VGG-BN and the GAN's generator inside the normalisation's pass; and a
  residual block and the Relu after it (the backend's add_relu: the block's sum and the ReLU in one pass);
- in inference with pool=True (predict, evaluate), a Convolution, its Relu and a 2x2/2 max Pooling run
  as one pass (the backend's conv2d_relu_pool), which keeps nothing for backward: those layers are then
  left as if they had not run, so a backward says "before forward" rather than give a stale gradient.
  Likewise a Convolution and the BatchNormalization after it (and its Relu) run as one convolution whose
  weights and bias have the normalisation folded in (Convolution.forward_folded): no pass of its own.

`step`, when given, runs each step instead: step(layers, run, x) with `layers` the one, two or three
layers of the step and run(x) the step itself; it returns the step's output (a timer wraps run, the
packed binary network swaps its own product in). backward takes one too, called for each layer.
"""
from __future__ import annotations

from .activations import Relu
from .base import Container
from .convolution import Convolution
from .normalization import BatchNormalization
from .pooling import Pooling


def forward(layers, x, train: bool = False, fuse: bool = True, pool: bool = False, step=None):
    """x through `layers` (a list), fused as the module docstring says; returns the last output."""
    i = 0
    while i < len(layers):
        group = _group(layers, i, fuse, pool and not train)
        run = _runner(group, train, fuse, pool)
        x = run(x) if step is None else step(group, run, x)
        i += len(group)
    return x


def backward(layers, d, input_grad: bool = True, step=None):
    """d (the gradient of the last output) back through `layers`, filling every layer's gradients; returns
    the gradient of the input, or None with input_grad=False, which lets a first layer that can skip
    computing it (a convolution's backward_params) do so. `step`, when given: step(layer, run, d) for each
    layer, as in forward."""
    params_only = False
    for i in range(len(layers) - 1, -1, -1):
        layer = layers[i]
        params_only = i == 0 and not input_grad and hasattr(layer, "backward_params")
        run = layer.backward_params if params_only else layer.backward
        d = run(d) if step is None else step(layer, run, d)
    return None if params_only or not input_grad else d


def _group(layers, i, fuse: bool, pool: bool) -> list:
    """The layers from i that run as one step: three (convolution, ReLU, pooling), two (convolution or batch
    norm, ReLU) or one."""
    if fuse and pool and conv_relu_pool(layers[i : i + 3]):
        return layers[i : i + 3]
    if fuse and pool and conv_batch_norm(layers[i : i + 2]):
        return layers[i : i + 3] if i + 2 < len(layers) and type(layers[i + 2]) is Relu else layers[i : i + 2]
    fuses = type(layers[i]) in (Convolution, BatchNormalization) or getattr(layers[i], "fuses_relu", False)
    if fuse and fuses and i + 1 < len(layers) and type(layers[i + 1]) is Relu:
        return layers[i : i + 2]
    return layers[i : i + 1]


def _runner(group, train: bool, fuse: bool, pool: bool):
    layer = group[0]
    if len(group) > 1 and type(group[1]) is BatchNormalization:
        def run(x):
            y = layer.forward_folded(x, group[1], relu=len(group) == 3)
            for skipped in group[1:]:
                skipped.out_shape = None  # backward now says "before forward", not a stale gradient
            return y
    elif len(group) == 3:
        def run(x):
            y = layer.forward_relu_pool(x)
            for skipped in group[1:]:
                skipped.out_shape = None  # backward now says "before forward", not a stale gradient
            return y
    elif len(group) == 2 and isinstance(layer, Container):  # a residual block and its ReLU
        def run(x):
            return group[1].adopt(layer.forward(x, train=train, fuse=fuse, pool=pool, relu=True))
    elif len(group) == 2:
        def run(x):
            return group[1].adopt(layer.forward(x, train=train, relu=True))
    elif isinstance(layer, Container):
        def run(x):
            return layer.forward(x, train=train, fuse=fuse, pool=pool)
    else:
        def run(x):
            return layer.forward(x, train=train)
    return run


def conv_batch_norm(layers) -> bool:
    """Whether these two layers are a Convolution and a BatchNormalization of its output channels."""
    return (len(layers) == 2 and type(layers[0]) is Convolution and type(layers[1]) is BatchNormalization
            and layers[1].num_features == layers[0].out_channels)


def conv_relu_pool(layers) -> bool:
    """Whether these three layers are a Convolution, a Relu and a 2x2/2 unpadded max Pooling."""
    if len(layers) < 3 or type(layers[0]) is not Convolution or type(layers[1]) is not Relu:
        return False
    p = layers[2]
    # a pooling whose indices an unpooling reads (SegNet) runs on its own: the fused pass keeps none
    return (type(p) is Pooling and p.mode == "max" and p.kh == p.kw == p.stride == 2 and p.pad == 0
            and not p.keep_indices)
