"""ONNX export (deepnet/onnx/): every exportable model checked with onnx.checker (full_check) and its outputs
compared with ONNX's own reference evaluator (and ONNX Runtime where it is installed) within 1e-5 in float32;
the graph's names, symbolic batch and metadata; a layer without an ONNX form refused with its name."""
import numpy as np
import pytest

from deepnet import backends, models
from deepnet.gan import generator

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
from onnx.reference import ReferenceEvaluator  # noqa: E402

from deepnet import onnx as donnx  # noqa: E402

CASES = [
    ("deepconvnet", lambda: models.create("deepconvnet")),
    ("simpleconvnet", lambda: models.create("simpleconvnet")),
    ("vgg", lambda: models.create("vgg")),
    ("resnet8", lambda: models.create("resnet8", input_shape=(3, 32, 32))),
    ("plainnet8", lambda: models.create("plainnet8", input_shape=(3, 32, 32))),
    ("googlenet", lambda: models.create("googlenet")),
    ("fcn", lambda: models.create("fcn", input_shape=(1, 32, 32), num_classes=11)),
    ("binarynet", lambda: models.create("binarynet")),
    ("dcgan_generator", lambda: generator(hidden=64)),
    ("alexnet_small", lambda: models.AlexNet(input_shape=(3, 67, 67), num_classes=10)),
    ("segnet", lambda: models.create("segnet", input_shape=(1, 24, 24), num_classes=5)),
]


def randomise_statistics(model, rng):
    """Batch norm's running statistics away from (0, 1), so the inference form is really tested."""
    for name, a in model.buffers().items():
        a[...] = rng.random(a.shape).astype(a.dtype) + (0.5 if name.endswith("var") else -0.5)


@pytest.mark.parametrize("name,make", CASES, ids=[c[0] for c in CASES])
def test_export_matches_deepnet(cpu32, name, make):
    rng = np.random.default_rng(0)
    model = make()
    randomise_statistics(model, rng)
    x = rng.random((3, *model.input_shape)).astype(np.float32)
    proto = donnx.to_onnx(model, metadata={"dataset": "mnist"})  # check_model(full_check=True) inside
    want = model.predict(x)
    if not has_lrn(model):
        got = ReferenceEvaluator(proto).run(None, {"input": x})[0]
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= 1e-5 * max(1.0, np.abs(want).max())
    try:
        import onnxruntime as ort
    except ImportError:
        if has_lrn(model):
            pytest.skip("ONNX's reference evaluator computes LRN wrongly (see test_lrn_is_the_onnx_spec) and ONNX "
                        "Runtime is not installed")
        return  # ONNX Runtime is optional: the reference evaluator above is the check CI runs
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input": x})[0]
    assert np.abs(got - want).max() <= 1e-5 * max(1.0, np.abs(want).max())


def has_lrn(model):
    return any(type(layer).__name__ == "LRN" for layer in model.layers.values())


def test_lrn_is_the_onnx_spec(cpu32):
    """ONNX's LRN: x / (bias + alpha / size * sum of squares over the `size` channels centred on c)^beta, which
    deepnet's LRN computes. (onnx 1.23's reference evaluator loops over the batch axis where the channels are
    meant, so models with LRN are compared with ONNX Runtime and with the formula written out here.)"""
    from deepnet.layers import LRN
    from deepnet.models import Sequential

    model = Sequential([LRN(size=5, alpha=0.5, beta=0.75, k=2.0)], input_shape=(7, 3, 3))
    x = np.random.default_rng(0).standard_normal((2, 7, 3, 3)).astype(np.float32)
    square = np.stack([(x[:, max(0, c - 2) : c + 3] ** 2).sum(axis=1) for c in range(7)], axis=1)
    spec = x / (2.0 + 0.5 / 5 * square) ** 0.75
    np.testing.assert_allclose(model.predict(x), spec, rtol=1e-6)
    node = donnx.to_onnx(model).graph.node[0]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    assert node.op_type == "LRN" and attrs == {"size": 5, "alpha": 0.5, "beta": 0.75, "bias": 2.0}
    ort = pytest.importorskip("onnxruntime")
    got = ort.InferenceSession(donnx.to_onnx(model).SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"input": x})[0]
    np.testing.assert_allclose(got, spec, rtol=1e-6)


def test_graph_names_batch_and_metadata(cpu32, tmp_path):
    model = models.create("deepconvnet")
    donnx.export(model, tmp_path / "m.onnx", softmax=True, metadata={"dataset": "mnist", "test_accuracy": 0.99})
    proto = onnx.load(str(tmp_path / "m.onnx"))
    assert proto.opset_import[0].version == donnx.OPSET and proto.ir_version == donnx.IR_VERSION
    (inp,), (out,) = proto.graph.input, proto.graph.output
    assert inp.name == "input" and out.name == "probabilities"
    assert [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim] == ["batch", 1, 28, 28]
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["model"] == "DeepConvNet" and props["dataset"] == "mnist" and props["test_accuracy"] == "0.99"
    assert "deepnet_version" in props
    x = np.random.default_rng(1).random((4, 1, 28, 28)).astype(np.float32)
    p = ReferenceEvaluator(proto).run(None, {"input": x})[0]
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(p, model.predict(x, probabilities=True), atol=1e-6)


def test_sign_keeps_deepnets_zero(cpu32):
    from deepnet.layers import Sign
    from deepnet.models import Sequential

    model = Sequential([Sign()], input_shape=(4,))
    x = np.array([[-1.0, 0.0, 2.0, -0.0]], np.float32)
    got = ReferenceEvaluator(donnx.to_onnx(model)).run(None, {"input": x})[0]
    np.testing.assert_array_equal(got, model.predict(x))  # +1 at zero, as deepnet's sign


def test_layers_without_an_onnx_form_are_refused_by_name(cpu32):
    from deepnet.layers import TimeAffine
    from deepnet.models import Sequential

    with pytest.raises(ValueError, match=r"layer 0 \(TimeAffine\) has no ONNX form"):
        donnx.to_onnx(Sequential([TimeAffine(3, 4)], input_shape=(5, 3)))


def test_the_captioner_exports_its_teacher_forced_pass(cpu32):
    """NIC's graph: each step's word scores equal deepnet's (the LSTM's gates reordered for ONNX), and greedy
    decoding with it writes NIC.caption's greedy captions."""
    rng = np.random.default_rng(3)
    model = models.create("nic")
    for layer in model.layers.values():  # weights large enough that a gate in the wrong place shows
        for name in layer.param_names:
            a = getattr(layer, name)
            a[...] = 0.3 * rng.standard_normal(a.shape).astype(a.dtype)
    x = rng.random((4, *model.input_shape)).astype(np.float32)
    w = rng.integers(0, model.num_classes, (4, 6))
    proto = donnx.to_onnx(model)
    assert [i.name for i in proto.graph.input] == ["input", "words"]
    want = model.words.forward(model.lstm.forward(model.embed.forward(w), h0=model.encode(x)))
    sessions = [lambda a, b: ReferenceEvaluator(proto).run(None, {"input": a, "words": b})[0]]
    try:
        import onnxruntime as ort

        s = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
        sessions.append(lambda a, b: s.run(None, {"input": a, "words": b})[0])
    except ImportError:
        pass  # the reference evaluator is the check CI runs
    greedy = model.caption(x, beam=1)
    assert len(set(map(tuple, greedy[:, 1:3]))) > 1  # the images get different captions: a real comparison
    for run in sessions:
        got = run(x, w)
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= 1e-5 * max(1.0, np.abs(want).max())
        np.testing.assert_array_equal(donnx.greedy_captions(run, x), greedy)
    with pytest.raises(ValueError, match="softmax=True is for classifiers"):
        donnx.to_onnx(model, softmax=True)


def test_the_detector_exports_whole(cpu32):
    """Faster R-CNN's graph (RPN, NMS, RoI Align, the head, per-class NMS) gives detect()'s detections, padded
    with zero rows to max_detections."""
    rng = np.random.default_rng(4)
    model = models.create("fasterrcnn", input_shape=(1, 32, 32))
    x = rng.random((2, *model.input_shape)).astype(np.float32)
    want = model.detect(x, score_threshold=0.095, max_detections=20)
    assert 0 < sum(map(len, want)) and all(len(d) <= 20 for d in want)
    proto = donnx.to_onnx(model, detection={"score_threshold": 0.095, "max_detections": 20})
    (out,) = proto.graph.output
    assert out.name == "detections"
    assert [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim] == ["batch", 20, 6]
    runs = [lambda z: ReferenceEvaluator(proto).run(None, {"input": z})[0]]
    try:
        import onnxruntime as ort

        s = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
        runs.append(lambda z: s.run(None, {"input": z})[0])
    except ImportError:
        pass  # the reference evaluator is the check CI runs
    for run in runs:
        got = run(x)
        assert got.shape == (2, 20, 6)
        for g, w in zip(got, want):
            real = g[:, 5] > 0
            assert real.sum() == len(w) and not real[len(w):].any()  # the detections first, then padding
            np.testing.assert_allclose(g[: len(w)], w, atol=1e-4)
            assert not g[len(w):].any()
    with pytest.raises(ValueError, match="softmax=True is for classifiers"):
        donnx.to_onnx(model, softmax=True)


def test_export_from_the_command_line(tmp_path, capsys):
    from deepnet.cli import main

    with backends.use("cpu", dtype="float32"):
        models.create("deepconvnet").save(tmp_path / "w.npz", {"model_name": "deepconvnet"})
    assert main(["export", str(tmp_path / "w.npz"), str(tmp_path / "m.onnx")]) == 0
    assert "output 'logits', ONNX opset 17" in capsys.readouterr().out
    onnx.checker.check_model(onnx.load(str(tmp_path / "m.onnx")), full_check=True)
    assert main(["export", str(tmp_path / "w.npz"), str(tmp_path / "m.txt")]) == 2
    assert "name ending .onnx" in capsys.readouterr().err
    from deepnet.datasets import captions

    with backends.use("cpu", dtype="float32"):
        models.create("nic").save(tmp_path / "n.npz", {"model_name": "nic", "input_shape": [1, 64, 64],
                                                       "num_classes": len(captions.WORDS)})
    assert main(["export", str(tmp_path / "n.npz"), str(tmp_path / "n.onnx")]) == 0
    assert "inputs 'input' (batch, 1, 64, 64) and 'words' (batch, steps)" in capsys.readouterr().out
    onnx.checker.check_model(onnx.load(str(tmp_path / "n.onnx")), full_check=True)
    with backends.use("cpu", dtype="float32"):
        models.create("fasterrcnn").save(tmp_path / "d.npz", {"model_name": "fasterrcnn", "input_shape": [1, 64, 64],
                                                              "num_classes": 11})
    assert main(["export", str(tmp_path / "d.npz"), str(tmp_path / "d.onnx"), "--softmax"]) == 2
    err = capsys.readouterr().err
    assert "softmax=True is for classifiers" in err and "Traceback" not in err
    assert main(["export", str(tmp_path / "d.npz"), str(tmp_path / "d.onnx")]) == 0
    assert "output 'detections' (batch, 100, 6)" in capsys.readouterr().out
    for name in ("n.onnx", "d.onnx"):
        assert main(["eval", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert "graph, which ONNX Runtime runs but deepnet does not read back" in err and "Traceback" not in err


# --- safetensors weights ------------------------------------------------------------------------------------
def test_safetensors_weights_round_trip_everywhere_a_checkpoint_goes(tmp_path, capsys):
    pytest.importorskip("safetensors")
    from deepnet.cli import main
    from deepnet.loading import load_model

    with backends.use("cpu", dtype="float32"):
        model = models.create("deepconvnet")
        model.save(tmp_path / "w.npz", {"model_name": "deepconvnet"})
        assert main(["export", str(tmp_path / "w.npz"), str(tmp_path / "w.safetensors")]) == 0
        again, meta = load_model(tmp_path / "w.safetensors")
        x = np.random.default_rng(0).random((3, 1, 28, 28)).astype(np.float32)
        np.testing.assert_array_equal(again.predict(x), model.predict(x))
        assert meta["model_name"] == "deepconvnet"
        fresh = models.create("deepconvnet")
        from deepnet.training.trainer import transfer

        assert len(transfer(fresh, tmp_path / "w.safetensors", log=lambda *a: None)) == len(model.state())
        np.testing.assert_array_equal(fresh.predict(x), model.predict(x))


def hostile(tmp_path, header: dict, data: bytes = b"", name="bad.safetensors"):
    import json

    blob = json.dumps(header).encode()
    path = tmp_path / name
    path.write_bytes(len(blob).to_bytes(8, "little") + blob + data)
    return path


@pytest.mark.parametrize("header, data, message", [
    ({"conv1.W": {"dtype": "F32", "shape": [16, 1, 3, 3], "data_offsets": [0, 10]}}, b"\0" * 10, "do not agree"),
    ({"conv1.W": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 8, "do not agree"),
    ({"conv1.W": {"dtype": "C64", "shape": [1], "data_offsets": [0, 8]}}, b"\0" * 8, "unreadable entry"),
    ({"__metadata__": {"deepnet": "[1, 2]"}}, b"", "not an object"),
])
def test_hostile_safetensors_files_are_refused(tmp_path, header, data, message):
    from deepnet import io

    with pytest.raises(ValueError, match=message):
        io.read_index(hostile(tmp_path, header, data))


def test_a_safetensors_file_for_another_model_names_the_mismatch(tmp_path):
    pytest.importorskip("safetensors")
    from deepnet import io
    from deepnet.loading import load_model

    with backends.use("cpu", dtype="float32"):
        state = models.create("simpleconvnet").state_numpy()
    io.save_safetensors(tmp_path / "w.safetensors", state, {"model_name": "deepconvnet"})
    wrong = r"arrays of the wrong shape: affine1.W: \(4320, 100\) \(expected \(1024, 50\)\)"
    with pytest.raises(ValueError, match=wrong):
        load_model(tmp_path / "w.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\xff" * 64)
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        load_model(tmp_path / "junk.safetensors")


# --- import ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,make", CASES, ids=[c[0] for c in CASES])
def test_export_then_import_gives_the_same_outputs(cpu32, name, make):
    rng = np.random.default_rng(3)
    model = make()
    randomise_statistics(model, rng)
    back = donnx.from_proto(donnx.to_onnx(model))
    x = rng.random((2, *model.input_shape)).astype(np.float32)
    np.testing.assert_allclose(back.predict(x), model.predict(x), rtol=1e-6, atol=1e-6)


def foreign(nodes, inits, input_shape, output="y", out_rank=2):
    """A small model as another exporter writes it (onnx.helper), opset 17; the output's sizes left open."""
    h = onnx.helper
    graph = h.make_graph(nodes, "foreign", [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", *input_shape])],
                         [h.make_tensor_value_info(output, onnx.TensorProto.FLOAT, ["N"] + [None] * (out_rank - 1))],
                         [onnx.numpy_helper.from_array(v, k) for k, v in inits.items()])
    return h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])


def test_a_model_from_another_exporter(cpu32, tmp_path):
    h = onnx.helper
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 1, 3, 3)).astype(np.float32)
    fc = rng.standard_normal((3, 4 * 4 * 4)).astype(np.float32)  # PyTorch's Linear: (out, in), transB=1
    proto = foreign([
        h.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        h.make_node("Relu", ["c"], ["r"]),
        h.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        h.make_node("Reshape", ["p", "shape"], ["f"]),
        h.make_node("Gemm", ["f", "fc", "fb"], ["y"], transB=1),
    ], {"w": w, "b": np.zeros(4, np.float32), "shape": np.array([-1, 64], np.int64), "fc": fc,
        "fb": np.ones(3, np.float32)}, (1, 8, 8))
    proto.graph.node[3].input[1] = "shape"
    proto.graph.initializer[2].CopyFrom(onnx.numpy_helper.from_array(np.array([0, -1], np.int64), "shape"))
    onnx.save(proto, str(tmp_path / "f.onnx"))
    model = donnx.load(tmp_path / "f.onnx")
    x = rng.random((2, 1, 8, 8)).astype(np.float32)
    want = ReferenceEvaluator(proto).run(None, {"x": x})[0]
    np.testing.assert_allclose(model.predict(x), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("node, message", [
    (dict(op="Conv", pads=[0, 1, 1, 1]), r"asymmetric pads \[0, 1, 1, 1\] are not supported"),
    (dict(op="Conv", dilations=[2, 2]), r"attribute dilations=\[2, 2\] is not supported"),
    (dict(op="Conv", group=2), "attribute group=2 is not supported"),
    (dict(op="Elu"), r"node 'n' \(Elu\): an operator deepnet does not read"),
])
def test_unsupported_graphs_are_refused_naming_the_node(cpu32, node, message):
    h = onnx.helper
    op = node.pop("op")
    inputs = ["x", "w"] if op == "Conv" else ["x"]
    w = np.zeros((2, 1 if "group" not in node else 1, 3, 3), np.float32)
    proto = foreign([h.make_node(op, inputs, ["y"], name="n", **node)], {"w": w} if op == "Conv" else {}, (2, 6, 6))
    with pytest.raises(ValueError, match=message):
        donnx.from_proto(proto)


def test_hostile_onnx_files(tmp_path):
    h = onnx.helper
    proto = foreign([h.make_node("Gemm", ["x", "w"], ["y"])], {"w": np.zeros((4, 2), np.float32)}, (4,))
    t = proto.graph.initializer[0]
    t.ClearField("raw_data")
    t.data_location = onnx.TensorProto.EXTERNAL
    e = t.external_data.add()
    e.key, e.value = "location", "../../etc/passwd"
    onnx.save(proto, str(tmp_path / "ext.onnx"))
    with pytest.raises(ValueError, match="keeps its data in an external file"):
        donnx.load(tmp_path / "ext.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"\x08\x96\x01 not protobuf at all \xff\xff")
    with pytest.raises(ValueError, match="not a readable ONNX file"):
        donnx.load(tmp_path / "junk.onnx")
    wrong = foreign([h.make_node("Gemm", ["x", "w"], ["y"])], {"w": np.zeros((5, 2), np.float32)}, (4,))
    with pytest.raises(ValueError, match="do not fit together"):
        donnx.from_proto(wrong)


def test_eval_reads_an_onnx_file(tmp_path, capsys):
    from deepnet.cli import main
    from deepnet.datasets import loaders

    with backends.use("cpu", dtype="float32"):
        models.create("simpleconvnet").save(tmp_path / "w.npz", {"model_name": "simpleconvnet"})
    assert main(["export", str(tmp_path / "w.npz"), str(tmp_path / "m.onnx")]) == 0
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as mp:  # 200 test digits: the mechanics
        real = loaders.mnist
        mp.setitem(loaders.LOADERS, "mnist", lambda **kw: (lambda d: loaders.Dataset(
            d.name, d.train, d.test.take(200), None, d.source))(real(**kw)))
        assert main(["eval", str(tmp_path / "w.npz"), "--batch-size", "100"]) == 0
        npz = capsys.readouterr().out
        assert main(["eval", str(tmp_path / "m.onnx"), "--batch-size", "100"]) == 0
        got = capsys.readouterr().out
    accuracy = lambda text: text.split("test accuracy ")[1].split("%")[0]  # noqa: E731
    assert accuracy(got) == accuracy(npz) and "200 images" in got


# --- PyTorch's names ------------------------------------------------------------------------------------------
def test_deepconvnet_in_pytorch_names_both_ways(cpu32):
    from deepnet import torch_names

    model = models.create("deepconvnet")
    state = torch_names.to_torch(model)
    assert sorted(state) == sorted(f"{i}.{p}" for i in (0, 2, 5, 7, 10, 12, 16, 19) for p in ("weight", "bias"))
    assert state["16.weight"].shape == (50, 1024) and state["0.weight"].shape == (16, 1, 3, 3)
    again = models.create("deepconvnet")
    torch_names.from_torch(again, state)
    x = np.random.default_rng(0).random((2, 1, 28, 28)).astype(np.float32)
    np.testing.assert_array_equal(again.predict(x), model.predict(x))
    with pytest.raises(ValueError, match=r"no '19.weight' \(deepnet's affine2.W\)"):
        torch_names.from_torch(again, {k: v for k, v in state.items() if k != "19.weight"})
    with pytest.raises(ValueError, match="has shape"):
        torch_names.from_torch(again, {**state, "16.weight": state["16.weight"].T})


def test_deepconvnet_and_its_pytorch_twin_agree(cpu32):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed: the twin cannot be built here")
    from deepnet import torch_names

    nn = torch.nn
    twin = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(1024, 50), nn.ReLU(), nn.Dropout(0.5), nn.Linear(50, 10), nn.Dropout(0.5)).eval()
    model = models.create("deepconvnet")
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in torch_names.to_torch(model).items()})
    x = np.random.default_rng(0).random((3, 1, 28, 28)).astype(np.float32)
    with torch.no_grad():
        np.testing.assert_allclose(twin(torch.from_numpy(x)).numpy(), model.predict(x), rtol=1e-5, atol=1e-5)
    back = models.create("deepconvnet")
    torch_names.from_torch(back, {k: v.numpy() for k, v in twin.state_dict().items()})
    np.testing.assert_array_equal(back.predict(x), model.predict(x))


def test_each_task_with_a_graph_of_its_own_has_an_export_hook(cpu32):
    from deepnet import models, tasks

    assert set(donnx.GRAPHS) <= set(tasks.TASKS) and set(donnx.GRAPHS) == {"detect", "caption"}
    assert "output 'detections' (batch, 100, 6)" in donnx.describe(models.create("fasterrcnn"))
    assert "greedy_captions" in donnx.describe(models.create("nic"))
    assert donnx.describe(models.create("deepconvnet"), softmax=True).endswith("output 'probabilities', ONNX opset 17")
