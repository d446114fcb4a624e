"""A trained model as an ONNX graph (the `onnx` extra): standard operators at opset 17, an IR version current
ONNX Runtime releases read, the batch a symbolic dimension.

    input   "input"   float32 (batch, C, H, W)
    output  "logits"  (batch, K), or (batch, K, H, W) for a segmenter; "probabilities" with softmax=True;
            "images" (batch, 1, 28, 28) for the DCGAN generator, whose input is "input" (batch, noise)

The captioner (NIC) is exported as its teacher-forced pass, one graph:
    inputs  "input" float32 (batch, C, H, W), "words" int64 (batch, steps): START and the words so far
    output  "logits" (batch, steps, vocabulary): at each step, the scores of the next word
The encoder's layers as below, its tanh giving the LSTM's initial state; Embedding -> Gather; LSTM -> LSTM
(gates reordered from deepnet's i, f, g, o to ONNX's i, o, f, c; the bias in W's half, R's half zero);
TimeAffine -> MatMul + Add. `greedy_captions` writes captions with such a graph, one call a word.

Layer by layer:
    Convolution -> Conv;  Reshape (the DCGAN generator's) -> Reshape;  TransposedConvolution -> ConvTranspose;
    Pooling -> MaxPool / AveragePool
    (count_include_pad=1: deepnet's average counts the padding as zeros);  Affine -> Flatten + Gemm (B is W,
    (in, out), transB=0);  Relu, LeakyRelu, Sigmoid, Tanh -> themselves;  BatchNormalization -> its inference
    form (running statistics);  Dropout -> nothing (inference);  LRN -> LRN (the same convention: alpha divided
    by the window size);  Residual -> its branch, its shortcut and Add;  Concat -> the branches and Concat on
    channels;  GlobalAveragePooling -> GlobalAveragePool + Flatten;  Sign -> Where(x >= 0, 1, -1) (ONNX's Sign
    maps 0 to 0, deepnet's to +1);  BinaryConvolution / BinaryAffine -> Conv / Gemm with the signs of the latent
    weights as weights.
A layer with no form here (RoI Align, and recurrent layers outside NIC) is refused with its name. Import reads
the chains and blocks above back; the captioner's graph it does not.
"""
from __future__ import annotations

import numpy as np

from .. import __version__, tasks
from ..datasets import captions as words
from ..backends import current
from ..errors import InvalidValue
from ..io import atomic_open
from ..layers import (LRN, Affine, BatchNormalization, BinaryAffine, BinaryConvolution, Concat, Convolution, Dropout,
                      GlobalAveragePooling, LeakyRelu, MaxUnpooling, Pooling, Relu, Reshape, Residual, Sigmoid, Sign,
                      Tanh, TransposedConvolution)
from ..layers.base import output_shape_of
from ..layers.binary import binarize
from .detector import detector_graph
from .graph import IR_VERSION, OPSET, Graph, onnx_modules

def _layers(g: Graph, layers, x: str, prefix: str) -> str:
    for i, layer in enumerate(layers):
        x = _layer(g, layer, x, f"{prefix}{i}")
    return x


def _layer(g: Graph, layer, x: str, where: str) -> str:
    """The layer's nodes, from EXPORTERS: the entry of its class or of the nearest class it derives from."""
    for cls in type(layer).__mro__:
        if cls in EXPORTERS:
            return EXPORTERS[cls](g, layer, x, where)
    raise InvalidValue(f"layer {where} ({type(layer).__name__}) has no ONNX form in deepnet's exporter; models with "
                       f"it cannot be exported")


def _weights(layer):
    """The weights an exported layer holds: a binarized layer's signs of its latent weights."""
    return binarize(layer.W) if isinstance(layer, (BinaryConvolution, BinaryAffine)) else layer.W


def _conv(g, layer, x, where):  # BinaryConvolution too
    p = layer.pad
    return g.node("Conv", [x, g.weight(_weights(layer), f"{where}.W"), g.weight(layer.b, f"{where}.b")], "conv",
                  kernel_shape=[layer.kh, layer.kw], strides=[layer.stride] * 2, pads=[p, p, p, p])


def _deconv(g, layer, x, where):
    p = layer.pad
    return g.node("ConvTranspose", [x, g.weight(layer.W, f"{where}.W"), g.weight(layer.b, f"{where}.b")], "deconv",
                  kernel_shape=[layer.kh, layer.kw], strides=[layer.stride] * 2, pads=[p, p, p, p],
                  output_padding=[layer.output_padding] * 2)


def _affine(g, layer, x, where):  # BinaryAffine too
    flat = g.node("Flatten", [x], "flatten", axis=1)
    return g.node("Gemm", [flat, g.weight(_weights(layer), f"{where}.W"), g.weight(layer.b, f"{where}.b")], "gemm")


def _pool(g, layer, x, where):
    p = layer.pad
    common = dict(kernel_shape=[layer.kh, layer.kw], strides=[layer.stride] * 2, pads=[p, p, p, p])
    if layer.mode == "max" and layer.keep_indices:  # SegNet's: its arg-max is unpooled
        out, indices = g.name("maxpool"), g.name("indices")
        g.nodes.append(g.helper.make_node("MaxPool", [x], [out, indices], name=out, **common))
        g.pools[id(layer)] = (indices, x)
        return out
    if layer.mode == "max":
        return g.node("MaxPool", [x], "maxpool", **common)
    return g.node("AveragePool", [x], "avgpool", count_include_pad=1, **common)


def _unpool(g, layer, x, where):
    p = layer.pooling
    if id(p) not in g.pools:
        raise InvalidValue(f"layer {where} (MaxUnpooling) comes before the pooling whose indices it uses")
    indices, pooled_input = g.pools[id(p)]
    return g.node("MaxUnpool", [x, indices, g.node("Shape", [pooled_input], "shape")], "unpool",
                  kernel_shape=[p.kh, p.kw], strides=[p.stride] * 2, pads=[p.pad] * 4)


def _batch_norm(g, layer, x, where):
    return g.node("BatchNormalization", [x, g.weight(layer.gamma, f"{where}.gamma"),
                                         g.weight(layer.beta, f"{where}.beta"),
                                         g.weight(layer.running_mean, f"{where}.mean"),
                                         g.weight(layer.running_var, f"{where}.var")], "bn",
                  epsilon=float(layer.eps))


def _residual(g, layer, x, where):
    out = _layers(g, layer.branch, x, f"{where}.f")
    if not layer.skip:
        return out
    return g.node("Add", [out, _layers(g, layer.shortcut, x, f"{where}.s")], "add")


def _concat(g, layer, x, where):
    outs = [_layers(g, b, x, f"{where}.b{i}_") for i, b in enumerate(layer.branches)]
    return g.node("Concat", outs, "concat", axis=1)


def _sign(g, layer, x, where):  # ONNX's Sign maps 0 to 0, deepnet's to +1
    zero, one = g.const(np.zeros((), g.dtype), "zero"), g.const(np.ones((), g.dtype), "one")
    minus = g.const(-np.ones((), g.dtype), "minus_one")
    return g.node("Where", [g.node("GreaterOrEqual", [x, zero], "nonnegative"), one, minus], "sign")


# One entry per layer type: (graph, layer, input tensor, the layer's place) -> its output tensor.
EXPORTERS = {
    Convolution: _conv,
    TransposedConvolution: _deconv,
    Affine: _affine,
    Pooling: _pool,
    MaxUnpooling: _unpool,
    BatchNormalization: _batch_norm,
    Residual: _residual,
    Concat: _concat,
    Sign: _sign,
    Relu: lambda g, layer, x, where: g.node("Relu", [x]),
    LeakyRelu: lambda g, layer, x, where: g.node("LeakyRelu", [x], alpha=float(layer.alpha)),
    Sigmoid: lambda g, layer, x, where: g.node("Sigmoid", [x]),
    Tanh: lambda g, layer, x, where: g.node("Tanh", [x]),
    Dropout: lambda g, layer, x, where: x,
    LRN: lambda g, layer, x, where: g.node("LRN", [x], "lrn", size=layer.size, alpha=layer.alpha, beta=layer.beta,
                                           bias=layer.k),
    GlobalAveragePooling: lambda g, layer, x, where: g.node("Flatten", [g.node("GlobalAveragePool", [x], "gap")],
                                                            "flatten", axis=1),
    # the DCGAN generator's (N, D) -> (N, C, H, W)
    Reshape: lambda g, layer, x, where: g.node("Reshape", [x, g.const(np.array([0, *layer.shape], np.int64),
                                                                               "shape")], "reshape"),
}


DETECTION = {"score_threshold": 0.05, "nms": 0.5, "max_detections": 100}  # FasterRCNN.detect's defaults


class _Chain:
    """A chain's graph: its layers, then a Softmax with softmax=True. The other graphs (GRAPHS) derive from it."""

    note = ""        # what a user should know of the graph, after its line
    no_softmax = ""  # why softmax=True is refused, where it is
    words = False    # whether the graph also takes the words so far, "words" int64 (batch, steps)

    @staticmethod
    def build(g, model, softmax, detection):
        """(output tensor, its name, its shape after the batch)."""
        out = _layers(g, list(model.layers.values()), "input", "")
        shape = list(output_shape_of(model.layers.values(), model.input_shape))
        if softmax:
            out = g.node("Softmax", [out], "softmax", axis=1)
        return out, _Chain.output_name(model, softmax), shape

    @staticmethod
    def output_name(model, softmax) -> str:
        return "probabilities" if softmax else "images" if len(model.input_shape) == 1 else "logits"

    @staticmethod
    def output(model, softmax) -> str:
        """The output as `describe` names it."""
        return f"'{_Chain.output_name(model, softmax)}'"


class _Detector(_Chain):
    """Faster R-CNN whole, from the image to the detections (detector.py)."""

    no_softmax = "a detector's graph gives its detections; softmax=True is for classifiers"

    @staticmethod
    def build(g, model, softmax, detection):
        out, shape = detector_graph(g, model, _layers, **{**DETECTION, **(detection or {})})
        return out, "detections", shape

    @staticmethod
    def output(model, softmax) -> str:
        return (f"'detections' (batch, {DETECTION['max_detections']}, 6): rows (x1, y1, x2, y2, score, class), zeros "
                f"past the last")


class _Captioner(_Chain):
    """NIC's teacher-forced pass (_captioner)."""

    note = "deepnet.onnx.greedy_captions writes captions with it"
    no_softmax = "the captioner's graph gives each step's word scores; softmax=True is for classifiers"
    words = True

    @staticmethod
    def build(g, model, softmax, detection):
        return _captioner(g, model), "logits", ["steps", model.num_classes]

    @staticmethod
    def output(model, softmax) -> str:
        return f"'logits' (batch, steps, {model.num_classes})"


# The export hook of each task whose graph is not its layers in a chain (deepnet/tasks.py), by task name.
GRAPHS = {"detect": _Detector, "caption": _Captioner}


def _graph_of(model):
    task = tasks.of(model)
    return GRAPHS.get(task.name if task is not None else None, _Chain)


def describe(model, softmax: bool = False) -> str:
    """What the model's ONNX graph takes and gives, in a line."""
    graph = _graph_of(model)
    shape = ", ".join(map(str, model.input_shape))
    inputs = f"inputs 'input' (batch, {shape}) and 'words' (batch, steps)" if graph.words else \
        f"input 'input' (batch, {shape})"
    line = f"{type(model).__name__}, {inputs}, output {graph.output(model, softmax)}, ONNX opset {OPSET}"
    return f"{line}; {graph.note}" if graph.note else line


def to_onnx(model, softmax: bool = False, metadata: dict | None = None, dtype="float32", detection: dict | None = None):
    """The model as an onnx.ModelProto (checked with onnx.checker, full_check). `detection` sets a detector's
    score_threshold, nms and max_detections (DETECTION's defaults), which the graph holds as constants."""
    onnx, helper, numpy_helper = onnx_modules()
    if model.input_shape is None:
        raise InvalidValue("the model has no input shape to export with; build it with input_shape=")
    g = Graph(helper, numpy_helper, dtype)
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    inputs = [helper.make_tensor_value_info("input", elem, ["batch", *model.input_shape])]
    graph = _graph_of(model)
    if softmax and graph.no_softmax:
        raise InvalidValue(graph.no_softmax)
    out, name, shape = graph.build(g, model, softmax, detection)
    if graph.words:
        inputs.append(helper.make_tensor_value_info("words", onnx.TensorProto.INT64, ["batch", "steps"]))
    g.nodes.append(helper.make_node("Identity", [out], [name], name="output"))
    graph = helper.make_graph(g.nodes, type(model).__name__, inputs,
                              [helper.make_tensor_value_info(name, elem, ["batch", *shape])], g.inits)
    proto = helper.make_model(graph, producer_name="deepnet", opset_imports=[helper.make_opsetid("", OPSET)])
    proto.ir_version = IR_VERSION
    meta = {"deepnet_version": __version__, "model": type(model).__name__, **(metadata or {})}
    helper.set_model_props(proto, {str(k): str(v) for k, v in meta.items()})
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _captioner(g: Graph, model) -> str:
    """NIC's teacher-forced pass: the encoder's state h0, the words embedded, the LSTM, the scores."""
    h0 = _layers(g, model.encoder, "input", "")
    lstm, hidden = model.lstm, model.lstm.hidden_size

    def onnx_gates(w):  # (.., 4H) in deepnet's order i, f, g, o -> (4H, ..) in ONNX's i, o, f, c(=g)
        i, f, c, o = (w[..., k * hidden : (k + 1) * hidden] for k in range(4))
        return np.concatenate([i, o, f, c], axis=-1).T

    wx, wh, b = (current().to_numpy(a) for a in (lstm.Wx, lstm.Wh, lstm.b))
    bias = np.concatenate([onnx_gates(b[None])[:, 0], np.zeros(4 * hidden, b.dtype)])[None]
    embedded = g.node("Gather", [g.weight(model.embed.W, "embed.W"), "words"], "embedded", axis=0)
    steps_first = g.node("Transpose", [embedded], "steps_first", perm=[1, 0, 2])  # ONNX's LSTM: (T, N, D)
    h0 = g.node("Unsqueeze", [h0, g.const(np.array([0], np.int64), "axis0")], "h0")  # (directions, N, H)
    hs = g.name("hs")
    g.nodes.append(g.helper.make_node(
        "LSTM", [steps_first, g.weight(onnx_gates(wx)[None], "lstm.W"), g.weight(onnx_gates(wh)[None], "lstm.R"),
                 g.weight(bias, "lstm.B"), "", h0], [hs], name=hs, hidden_size=hidden))
    hs = g.node("Squeeze", [hs, g.const(np.array([1], np.int64), "axis1")], "hs_steps")  # (T, N, H)
    hs = g.node("Transpose", [hs], "hs_batch", perm=[1, 0, 2])
    scores = g.node("MatMul", [hs, g.weight(model.words.W, "words.W")], "scores")
    return g.node("Add", [scores, g.weight(model.words.b, "words.b")], "logits_")


def greedy_captions(run, images, max_words: int | None = None) -> np.ndarray:
    """Captions (N, MAX_DIGITS + 2) of word indices, START first, decoded greedily with an exported NIC graph:
    `run(images, words)` returns its "logits" (for ONNX Runtime, `lambda x, w: session.run(None, {"input": x,
    "words": w})[0]`). Each call reads the words so far and the last step's scores give the next word; a
    caption that has ended is padded. The same captions as `NIC.caption(x, beam=1)`."""
    max_words = words.MAX_DIGITS + 1 if max_words is None else int(max_words)
    n = len(images)
    seqs = np.full((n, 1), words.START, np.int64)
    done = np.zeros(n, bool)
    for _ in range(max_words):
        nxt = np.asarray(run(images, seqs))[:, -1].argmax(axis=1)
        nxt = np.where(done, words.PAD, nxt)
        seqs = np.concatenate([seqs, nxt[:, None]], axis=1)
        done |= nxt == words.END
        if done.all():
            break
    out = np.full((n, words.MAX_DIGITS + 2), words.PAD, np.int64)
    width = min(out.shape[1], seqs.shape[1])
    out[:, :width] = seqs[:, :width]
    return out


def export(model, path, softmax: bool = False, metadata: dict | None = None) -> None:
    """Write the model to `path` as ONNX, atomically."""
    proto = to_onnx(model, softmax, metadata)
    with atomic_open(path, "wb") as f:
        f.write(proto.SerializeToString())
