"""An ONNX graph from another exporter is checked whole before it runs: cycles, malformed attributes and
tensors, weights that are not finite once folded and cast, shapes through the whole graph, names."""

import subprocess
import sys

import numpy as np
import pytest

from deepnet import backends, models
from deepnet.cli import main
from deepnet.errors import BadFile

from ..cli_helpers import one_line

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
from deepnet import onnx as donnx  # noqa: E402

h = onnx.helper
F32 = onnx.TensorProto.FLOAT


def graph(nodes, inits, input_shape=(1, 4, 4), output="y", raw_inits=(), out_rank=2):
    """A small ONNX model as another exporter writes it: input "x" (N, *input_shape), output `output` of
    `out_rank` dimensions, their sizes left open."""
    tensors = [onnx.numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()] + list(raw_inits)
    g = h.make_graph(nodes, "hostile", [h.make_tensor_value_info("x", F32, ["N", *input_shape])],
                     [h.make_tensor_value_info(output, F32, ["N"] + [None] * (out_rank - 1))], tensors)
    proto = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    proto.ir_version = 8
    return proto


def conv_net(conv=None, w_shape=(2, 1, 3, 3), gemm=None, fc_out=3):
    """x (1x4x4) -> Conv -> Relu -> Flatten -> Gemm: a valid graph whose Conv and Gemm attributes a test breaks."""
    rng = np.random.default_rng(0)
    conv = dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1]) if conv is None else conv
    return graph([h.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", **conv),
                  h.make_node("Relu", ["c"], ["r"], name="relu"),
                  h.make_node("Flatten", ["r"], ["f"], name="flat"),
                  h.make_node("Gemm", ["f", "fc", "fb"], ["y"], name="gemm", **(gemm or {}))],
                 {"w": rng.standard_normal(w_shape).astype(np.float32), "b": np.zeros(w_shape[0], np.float32),
                  "fc": rng.standard_normal((2 * 16, fc_out)).astype(np.float32),
                  "fb": np.zeros(fc_out, np.float32)})


def refused(proto, tmp_path, expected, name="bad.onnx"):
    """Loading `proto` from a file raises BadFile whose message holds `expected` (no other exception)."""
    path = tmp_path / name
    path.write_bytes(proto.SerializeToString())
    with backends.use("cpu", dtype="float32"), pytest.raises(BadFile) as info:
        donnx.load(path)
    assert expected in str(info.value), str(info.value)
    return str(info.value)


def digit_net(**gemm):
    """A classifier of 28x28 digits, for predict: Flatten -> Gemm."""
    return graph([h.make_node("Flatten", ["x"], ["f"], name="flat"),
                  h.make_node("Gemm", ["f", "w", "b"], ["y"], name="gemm", **gemm)],
                 {"w": np.full((784, 10), 1e-3, np.float32), "b": np.zeros(10, np.float32)}, (1, 28, 28))


def test_an_onnx_graph_with_a_cycle_is_refused_not_walked(tmp_path):
    proto = graph([h.make_node("Relu", ["y"], ["a"], name="r1"), h.make_node("Relu", ["a"], ["y"], name="r2")], {})
    path = tmp_path / "cycle.onnx"
    path.write_bytes(proto.SerializeToString())
    code = ("import sys; from deepnet import onnx as o\n"
            "try:\n    o.load(sys.argv[1])\nexcept ValueError as e:\n    print(e); sys.exit(3)\n")
    got = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=30)
    assert got.returncode == 3 and "not a valid ONNX graph" in got.stdout, got.stdout + got.stderr


@pytest.mark.parametrize("conv, w_shape, expected", [
    (dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[0, 0]), (2, 1, 3, 3), "strides"),
    (dict(kernel_shape=[3, 3], pads=[-1, -1, -1, -1]), (2, 1, 3, 3), "pads"),
    (dict(kernel_shape=[2], pads=[1, 1, 1, 1]), (2, 1, 3, 3), "kernel_shape"),
    (dict(kernel_shape=[2, 2], pads=[1, 1, 1, 1]), (2, 1, 3, 3), "kernel_shape"),
])
def test_malformed_conv_attributes_name_the_node(tmp_path, conv, w_shape, expected):
    err = refused(conv_net(conv, w_shape), tmp_path, expected)
    assert "'conv'" in err


def test_an_empty_conv_weight_is_refused(tmp_path):
    proto = graph([h.make_node("Conv", ["x", "w"], ["y"], name="conv", kernel_shape=[3, 3])],
                  {"w": np.zeros((0, 1, 3, 3), np.float32)})
    refused(proto, tmp_path, "'conv'")


@pytest.mark.parametrize("attrs, expected", [
    (dict(), "kernel_shape"),
    (dict(kernel_shape=2.0), "kernel_shape"),
    (dict(kernel_shape=[2]), "kernel_shape"),
    (dict(kernel_shape=[0, 2]), "kernel_shape"),
])
def test_a_maxpool_without_a_usable_kernel_shape(tmp_path, attrs, expected):
    proto = graph([h.make_node("MaxPool", ["x"], ["y"], name="pool", **attrs)], {})
    err = refused(proto, tmp_path, expected)
    assert "'pool'" in err or "Name: pool " in err  # our message, or the checker's, names the node


@pytest.mark.parametrize("attrs, expected", [(dict(), "size"), (dict(size=-1), "size"), (dict(size=2.5), "size")])
def test_lrn_without_a_usable_size(tmp_path, attrs, expected):
    proto = graph([h.make_node("LRN", ["x"], ["y"], name="lrn", **attrs)], {})
    err = refused(proto, tmp_path, expected)
    assert "'lrn'" in err or "Name: lrn " in err


def test_a_zero_dimensional_reshape_shape(tmp_path):
    proto = graph([h.make_node("Reshape", ["x", "s"], ["y"], name="rs")], {"s": np.array(-1, np.int64)})
    assert "'rs'" in refused(proto, tmp_path, "shape")


def test_a_string_initializer(tmp_path):
    s = h.make_tensor("w", onnx.TensorProto.STRING, [16, 3], [b"a"] * 48)
    proto = graph([h.make_node("Gemm", ["x", "w"], ["y"], name="gemm")], {}, input_shape=(16,), raw_inits=[s])
    refused(proto, tmp_path, "numbers")


def test_a_gemm_to_no_outputs(tmp_path):
    proto = graph([h.make_node("Gemm", ["x", "w"], ["y"], name="gemm")], {"w": np.zeros((16, 0), np.float32)},
                  input_shape=(16,))
    assert "'gemm'" in refused(proto, tmp_path, "gemm")


def test_an_initializer_declaring_more_elements_than_it_holds(tmp_path):
    t = onnx.TensorProto(name="w", data_type=F32, dims=[1 << 20, 1 << 20], raw_data=bytes(4))  # 2^40 declared
    proto = graph([h.make_node("Gemm", ["x", "w"], ["y"], name="gemm")], {}, input_shape=(16,), raw_inits=[t])
    refused(proto, tmp_path, "too small for the declared shape")


def test_a_nan_alpha_or_float32_overflow_is_refused_at_load(tmp_path):
    refused(conv_net(gemm=dict(alpha=float("nan"))), tmp_path, "not finite")
    big = conv_net()
    big.graph.initializer[2].CopyFrom(onnx.numpy_helper.from_array(np.full((32, 3), 1e300), "fc"))
    err = refused(big, tmp_path, "float32")
    assert "'gemm'" in err


def test_predict_prints_no_class_from_nan(tmp_path, capsys):
    pytest.importorskip("PIL")
    from PIL import Image

    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "digit.png")
    (tmp_path / "nan.onnx").write_bytes(digit_net(alpha=float("nan")).SerializeToString())
    with backends.use("cpu", dtype="float32"):
        code = main(["predict", str(tmp_path / "digit.png"), "--weights", str(tmp_path / "nan.onnx")])
    err = one_line(capsys, code, "not finite")
    assert "nan%" not in capsys.readouterr().out + err


def test_eval_in_float32_of_non_finite_outputs_does_not_advise_float32(tmp_path, capsys):
    """Weights finite in float32 whose outputs overflow it: no accuracy, and no advice to use float32."""
    with backends.use("cpu", dtype="float32"):
        model = models.create("simpleconvnet")
        state = model.state_numpy()
        last = [k for k in state if k.endswith(".W")][-1]
        model.load_state({**state, last: np.full_like(state[last], 3e38)})
        model.save(tmp_path / "loud.npz", {"model_name": "simpleconvnet"})
        code = main(["eval", str(tmp_path / "loud.npz")])
    err = one_line(capsys, code, "not finite")
    assert "evaluate it in float32" not in err and "accuracy" not in capsys.readouterr().out


def test_a_batch_norm_of_the_wrong_size_is_refused_at_load(tmp_path):
    n = 3  # the input has 1 channel
    proto = graph([h.make_node("BatchNormalization", ["x", "g", "b", "m", "v"], ["y"], name="bn")],
                  {k: np.ones(n, np.float32) for k in "gbmv"})
    assert "BatchNormalization" in refused(proto, tmp_path, "channels")


def test_a_residual_whose_shortcut_disagrees_is_refused_at_load(tmp_path):
    w = np.zeros((2, 1, 3, 3), np.float32)
    proto = graph([h.make_node("Conv", ["x", "w"], ["c"], name="conv", kernel_shape=[3, 3]),
                   h.make_node("Add", ["c", "x"], ["y"], name="add")], {"w": w})
    refused(proto, tmp_path, "do not fit together")


def test_two_nodes_with_one_name_are_refused(tmp_path):
    proto = graph([h.make_node("MaxPool", ["x"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
                   h.make_node("MaxPool", ["p"], ["y"], name="pool", kernel_shape=[1, 1])], {})
    refused(proto, tmp_path, "pool")


def test_two_nodes_writing_one_tensor_are_refused(tmp_path):
    proto = graph([h.make_node("Relu", ["x"], ["y"], name="a"), h.make_node("Sigmoid", ["x"], ["y"], name="b")], {})
    refused(proto, tmp_path, "not a valid ONNX graph")


def test_export_of_a_foreign_onnx_graph_as_safetensors_says_why(tmp_path, capsys):
    (tmp_path / "f.onnx").write_bytes(digit_net().SerializeToString())
    one_line(capsys, main(["export", str(tmp_path / "f.onnx"), str(tmp_path / "w.safetensors")]),
             "is an ONNX graph of no deepnet model")
