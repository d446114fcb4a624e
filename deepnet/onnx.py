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

from . import tasks
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
        self.pools = {}  # id(Pooling) -> (its indices' tensor, its input's tensor), for MaxUnpooling

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
                         Dropout, GlobalAveragePooling, LeakyRelu, Pooling, Residual, Sigmoid, Sign, Tanh,
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
        if layer.mode == "max" and getattr(layer, "keep_indices", False):  # SegNet's: its arg-max is unpooled
            out, indices = g.name("maxpool"), g.name("indices")
            g.nodes.append(g.helper.make_node("MaxPool", [x], [out, indices], name=out, **common))
            g.pools[id(layer)] = (indices, x)
            return out
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
    if kind == "MaxUnpooling":
        p = layer.pooling
        if id(p) not in g.pools:
            raise InvalidValue(f"layer {where} (MaxUnpooling) comes before the pooling whose indices it uses")
        indices, pooled_input = g.pools[id(p)]
        return g.node("MaxUnpool", [x, indices, g.node("Shape", [pooled_input], "shape")], "unpool",
                      kernel_shape=[p.kh, p.kw], strides=[p.stride] * 2, pads=[p.pad] * 4)
    if kind == "Reshape":  # the DCGAN generator's (N, D) -> (N, C, H, W)
        return g.node("Reshape", [x, g.const(np.array([0, *layer.shape], np.int64), "shape")], "reshape")
    raise InvalidValue(f"layer {where} ({kind}) has no ONNX form in deepnet's exporter; models with it cannot be "
                       f"exported")


DETECTION = {"score_threshold": 0.05, "nms": 0.5, "max_detections": 100}  # FasterRCNN.detect's defaults


def to_onnx(model, softmax: bool = False, metadata: dict | None = None, dtype="float32", detection: dict | None = None):
    """The model as an onnx.ModelProto (checked with onnx.checker, full_check). `detection` sets a detector's
    score_threshold, nms and max_detections (DETECTION's defaults), which the graph holds as constants."""
    onnx, helper, numpy_helper = _onnx()
    if model.input_shape is None:
        raise InvalidValue("the model has no input shape to export with; build it with input_shape=")
    g = _Graph(helper, numpy_helper, dtype)
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    inputs = [helper.make_tensor_value_info("input", elem, ["batch", *model.input_shape])]
    task = tasks.of(model)
    if task is tasks.DETECT:
        from .onnx_detector import detector_graph

        if softmax:
            raise InvalidValue("a detector's graph gives its detections; softmax=True is for classifiers")
        out, shape = detector_graph(g, model, _layers, **{**DETECTION, **(detection or {})})
        name = "detections"
    elif task is tasks.CAPTION:
        if softmax:
            raise InvalidValue("the captioner's graph gives each step's word scores; softmax=True is for classifiers")
        out, name, shape = _captioner(g, model), "logits", ["steps", model.num_classes]
        inputs.append(helper.make_tensor_value_info("words", onnx.TensorProto.INT64, ["batch", "steps"]))
    else:
        out = _layers(g, list(model.layers.values()), "input", "")
        from .layers.base import output_shape_of

        shape = list(output_shape_of(model.layers.values(), model.input_shape))
        if softmax:
            out = g.node("Softmax", [out], "softmax", axis=1)
        name = "probabilities" if softmax else "images" if len(model.input_shape) == 1 else "logits"
    g.nodes.append(helper.make_node("Identity", [out], [name], name="output"))
    graph = helper.make_graph(g.nodes, type(model).__name__, inputs,
                              [helper.make_tensor_value_info(name, elem, ["batch", *shape])], g.inits)
    proto = helper.make_model(graph, producer_name="deepnet", opset_imports=[helper.make_opsetid("", OPSET)])
    proto.ir_version = IR_VERSION
    from . import __version__

    meta = {"deepnet_version": __version__, "model": type(model).__name__, **(metadata or {})}
    helper.set_model_props(proto, {str(k): str(v) for k, v in meta.items()})
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _captioner(g: _Graph, model) -> str:
    """NIC's teacher-forced pass: the encoder's state h0, the words embedded, the LSTM, the scores."""
    h0 = _layers(g, model.encoder, "input", "")
    lstm, hidden = model.lstm, model.lstm.hidden_size

    def onnx_gates(w):  # (.., 4H) in deepnet's order i, f, g, o -> (4H, ..) in ONNX's i, o, f, c(=g)
        i, f, c, o = (w[..., k * hidden : (k + 1) * hidden] for k in range(4))
        return np.concatenate([i, o, f, c], axis=-1).T

    from .backends import current

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
    from .datasets import captions as words

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
    from .io import atomic_open

    proto = to_onnx(model, softmax, metadata)
    with atomic_open(path, "wb") as f:
        f.write(proto.SerializeToString())


# --- import -----------------------------------------------------------------------------------------------------
MAX_FILE_BYTES = 2 << 30  # protobuf's own limit; a file above it is refused before it is parsed


def load(path, dtype="float32"):
    """An ONNX file read back into a deepnet Sequential (Residual and Concat blocks where the graph branches):
    the operators `to_onnx` writes, in the layouts other exporters use too (Gemm with transB=1, Reshape to
    (N, -1) for Flatten, a trailing Softmax dropped: deepnet's models end in logits). Unknown operators,
    attributes deepnet does not support (dilations, groups, auto_pad, asymmetric pads) and external data are
    refused, naming the node; every weight's shape is checked against its layer before the model is built."""
    onnx, _, numpy_helper = _onnx()
    from pathlib import Path

    from .errors import BadFile, MissingFile

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
    from .backends.settings import parse_dtype
    from .errors import BadFile
    from .models.sequential import Sequential

    _, helper, numpy_helper = _onnx()
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
    from .layers.base import output_shape_of

    try:
        output_shape_of(model.layers.values(), input_shape)
    except (ValueError, IndexError) as exc:
        raise BadFile(f"{source}: its layers do not fit together: {exc}") from None
    return model


def _check_structure(proto, source: str) -> None:
    """What ONNX's checker refuses, refused here too (duplicate tensor names, nodes out of topological order,
    and so a cycle: the walk below would follow it forever), and node names given twice, which deepnet would
    read as one layer."""
    import onnx

    from .errors import BadFile

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
    SINGLE = {"Relu", "LeakyRelu", "Sigmoid", "Tanh", "Conv", "ConvTranspose", "MaxPool", "AveragePool", "Gemm",
              "Flatten", "Reshape", "BatchNormalization", "LRN", "GlobalAveragePool", "Identity", "Dropout",
              "Softmax", "MaxUnpool"}

    def __init__(self, weights, producer, helper, source, dtype):
        self.weights, self.producer, self.helper, self.source, self.dtype = weights, producer, helper, source, dtype
        self.pools = {}  # MaxPool node name -> its Pooling layer (a MaxUnpool reads it before it is reached)

    def fail(self, node, what):
        from .errors import BadFile

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
        from .errors import BadFile

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
        from .layers import Pooling

        key = node.output[0]  # unique in a checked graph; names need not be
        if key not in self.pools:
            self.pools[key] = Pooling(kernel, stride=stride, pad=pad, mode="max")
        return self.pools[key]

    def sign(self, node):
        from .layers import Sign

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
        from .layers import Concat, Residual

        paths = [self.chain(source, b) for b in branches]
        if node.op_type == "Add":
            if len(paths) != 2:
                self.fail(node, f"Add of {len(paths)} inputs; deepnet's residual block adds two")
            return Residual(paths[0], shortcut=paths[1])
        if self.attrs(node).get("axis", None) != 1:
            self.fail(node, "Concat must join channels (axis=1)")
        return Concat(paths)

    def layer(self, node):
        from .layers import (LRN, Affine, BatchNormalization, Convolution, GlobalAveragePooling, LeakyRelu,
                             Pooling, Relu, Reshape, Sigmoid, Tanh, TransposedConvolution)

        op, a, bk_dtype = node.op_type, self.attrs(node), self.dtype
        from .backends import current

        bk = current()

        def dev(arr):
            """A weight on the device in the model's dtype, after every attribute is folded in (Gemm's alpha and
            beta): finite there, or the node is refused (1e300 is finite in float64 and not in float32)."""
            with np.errstate(over="ignore", invalid="ignore"):
                cast = np.ascontiguousarray(arr, dtype=bk_dtype)
            if not np.isfinite(cast).all():
                self.fail(node, f"its weights are not finite in {np.dtype(bk_dtype).name} (NaN, infinite, or "
                                f"beyond the type's range once its attributes are applied)")
            return bk.to_device(cast)

        if op in ("Identity", "Dropout", "Flatten", "Softmax"):
            if op == "Flatten" and a.get("axis", 1) != 1:
                self.fail(node, f"Flatten with axis {a.get('axis')}; only axis=1 (keep the batch) is read")
            return None  # Flatten: Affine flattens its input itself; Softmax: deepnet's models end in logits
        if op == "Reshape":
            shape = self.weight(node, 1)
            if shape.ndim != 1 or shape.dtype.kind not in "iu":
                self.fail(node, f"its shape must be a 1-D tensor of integers; got {shape.dtype} of shape "
                                f"{shape.shape}")
            if len(shape) == 2 and shape[1] == -1:  # (N, -1): a flatten
                return None
            if len(shape) >= 2 and shape[0] in (0, -1):
                return Reshape(*[int(s) for s in shape[1:]])
            self.fail(node, f"Reshape to {shape.tolist()}; deepnet reads (0 or -1, ...) shapes that keep the batch")
        if op in ("Relu", "Sigmoid", "Tanh"):
            return {"Relu": Relu, "Sigmoid": Sigmoid, "Tanh": Tanh}[op]()
        if op == "LeakyRelu":
            return LeakyRelu(float(a.get("alpha", 0.01)))
        if op in ("Conv", "ConvTranspose", "MaxPool", "AveragePool"):
            for bad in ("dilations", "group", "auto_pad"):
                value = a.get(bad)
                if value not in (None, 1, [1, 1], b"NOTSET", "NOTSET"):
                    self.fail(node, f"attribute {bad}={value!r} is not supported")
            if a.get("ceil_mode", 0):
                self.fail(node, "ceil_mode=1 is not supported")
            pads = self.ints(node, a, "pads", 4, 0, [0, 0, 0, 0])
            if len(set(pads)) != 1:
                self.fail(node, f"asymmetric pads {pads} are not supported (deepnet pads every side alike)")
            pad = int(pads[0])
            strides = self.ints(node, a, "strides", 2, 1, [1, 1])
            if len(set(strides)) != 1:
                self.fail(node, f"strides {strides} differ by axis; deepnet strides both alike")
            stride = int(strides[0])
            if op in ("MaxPool", "AveragePool"):
                kh, kw = self.ints(node, a, "kernel_shape", 2, 1)
                if op == "AveragePool" and pad and not a.get("count_include_pad", 0):
                    self.fail(node, "AveragePool with padding and count_include_pad=0; deepnet counts the padding")
                if op == "MaxPool":
                    if a.get("storage_order", 0):
                        self.fail(node, "storage_order=1 (column-major indices) is not supported")
                    return self.pool(node, (kh, kw), stride, pad)
                return Pooling((kh, kw), stride=stride, pad=pad, mode="avg")
            w = self.weight(node, 1)
            if w.ndim != 4 or 0 in w.shape:
                self.fail(node, f"weights of shape {w.shape}; expected 4-D, no side empty")
            if "kernel_shape" in a and self.ints(node, a, "kernel_shape", 2, 1) != list(w.shape[2:]):
                self.fail(node, f"attribute kernel_shape {a['kernel_shape']} is not its weights' {list(w.shape[2:])}")
            b = self.weight(node, 2, (w.shape[0 if op == "Conv" else 1],)) if len(node.input) > 2 else \
                np.zeros(w.shape[0 if op == "Conv" else 1])
            if op == "Conv":
                layer = Convolution(w.shape[1], w.shape[0], w.shape[2:], stride=stride, pad=pad, dtype=bk_dtype)
            else:
                op_pad = list(a.get("output_padding", [0, 0]))
                if len(set(op_pad)) != 1:
                    self.fail(node, f"output_padding {op_pad} differs by axis")
                layer = TransposedConvolution(w.shape[0], w.shape[1], w.shape[2:], stride=stride, pad=pad,
                                              output_padding=int(op_pad[0]), dtype=bk_dtype)
            layer.W, layer.b = dev(w), dev(b)
            return layer
        if op == "Gemm":
            if a.get("transA", 0):
                self.fail(node, "transA=1 is not supported")
            w = self.weight(node, 1)
            if w.ndim != 2 or 0 in w.shape:
                self.fail(node, f"B of shape {w.shape}; expected 2-D, no side empty")
            w = w.T if a.get("transB", 0) else w
            alpha, beta = float(a.get("alpha", 1.0)), float(a.get("beta", 1.0))
            b = self.weight(node, 2) if len(node.input) > 2 else np.zeros(w.shape[1])
            if b.shape not in ((w.shape[1],), (1, w.shape[1])):
                self.fail(node, f"C of shape {b.shape}; expected ({w.shape[1]},)")
            layer = Affine(w.shape[0], w.shape[1], dtype=bk_dtype)
            layer.W, layer.b = dev(alpha * w), dev(beta * b.reshape(-1))
            return layer
        if op == "BatchNormalization":
            if len(node.output) > 1 and any(node.output[1:]):
                self.fail(node, "training-mode outputs are not read; export in inference mode")
            gamma = self.weight(node, 1)
            layer = BatchNormalization(len(gamma), eps=float(a.get("epsilon", 1e-5)), dtype=bk_dtype)
            n = (len(gamma),)
            layer.gamma, layer.beta = dev(gamma), dev(self.weight(node, 2, n))
            layer.running_mean, layer.running_var = dev(self.weight(node, 3, n)), dev(self.weight(node, 4, n))
            return layer
        if op == "LRN":
            size = a.get("size")
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                self.fail(node, f"attribute size must be a whole number of channels, at least 1; got {size!r}")
            if size % 2 == 0:
                self.fail(node, f"an even window of {size} channels; deepnet's LRN centres odd windows")
            return LRN(size, float(a.get("alpha", 1e-4)), float(a.get("beta", 0.75)), float(a.get("bias", 1.0)))
        if op == "GlobalAveragePool":
            return GlobalAveragePooling()
        if op == "MaxUnpool":
            from .layers import MaxUnpooling

            source = self.producer.get(node.input[1]) if len(node.input) > 1 else None
            if source is None or source.op_type != "MaxPool" or list(source.output[1:2]) != [node.input[1]]:
                self.fail(node, "its indices must be a MaxPool's second output")
            sa = self.attrs(source)
            pool = self.pool(source, tuple(self.ints(source, sa, "kernel_shape", 2, 1)),
                             self.ints(source, sa, "strides", 2, 1, [1, 1])[0],
                             self.ints(source, sa, "pads", 4, 0, [0, 0, 0, 0])[0])
            mine = (self.ints(node, a, "kernel_shape", 2, 1), self.ints(node, a, "strides", 2, 1, [1, 1])[0],
                    self.ints(node, a, "pads", 4, 0, [0] * 4)[0])
            if mine != ([pool.kh, pool.kw], pool.stride, pool.pad):
                self.fail(node, f"its window {mine} is not its MaxPool's")
            return MaxUnpooling(pool)
        self.fail(node, "an operator deepnet does not read")
