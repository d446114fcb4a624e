"""A trained model as an ONNX graph (the `onnx` extra): standard operators at opset 17, an IR version current
ONNX Runtime releases read, the batch a symbolic dimension.

    input   "input"   float32 (batch, C, H, W)
    output  "logits"  (batch, K), or (batch, K, H, W) for a segmenter; "probabilities" with softmax=True;
            "images" (batch, 1, 28, 28) for the DCGAN generator, whose input is "input" (batch, noise)

Layer by layer:
    Convolution -> Conv;  Reshape (the DCGAN generator's) -> Reshape;  TransposedConvolution -> ConvTranspose;  Pooling -> MaxPool / AveragePool
    (count_include_pad=1: deepnet's average counts the padding as zeros);  Affine -> Flatten + Gemm (B is W,
    (in, out), transB=0);  Relu, LeakyRelu, Sigmoid, Tanh -> themselves;  BatchNormalization -> its inference
    form (running statistics);  Dropout -> nothing (inference);  LRN -> LRN (the same convention: alpha divided
    by the window size);  Residual -> its branch, its shortcut and Add;  Concat -> the branches and Concat on
    channels;  GlobalAveragePooling -> GlobalAveragePool + Flatten;  Sign -> Where(x >= 0, 1, -1) (ONNX's Sign
    maps 0 to 0, deepnet's to +1);  BinaryConvolution / BinaryAffine -> Conv / Gemm with the signs of the latent
    weights as weights.
A layer with no form here (recurrent layers, unpooling by indices, RoI Align) is refused with its name.
"""
from __future__ import annotations

import numpy as np

from .errors import InvalidValue, MissingDependency

OPSET = 17
IR_VERSION = 8  # ONNX 1.13's: read by every ONNX Runtime release of the last years


def _onnx():
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError:
        raise MissingDependency("ONNX export needs the onnx package: pip install 'deepnet[onnx]'") from None
    return onnx, helper, numpy_helper


class _Graph:
    """Nodes and initialisers being built, with fresh names."""

    def __init__(self, helper, numpy_helper, dtype):
        self.helper, self.numpy_helper, self.dtype = helper, numpy_helper, np.dtype(dtype)
        self.nodes, self.inits, self.count = [], [], 0

    def name(self, base: str) -> str:
        self.count += 1
        return f"{base}_{self.count}"

    def const(self, array, base: str) -> str:
        name = self.name(base)
        self.inits.append(self.numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def weight(self, array, base: str) -> str:
        from .backends import current

        return self.const(current().to_numpy(array).astype(self.dtype), base)

    def node(self, op: str, inputs, base: str | None = None, **attrs) -> str:
        out = self.name(base or op.lower())
        self.nodes.append(self.helper.make_node(op, list(inputs), [out], name=out, **attrs))
        return out


def _layers(g: _Graph, layers, x: str, prefix: str) -> str:
    for i, layer in enumerate(layers):
        x = _layer(g, layer, x, f"{prefix}{i}")
    return x


def _layer(g: _Graph, layer, x: str, where: str) -> str:
    from .layers import (LRN, Affine, BatchNormalization, BinaryAffine, BinaryConvolution, Concat, Convolution,
                         Dropout, GlobalAveragePooling, LeakyRelu, Pooling, Relu, Residual, Sigmoid, Sign, Tanh,
                         TransposedConvolution)
    from .layers.binary import binarize

    kind = type(layer).__name__
    if isinstance(layer, (BinaryConvolution, BinaryAffine)):
        w = binarize(layer.W)
    elif hasattr(layer, "W"):
        w = layer.W
    if isinstance(layer, Convolution):  # BinaryConvolution too
        p = layer.pad
        return g.node("Conv", [x, g.weight(w, f"{where}.W"), g.weight(layer.b, f"{where}.b")], "conv",
                      kernel_shape=[layer.kh, layer.kw], strides=[layer.stride] * 2, pads=[p, p, p, p])
    if isinstance(layer, TransposedConvolution):
        p = layer.pad
        return g.node("ConvTranspose", [x, g.weight(w, f"{where}.W"), g.weight(layer.b, f"{where}.b")], "deconv",
                      kernel_shape=[layer.kh, layer.kw], strides=[layer.stride] * 2, pads=[p, p, p, p],
                      output_padding=[layer.output_padding] * 2)
    if isinstance(layer, Affine):
        flat = g.node("Flatten", [x], "flatten", axis=1)
        return g.node("Gemm", [flat, g.weight(w, f"{where}.W"), g.weight(layer.b, f"{where}.b")], "gemm")
    if isinstance(layer, Pooling):
        p = layer.pad
        common = dict(kernel_shape=[layer.kh, layer.kw], strides=[layer.stride] * 2, pads=[p, p, p, p])
        if layer.mode == "max":
            return g.node("MaxPool", [x], "maxpool", **common)
        return g.node("AveragePool", [x], "avgpool", count_include_pad=1, **common)
    if kind == "Relu":
        return g.node("Relu", [x])
    if isinstance(layer, LeakyRelu):
        return g.node("LeakyRelu", [x], alpha=float(layer.alpha))
    if isinstance(layer, Sigmoid):
        return g.node("Sigmoid", [x])
    if isinstance(layer, Tanh):
        return g.node("Tanh", [x])
    if isinstance(layer, Dropout):
        return x
    if isinstance(layer, BatchNormalization):
        return g.node("BatchNormalization", [x, g.weight(layer.gamma, f"{where}.gamma"),
                                             g.weight(layer.beta, f"{where}.beta"),
                                             g.weight(layer.running_mean, f"{where}.mean"),
                                             g.weight(layer.running_var, f"{where}.var")], "bn",
                      epsilon=float(layer.eps))
    if isinstance(layer, LRN):
        return g.node("LRN", [x], "lrn", size=layer.size, alpha=layer.alpha, beta=layer.beta, bias=layer.k)
    if isinstance(layer, Residual):
        out = _layers(g, layer.branch, x, f"{where}.f")
        if not layer.skip:
            return out
        return g.node("Add", [out, _layers(g, layer.shortcut, x, f"{where}.s")], "add")
    if isinstance(layer, Concat):
        outs = [_layers(g, b, x, f"{where}.b{i}_") for i, b in enumerate(layer.branches)]
        return g.node("Concat", outs, "concat", axis=1)
    if isinstance(layer, GlobalAveragePooling):
        return g.node("Flatten", [g.node("GlobalAveragePool", [x], "gap")], "flatten", axis=1)
    if isinstance(layer, Sign):
        zero, one = g.const(np.zeros((), g.dtype), "zero"), g.const(np.ones((), g.dtype), "one")
        minus = g.const(-np.ones((), g.dtype), "minus_one")
        return g.node("Where", [g.node("GreaterOrEqual", [x, zero], "nonnegative"), one, minus], "sign")
    if kind == "Reshape":  # the DCGAN generator's (N, D) -> (N, C, H, W)
        return g.node("Reshape", [x, g.const(np.array([0, *layer.shape], np.int64), "shape")], "reshape")
    raise InvalidValue(f"layer {where} ({kind}) has no ONNX form in deepnet's exporter; models with it cannot be "
                       f"exported")


def to_onnx(model, softmax: bool = False, metadata: dict | None = None, dtype="float32"):
    """The model as an onnx.ModelProto (checked with onnx.checker, full_check)."""
    onnx, helper, numpy_helper = _onnx()
    if getattr(model, "is_detector", False) or getattr(model, "is_captioner", False):
        raise InvalidValue(f"{type(model).__name__} is not a chain of layers from an image to scores; deepnet "
                           f"exports classifiers, segmenters and generators")
    if model.input_shape is None:
        raise InvalidValue("the model has no input shape to export with; build it with input_shape=")
    g = _Graph(helper, numpy_helper, dtype)
    out = _layers(g, list(model.layers.values()), "input", "")
    from .layers.base import output_shape_of

    shape = output_shape_of(model.layers.values(), model.input_shape)
    if softmax:
        out = g.node("Softmax", [out], "softmax", axis=1)
    name = "probabilities" if softmax else "images" if len(model.input_shape) == 1 else "logits"
    g.nodes.append(helper.make_node("Identity", [out], [name], name="output"))
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    graph = helper.make_graph(
        g.nodes, type(model).__name__,
        [helper.make_tensor_value_info("input", elem, ["batch", *model.input_shape])],
        [helper.make_tensor_value_info(name, elem, ["batch", *shape])], g.inits)
    proto = helper.make_model(graph, producer_name="deepnet", opset_imports=[helper.make_opsetid("", OPSET)])
    proto.ir_version = IR_VERSION
    from . import __version__

    meta = {"deepnet_version": __version__, "model": type(model).__name__, **(metadata or {})}
    helper.set_model_props(proto, {str(k): str(v) for k, v in meta.items()})
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export(model, path, softmax: bool = False, metadata: dict | None = None) -> None:
    """Write the model to `path` as ONNX, atomically."""
    from .io import atomic_open

    proto = to_onnx(model, softmax, metadata)
    with atomic_open(path, "wb") as f:
        f.write(proto.SerializeToString())
