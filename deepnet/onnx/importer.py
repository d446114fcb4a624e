"""An ONNX file read back into a deepnet Sequential: the operators the exporter writes (export.py), also in the
layouts other exporters use. Each operator is an entry of IMPORTERS; a graph that branches becomes Residual and
Concat blocks, and deepnet's sign, Where(x >= 0, 1, -1), a Sign layer."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..backends import current
from ..backends.settings import parse_dtype
from ..errors import BadFile, MissingFile
from ..layers import (LRN, Affine, BatchNormalization, Concat, Convolution, GlobalAveragePooling, LeakyRelu,
                      MaxUnpooling, Pooling, Relu, Reshape, Residual, Sigmoid, Sign, Tanh, TransposedConvolution)
from ..layers.base import output_shape_of
from ..models.sequential import Sequential
from .graph import onnx_modules

MAX_FILE_BYTES = 2 << 30  # protobuf's own limit; a file above it is refused before it is parsed


def load(path, dtype="float32"):
    """An ONNX file read back into a deepnet Sequential (Residual and Concat blocks where the graph branches):
    the operators `to_onnx` writes, in the layouts other exporters use too (Gemm with transB=1, Reshape to
    (N, -1) for Flatten, a trailing Softmax dropped: deepnet's models end in logits). Unknown operators,
    attributes deepnet does not support (dilations, groups, auto_pad, asymmetric pads) and external data are
    refused, naming the node; every weight's shape is checked against its layer before the model is built."""
    onnx, _, numpy_helper = onnx_modules()
    path = Path(path)
    if not path.is_file():
        raise MissingFile(f"no such ONNX file: {path}")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise BadFile(f"{path}: {path.stat().st_size:,} bytes; ONNX files above 2 GiB (protobuf's limit) are not read")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise BadFile(f"{path} is not a readable ONNX file ({type(exc).__name__}: {exc})") from None
    return from_proto(proto, str(path), dtype)


def from_proto(proto, source: str = "ONNX model", dtype="float32"):
    _, helper, numpy_helper = onnx_modules()
    graph = proto.graph
    made = {p.key: p.value for p in proto.metadata_props}
    if proto.producer_name == "deepnet" and made.get("model") in ("FasterRCNN", "NIC"):
        raise BadFile(f"{source} holds deepnet's {made['model']} graph, which ONNX Runtime runs but deepnet does not "
                      f"read back (it reads chains of image layers); evaluate the run it was exported from")
    weights = {}
    for t in graph.initializer:
        if t.data_location == 1 or len(t.external_data):  # TensorProto.EXTERNAL
            raise BadFile(f"{source}: tensor {t.name!r} keeps its data in an external file; deepnet reads "
                          f"self-contained ONNX files only")
    _check_structure(proto, source)
    for t in graph.initializer:
        try:
            weights[t.name] = numpy_helper.to_array(t)
        except Exception as exc:  # a declared shape its data does not fill, an unknown element type
            raise BadFile(f"{source}: tensor {t.name!r} of shape {list(t.dims)} cannot be read "
                          f"({type(exc).__name__}: {exc})") from None
    inputs = [i for i in graph.input if i.name not in weights]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise BadFile(f"{source}: deepnet reads graphs of one input and one output; this one has {len(inputs)} "
                      f"inputs and {len(graph.output)} outputs")
    dims = inputs[0].type.tensor_type.shape.dim
    input_shape = tuple(int(d.dim_value) for d in dims[1:])
    if not input_shape or any(d < 1 for d in input_shape):
        raise BadFile(f"{source}: the input's sample shape must be fixed (only the batch may be symbolic); got "
                      f"{[d.dim_param or d.dim_value for d in dims]}")
    producer = {}
    for node in graph.node:
        for out in node.output:
            producer[out] = node
    reader = _Reader(weights, producer, helper, source, parse_dtype(dtype))
    layers = reader.chain(inputs[0].name, graph.output[0].name)
    model = Sequential(layers, input_shape=input_shape)
    try:
        output_shape_of(model.layers.values(), input_shape)
    except (ValueError, IndexError) as exc:
        raise BadFile(f"{source}: its layers do not fit together: {exc}") from None
    return model


def _check_structure(proto, source: str) -> None:
    """What ONNX's checker refuses, refused here too (duplicate tensor names, nodes out of topological order,
    and so a cycle: the walk below would follow it forever), and node names given twice, which deepnet would
    read as one layer."""
    onnx, _, _ = onnx_modules()
    try:
        onnx.checker.check_model(proto)
    except Exception as exc:  # onnx.checker.ValidationError, or what the checker's own parsing raises
        # the checker's message spans lines (the node on a later one): one line of it, whitespace collapsed
        text = " ".join(str(exc).replace("==> Context:", ";").split()) or type(exc).__name__
        raise BadFile(f"{source} is not a valid ONNX graph (onnx.checker: {text[:300]})") from None
    names = [n.name for n in proto.graph.node if n.name]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise BadFile(f"{source} is not a valid ONNX graph: node names {twice} are given to more than one node")


class _Reader:
    # the operators whose first input alone is data (the rest are weights)
    SINGLE = {"Relu", "LeakyRelu", "Sigmoid", "Tanh", "Conv", "ConvTranspose", "MaxPool", "AveragePool", "Gemm",
              "Flatten", "Reshape", "BatchNormalization", "LRN", "GlobalAveragePool", "Identity", "Dropout",
              "Softmax", "MaxUnpool"}

    def __init__(self, weights, producer, helper, source, dtype):
        self.weights, self.producer, self.helper, self.source, self.dtype = weights, producer, helper, source, dtype
        self.pools = {}  # MaxPool node name -> its Pooling layer (a MaxUnpool reads it before it is reached)

    def fail(self, node, what):
        raise BadFile(f"{self.source}: node {node.name or node.op_type!r} ({node.op_type}): {what}")

    def attrs(self, node) -> dict:
        return {a.name: self.helper.get_attribute_value(a) for a in node.attribute}

    def weight(self, node, i, shape=None):
        name = node.input[i] if i < len(node.input) else ""
        if name not in self.weights:
            self.fail(node, f"input {i} ({name!r}) must be a stored tensor (an initializer)")
        a = self.weights[name]
        if a.dtype.kind not in "fiub":
            self.fail(node, f"tensor {name!r} holds {a.dtype} data; weights are numbers")
        if shape is not None and tuple(a.shape) != tuple(shape):
            self.fail(node, f"tensor {name!r} has shape {tuple(a.shape)}; expected {tuple(shape)}")
        if not np.isfinite(a).all():
            self.fail(node, f"tensor {name!r} holds NaN or infinite values")
        return a

    def device(self, node, arr):
        """A weight on the device in the model's dtype, after every attribute is folded in (Gemm's alpha and
        beta): finite there, or the node is refused (1e300 is finite in float64 and not in float32)."""
        with np.errstate(over="ignore", invalid="ignore"):
            cast = np.ascontiguousarray(arr, dtype=self.dtype)
        if not np.isfinite(cast).all():
            self.fail(node, f"its weights are not finite in {np.dtype(self.dtype).name} (NaN, infinite, or beyond "
                            f"the type's range once its attributes are applied)")
        return current().to_device(cast)

    def layer(self, node):
        """The node's layer (None for one that computes nothing deepnet keeps), from IMPORTERS."""
        read = IMPORTERS.get(node.op_type)
        if read is None:
            self.fail(node, "an operator deepnet does not read")
        return read(self, node, self.attrs(node))

    def ints(self, node, a: dict, name: str, count: int, low: int, default=None) -> list:
        """Attribute `name` as `count` integers of at least `low` (`default` when absent and not None)."""
        value = a.get(name, default)
        if value is None:
            self.fail(node, f"attribute {name} is missing")
        ok = isinstance(value, (list, tuple)) and len(value) == count and all(
            isinstance(v, int) and not isinstance(v, bool) and v >= low for v in value)
        if not ok:
            self.fail(node, f"attribute {name} must be {count} integers of at least {low}; got {value!r}")
        return [int(v) for v in value]

    def ancestors(self, t: str) -> dict:
        """{tensor: steps back} of everything `t` is computed from (its data path, not its weights)."""
        seen, todo = {t: 0}, [t]
        while todo:
            cur = todo.pop()
            node = self.producer.get(cur)
            if node is None:
                continue
            for i in node.input[: 1 if node.op_type in self.SINGLE else None]:
                if i and i not in self.weights and i not in seen:
                    seen[i] = seen[cur] + 1
                    todo.append(i)
        return seen

    def chain(self, start: str, end: str) -> list:
        """The layers that compute tensor `end` from tensor `start`."""
        out = []
        t = end
        while t != start:
            node = self.producer.get(t)
            if node is None:
                raise BadFile(f"{self.source}: tensor {t!r} is computed from nothing the input reaches")
            if node.op_type in ("Add", "Concat"):
                branches = [i for i in node.input]
                common = set(self.ancestors(branches[0]))
                for b in branches[1:]:
                    common &= set(self.ancestors(b))
                if not common:
                    self.fail(node, "its inputs share no common source")
                # the nearest shared source: the one fewest steps back from the first branch
                first = self.ancestors(branches[0])
                source = min(common, key=lambda c: first[c])
                out.append(self.block(node, source, branches))
                t = source
                continue
            if node.op_type == "Where":  # deepnet's sign: Where(x >= 0, 1, -1)
                out.append(self.sign(node))
                t = self.producer[node.input[0]].input[0]
                continue
            try:
                layer = self.layer(node)
            except BadFile:
                raise
            except ValueError as exc:  # a layer's constructor refusing the sizes the node gives it
                self.fail(node, str(exc))
            if layer is not None:
                out.append(layer)
            t = node.input[0]
        return out[::-1]

    def pool(self, node, kernel, stride: int, pad: int):
        """The one Pooling layer of a MaxPool node (shared with the MaxUnpool that reads its indices)."""
        key = node.output[0]  # unique in a checked graph; names need not be
        if key not in self.pools:
            self.pools[key] = Pooling(kernel, stride=stride, pad=pad, mode="max")
        return self.pools[key]

    def sign(self, node):
        cond = self.producer.get(node.input[0])
        ok = cond is not None and cond.op_type == "GreaterOrEqual" and cond.input[1] in self.weights and \
            float(np.asarray(self.weights[cond.input[1]]).reshape(-1)[0]) == 0.0 and \
            all(n in self.weights for n in node.input[1:]) and \
            np.asarray(self.weights[node.input[1]]).reshape(-1).tolist() == [1.0] and \
            np.asarray(self.weights[node.input[2]]).reshape(-1).tolist() == [-1.0]
        if not ok:
            self.fail(node, "deepnet reads Where only as its sign, Where(x >= 0, 1, -1)")
        return Sign()

    def block(self, node, source, branches):
        paths = [self.chain(source, b) for b in branches]
        if node.op_type == "Add":
            if len(paths) != 2:
                self.fail(node, f"Add of {len(paths)} inputs; deepnet's residual block adds two")
            return Residual(paths[0], shortcut=paths[1])
        if self.attrs(node).get("axis", None) != 1:
            self.fail(node, "Concat must join channels (axis=1)")
        return Concat(paths)


def _nothing(r, node, a):
    if node.op_type == "Flatten" and a.get("axis", 1) != 1:
        r.fail(node, f"Flatten with axis {a.get('axis')}; only axis=1 (keep the batch) is read")
    return None  # Flatten: Affine flattens its input itself; Softmax: deepnet's models end in logits


def _reshape(r, node, a):
    shape = r.weight(node, 1)
    if shape.ndim != 1 or shape.dtype.kind not in "iu":
        r.fail(node, f"its shape must be a 1-D tensor of integers; got {shape.dtype} of shape {shape.shape}")
    if len(shape) == 2 and shape[1] == -1:  # (N, -1): a flatten
        return None
    if len(shape) >= 2 and shape[0] in (0, -1):
        return Reshape(*[int(s) for s in shape[1:]])
    r.fail(node, f"Reshape to {shape.tolist()}; deepnet reads (0 or -1, ...) shapes that keep the batch")


def _window(r, node, a) -> tuple[int, int]:
    """(stride, pad) of a Conv, ConvTranspose or pooling node, after what deepnet does not support is refused."""
    for bad in ("dilations", "group", "auto_pad"):
        value = a.get(bad)
        if value not in (None, 1, [1, 1], b"NOTSET", "NOTSET"):
            r.fail(node, f"attribute {bad}={value!r} is not supported")
    if a.get("ceil_mode", 0):
        r.fail(node, "ceil_mode=1 is not supported")
    pads = r.ints(node, a, "pads", 4, 0, [0, 0, 0, 0])
    if len(set(pads)) != 1:
        r.fail(node, f"asymmetric pads {pads} are not supported (deepnet pads every side alike)")
    strides = r.ints(node, a, "strides", 2, 1, [1, 1])
    if len(set(strides)) != 1:
        r.fail(node, f"strides {strides} differ by axis; deepnet strides both alike")
    return int(strides[0]), int(pads[0])


def _pooling(r, node, a):
    stride, pad = _window(r, node, a)
    kh, kw = r.ints(node, a, "kernel_shape", 2, 1)
    if node.op_type == "AveragePool":
        if pad and not a.get("count_include_pad", 0):
            r.fail(node, "AveragePool with padding and count_include_pad=0; deepnet counts the padding")
        return Pooling((kh, kw), stride=stride, pad=pad, mode="avg")
    if a.get("storage_order", 0):
        r.fail(node, "storage_order=1 (column-major indices) is not supported")
    return r.pool(node, (kh, kw), stride, pad)


def _convolution(r, node, a):
    stride, pad = _window(r, node, a)
    op = node.op_type
    w = r.weight(node, 1)
    if w.ndim != 4 or 0 in w.shape:
        r.fail(node, f"weights of shape {w.shape}; expected 4-D, no side empty")
    if "kernel_shape" in a and r.ints(node, a, "kernel_shape", 2, 1) != list(w.shape[2:]):
        r.fail(node, f"attribute kernel_shape {a['kernel_shape']} is not its weights' {list(w.shape[2:])}")
    outputs = w.shape[0 if op == "Conv" else 1]
    b = r.weight(node, 2, (outputs,)) if len(node.input) > 2 else np.zeros(outputs)
    if op == "Conv":
        layer = Convolution(w.shape[1], w.shape[0], w.shape[2:], stride=stride, pad=pad, dtype=r.dtype)
    else:
        op_pad = list(a.get("output_padding", [0, 0]))
        if len(set(op_pad)) != 1:
            r.fail(node, f"output_padding {op_pad} differs by axis")
        layer = TransposedConvolution(w.shape[0], w.shape[1], w.shape[2:], stride=stride, pad=pad,
                                      output_padding=int(op_pad[0]), dtype=r.dtype)
    layer.W, layer.b = r.device(node, w), r.device(node, b)
    return layer


def _gemm(r, node, a):
    if a.get("transA", 0):
        r.fail(node, "transA=1 is not supported")
    w = r.weight(node, 1)
    if w.ndim != 2 or 0 in w.shape:
        r.fail(node, f"B of shape {w.shape}; expected 2-D, no side empty")
    w = w.T if a.get("transB", 0) else w
    alpha, beta = float(a.get("alpha", 1.0)), float(a.get("beta", 1.0))
    b = r.weight(node, 2) if len(node.input) > 2 else np.zeros(w.shape[1])
    if b.shape not in ((w.shape[1],), (1, w.shape[1])):
        r.fail(node, f"C of shape {b.shape}; expected ({w.shape[1]},)")
    layer = Affine(w.shape[0], w.shape[1], dtype=r.dtype)
    layer.W, layer.b = r.device(node, alpha * w), r.device(node, beta * b.reshape(-1))
    return layer


def _batch_norm(r, node, a):
    if len(node.output) > 1 and any(node.output[1:]):
        r.fail(node, "training-mode outputs are not read; export in inference mode")
    gamma = r.weight(node, 1)
    layer = BatchNormalization(len(gamma), eps=float(a.get("epsilon", 1e-5)), dtype=r.dtype)
    n = (len(gamma),)
    layer.gamma, layer.beta = r.device(node, gamma), r.device(node, r.weight(node, 2, n))
    layer.running_mean = r.device(node, r.weight(node, 3, n))
    layer.running_var = r.device(node, r.weight(node, 4, n))
    return layer


def _lrn(r, node, a):
    size = a.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        r.fail(node, f"attribute size must be a whole number of channels, at least 1; got {size!r}")
    if size % 2 == 0:
        r.fail(node, f"an even window of {size} channels; deepnet's LRN centres odd windows")
    return LRN(size, float(a.get("alpha", 1e-4)), float(a.get("beta", 0.75)), float(a.get("bias", 1.0)))


def _unpool(r, node, a):
    source = r.producer.get(node.input[1]) if len(node.input) > 1 else None
    if source is None or source.op_type != "MaxPool" or list(source.output[1:2]) != [node.input[1]]:
        r.fail(node, "its indices must be a MaxPool's second output")
    sa = r.attrs(source)
    pool = r.pool(source, tuple(r.ints(source, sa, "kernel_shape", 2, 1)),
                  r.ints(source, sa, "strides", 2, 1, [1, 1])[0], r.ints(source, sa, "pads", 4, 0, [0, 0, 0, 0])[0])
    mine = (r.ints(node, a, "kernel_shape", 2, 1), r.ints(node, a, "strides", 2, 1, [1, 1])[0],
            r.ints(node, a, "pads", 4, 0, [0] * 4)[0])
    if mine != ([pool.kh, pool.kw], pool.stride, pool.pad):
        r.fail(node, f"its window {mine} is not its MaxPool's")
    return MaxUnpooling(pool)


# One entry per operator of a chain: (reader, node, its attributes) -> its layer, or None where it computes
# nothing deepnet keeps. Add and Concat (blocks) and Where (the sign) are read by the walk, _Reader.chain.
IMPORTERS = {
    "Identity": _nothing,
    "Dropout": _nothing,
    "Flatten": _nothing,
    "Softmax": _nothing,
    "Reshape": _reshape,
    "Relu": lambda r, node, a: Relu(),
    "Sigmoid": lambda r, node, a: Sigmoid(),
    "Tanh": lambda r, node, a: Tanh(),
    "LeakyRelu": lambda r, node, a: LeakyRelu(float(a.get("alpha", 0.01))),
    "Conv": _convolution,
    "ConvTranspose": _convolution,
    "MaxPool": _pooling,
    "AveragePool": _pooling,
    "Gemm": _gemm,
    "BatchNormalization": _batch_norm,
    "LRN": _lrn,
    "GlobalAveragePool": lambda r, node, a: GlobalAveragePooling(),
    "MaxUnpool": _unpool,
}
