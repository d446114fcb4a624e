"""Hostile input on the newest surfaces (#37): ONNX import, detect, caption, dqn, style, export. The promise is
the README's: a mistake the user can fix prints one line `deepnet: error: ...` and exits 2, nothing is lost,
nothing hangs, and no result is printed from non-finite numbers. One test (or more) per finding."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from deepnet import backends, io, models
from deepnet.cli import main
from deepnet.errors import BadFile

from ..cli_helpers import one_line

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
from deepnet import onnx as donnx  # noqa: E402

h = onnx.helper
F32 = onnx.TensorProto.FLOAT


def run_cli(*argv, timeout=120):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEEPNET_")}
    return subprocess.run([sys.executable, "-m", "deepnet", *map(str, argv)], capture_output=True, text=True,
                          env=env, timeout=timeout)


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


# --- 1. a graph with a cycle ----------------------------------------------------------------------------------
def test_an_onnx_graph_with_a_cycle_is_refused_not_walked(tmp_path):
    proto = graph([h.make_node("Relu", ["y"], ["a"], name="r1"), h.make_node("Relu", ["a"], ["y"], name="r2")], {})
    path = tmp_path / "cycle.onnx"
    path.write_bytes(proto.SerializeToString())
    code = ("import sys; from deepnet import onnx as o\n"
            "try:\n    o.load(sys.argv[1])\nexcept ValueError as e:\n    print(e); sys.exit(3)\n")
    got = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=30)
    assert got.returncode == 3 and "not a valid ONNX graph" in got.stdout, got.stdout + got.stderr


# --- 2. malformed attributes and tensors ----------------------------------------------------------------------
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


# --- 3. weights that are not finite once folded and cast ---------------------------------------------------------
def test_a_nan_alpha_or_float32_overflow_is_refused_at_load(tmp_path):
    refused(conv_net(gemm=dict(alpha=float("nan"))), tmp_path, "not finite")
    big = conv_net()
    big.graph.initializer[2].CopyFrom(onnx.numpy_helper.from_array(np.full((32, 3), 1e300), "fc"))
    err = refused(big, tmp_path, "float32")
    assert "'gemm'" in err


def digit_net(**gemm):
    """A classifier of 28x28 digits, for predict: Flatten -> Gemm."""
    return graph([h.make_node("Flatten", ["x"], ["f"], name="flat"),
                  h.make_node("Gemm", ["f", "w", "b"], ["y"], name="gemm", **gemm)],
                 {"w": np.full((784, 10), 1e-3, np.float32), "b": np.zeros(10, np.float32)}, (1, 28, 28))


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


# --- 4. shapes through the whole graph ---------------------------------------------------------------------------
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


# --- 5. names the checker refuses ----------------------------------------------------------------------------------
def test_two_nodes_with_one_name_are_refused(tmp_path):
    proto = graph([h.make_node("MaxPool", ["x"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
                   h.make_node("MaxPool", ["p"], ["y"], name="pool", kernel_shape=[1, 1])], {})
    refused(proto, tmp_path, "pool")


def test_two_nodes_writing_one_tensor_are_refused(tmp_path):
    proto = graph([h.make_node("Relu", ["x"], ["y"], name="a"), h.make_node("Sigmoid", ["x"], ["y"], name="b")], {})
    refused(proto, tmp_path, "not a valid ONNX graph")


# --- 6. --out never overwrites an input picture -----------------------------------------------------------------
@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Untrained NIC and Faster R-CNN written by the library's own model.save (finding 11 reads them back)."""
    out = tmp_path_factory.mktemp("saved")
    with backends.use("cpu", dtype="float32"):
        for name in ("nic", "fasterrcnn"):
            models.create(name).save(out / f"{name}.npz")
    return out


def picture(path, size=(64, 64), mode="L", value=200):
    from PIL import Image

    Image.new(mode, size, value).save(path)
    return path


@pytest.mark.parametrize("command", ["detect", "caption"])
def test_out_that_is_an_input_picture_is_refused(saved, tmp_path, capsys, command):
    pytest.importorskip("PIL")
    photo = picture(tmp_path / "in.png")
    before = photo.read_bytes()
    run = saved / ("fasterrcnn.npz" if command == "detect" else "nic.npz")
    one_line(capsys, main([command, str(run), str(photo), "--out", str(photo)]), "would overwrite")
    assert photo.read_bytes() == before


# --- 7. sizes from the command line are bounded -----------------------------------------------------------------
def test_a_huge_beam_is_refused(saved, capsys):
    one_line(capsys, main(["caption", str(saved / "nic.npz"), "--beam", "1000000000"]), "--beam must be from 1 to 100")


@pytest.mark.parametrize("hidden, expected", [("1000000000", "--hidden must be 1 to 64 widths, each from 1 to 65,536"),
                                              ("20000,20000", "parameters")])
def test_huge_dqn_layers_are_refused(dqn_run, tmp_path, capsys, hidden, expected):
    import shutil

    kept = tmp_path / "kept"
    shutil.copytree(dqn_run, kept)
    before = sorted(p.name for p in kept.iterdir())
    one_line(capsys, main(["dqn", "--hidden", hidden, "--out", str(kept), "--overwrite", "--no-progress"]), expected)
    assert sorted(p.name for p in kept.iterdir()) == before  # refused before --overwrite deleted anything


# --- 8. seeds the generators reject -------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", ["-1", "4294967296"])
def test_dqn_seeds_out_of_range_are_one_line(tmp_path, capsys, seed):
    pytest.importorskip("minatar")
    one_line(capsys, main(["dqn", "--game", "breakout", "--seed", seed, "--out", str(tmp_path / "r"),
                           "--no-progress"]), "--seed must be a whole number from 0 to")


# --- 9. dqn --resume checks the run's files -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dqn_run(tmp_path_factory):
    pytest.importorskip("minatar")
    out = tmp_path_factory.mktemp("dqn") / "run"
    with backends.use("cpu", dtype="float32"):
        assert main(["dqn", "--out", str(out), "--frames", "200", "--game", "breakout", "--replay-size", "500",
                     "--replay-start", "50", "--epsilon-frames", "100", "--eval-every", "100", "--eval-episodes", "1",
                     "--hidden", "8", "--no-progress"]) == 0
    return out


def damaged(run, tmp_path, meta=None, drop_meta=(), config=None):
    import shutil

    dst = tmp_path / "damaged"
    shutil.copytree(run, dst)
    if meta is not None or drop_meta:
        arrays, m = io.load_arrays(dst / "last.npz")
        m.update(meta or {})
        for k in drop_meta:
            m.pop(k)
        io.save_arrays(dst / "last.npz", arrays, m)
    if config is not None:
        saved = json.loads((dst / "config.json").read_text())
        (dst / "config.json").write_text(json.dumps({**saved, **config}))
    return dst


@pytest.mark.parametrize("change, expected", [
    (dict(drop_meta=("optimizer",)), "'optimizer' must be the settings of the run's rmsprop"),
    (dict(meta={"rng": "garbage"}), "'rng' must be a random generator's state"),
    (dict(meta={"rng": {"bit_generator": "PCG64", "state": "x"}}), "random generators' states are not ones"),
    (dict(meta={"frame": -3}), "'frame' must be a whole number"),
    (dict(meta={"replay": {"size": 10**9, "position": 0}}), "'replay' must be the size and position of a buffer"),
    (dict(config={"gamma": "0.99"}), "'gamma' must be a number in [0, 1]; got '0.99'"),
    (dict(config={"hidden": [1000000000]}), "'hidden' must be 1 to 64 widths"),
])
def test_a_damaged_dqn_run_is_refused_before_it_is_built(dqn_run, tmp_path, capsys, change, expected):
    run = damaged(dqn_run, tmp_path, **change)
    with backends.use("cpu", dtype="float32"):
        code = main(["dqn", "--out", str(run), "--resume", "--frames", "400", "--no-progress"])
    one_line(capsys, code, expected)


def test_the_resume_refusal_names_the_replay_size_option(capsys, tmp_path):
    pytest.importorskip("minatar")
    one_line(capsys, main(["dqn", "--replay-size", "5", "--out", str(tmp_path / "r"), "--no-progress"]),
             "--replay-size 5 holds fewer transitions than a batch")


# --- 10. style on small or odd pictures ----------------------------------------------------------------------------
def test_style_refuses_a_picture_smaller_than_its_network_takes(tmp_path, capsys):
    pytest.importorskip("scipy")
    strip = picture(tmp_path / "strip.png", (640, 8))  # 512x6 at the longest side allowed
    square = picture(tmp_path / "square.png", (32, 32))
    one_line(capsys, main(["style", str(strip), str(square), "--out", str(tmp_path / "o.png"), "--steps", "1"]),
             "with this feature network needs at least 8 pixels a side")


def stylised_mean(tmp_path, content) -> float:
    """The mean pixel of `deepnet style` run on `content` with no style term and one step: the content as the
    command read it."""
    from PIL import Image

    out = tmp_path / "o.png"
    with backends.use("cpu", dtype="float32"):
        assert main(["style", str(content), str(content), "--steps", "1", "--style-weight", "0", "--out",
                     str(out)]) == 0
    return float(np.asarray(Image.open(out), np.float64).mean()) / 255


def test_an_rgba_picture_inked_only_in_its_alpha_is_not_lost(tmp_path):
    pytest.importorskip("scipy")
    from PIL import Image

    a = np.zeros((28, 28, 4), np.uint8)
    a[8:20, 12:16, 3] = 255  # black ink, seen only through the alpha channel
    Image.fromarray(a, "RGBA").save(tmp_path / "alpha.png")
    assert 0.8 < stylised_mean(tmp_path, tmp_path / "alpha.png") < 1.0  # dark strokes on the white the alpha implies
    from deepnet.images import load_digit

    assert load_digit(tmp_path / "alpha.png").max() == 255


def test_a_16_bit_grey_ramp_keeps_its_levels(tmp_path):
    pytest.importorskip("scipy")
    from PIL import Image

    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (64, 1))
    Image.fromarray(ramp).save(tmp_path / "ramp16.png")
    assert abs(stylised_mean(tmp_path, tmp_path / "ramp16.png") - 0.5) < 0.01


@pytest.mark.parametrize("flag", ["--style-weight", "--content-weight"])
def test_style_weights_must_be_finite(tmp_path, capsys, flag):
    square = picture(tmp_path / "square.png", (32, 32))
    one_line(capsys, main(["style", str(square), str(square), flag, "inf", "--out", str(tmp_path / "o.png")]),
             f"{flag} must be a finite number")


def test_style_writes_the_format_its_suffix_names(tmp_path, capsys):
    pytest.importorskip("scipy")
    square = picture(tmp_path / "square.png", (16, 16))
    with backends.use("cpu", dtype="float32"):
        assert main(["style", str(square), str(square), "--steps", "1", "--out", str(tmp_path / "o.jpg")]) == 0
    assert (tmp_path / "o.jpg").read_bytes()[:3] == b"\xff\xd8\xff"  # JPEG's magic, not PNG's
    one_line(capsys, main(["style", str(square), str(square), "--out", str(tmp_path / "o.xyz")]),
             "the picture's format comes from its suffix")


def test_a_picture_above_the_pixel_bound_is_one_line(tmp_path, capsys):
    from PIL import Image

    Image.new("L", (9000, 8000)).save(tmp_path / "huge.png")  # 72 M pixels (the bound is 64 M): Pillow only warns
    with backends.use("cpu", dtype="float32"):
        models.create("deepconvnet").save(tmp_path / "w.npz")
        code = main(["predict", str(tmp_path / "huge.png"), "--weights", str(tmp_path / "w.npz")])
    err = one_line(capsys, code, "deepnet reads at most")
    assert "DecompressionBomb" not in err


# --- 11. a model saved by the library says what it holds --------------------------------------------------------------
def test_a_nic_saved_with_model_save_captions(saved, capsys):
    capsys.readouterr()
    with backends.use("cpu", dtype="float32"):
        assert main(["caption", str(saved / "nic.npz"), "--count", "2", "--beam", "1", "--out", ""]) == 0
    out = capsys.readouterr().out
    assert "test scene 0:" in out and "test scene 1:" in out
    _, meta = io.read_index(saved / "nic.npz")
    assert meta["model_name"] == "nic" and meta["input_shape"] == [1, 64, 64] and "vocabulary" in meta


def test_a_resnet_saved_with_model_save_loads_at_its_depth(tmp_path):
    from deepnet.loading import load_model

    with backends.use("cpu", dtype="float32"):
        models.create("resnet8", input_shape=(3, 16, 16)).save(tmp_path / "r.npz")
        model, _ = load_model(tmp_path / "r.npz")
    assert model.input_shape == (3, 16, 16) and model.registry_name == "resnet8"


# --- 12. the memory of tiny runs ------------------------------------------------------------------------------------
def test_a_limited_run_builds_only_the_scenes_it_trains_on(tmp_path, monkeypatch):
    from deepnet.datasets import captions

    counts = []
    real = captions.make_captioned_scenes

    def counted(images, labels, count, seed, *a, **k):
        counts.append(count)
        return real(images, labels, count, seed, *a, **k)

    monkeypatch.setattr(captions, "make_captioned_scenes", counted)
    with backends.use("cpu", dtype="float32"):
        assert main(["train", "--model", "nic", "--dataset", "mnist-captions", "--limit", "40", "--batch-size", "20",
                     "--epochs", "1", "--no-progress", "--no-plots", "--no-test-eval", "--out",
                     str(tmp_path / "nic")]) == 0
    assert max(counts) == 1000 and 40 in counts  # the 1,000 test scenes and the 40 trained on; not 60,000


def test_the_first_scenes_of_a_limited_set_are_the_whole_sets(cpu32):
    from deepnet.datasets import loaders

    for name in loaders.BUILT:
        few = loaders.LOADERS[name](train_count=5, test_count=2)
        more = loaders.LOADERS[name](train_count=9, test_count=2)
        np.testing.assert_array_equal(few.train.x, more.train.x[:5], err_msg=name)


def test_per_epoch_evaluation_runs_at_the_training_batch(tmp_path, monkeypatch):
    from deepnet.models.sequential import Sequential

    seen = []
    real = Sequential.evaluate

    def spy(self, x, t, batch_size=1000):
        seen.append(batch_size)
        return real(self, x, t, batch_size)

    monkeypatch.setattr(Sequential, "evaluate", spy)
    with backends.use("cpu", dtype="float32"):
        assert main(["train", "--model", "simpleconvnet", "--limit", "64", "--batch-size", "32", "--epochs", "1",
                     "--no-progress", "--no-plots", "--out", str(tmp_path / "r"), "--recipe", "book"]) == 0
    assert seen and set(seen) == {32}


# --- the weak ones ----------------------------------------------------------------------------------------------------
def test_export_of_a_foreign_onnx_graph_as_safetensors_says_why(tmp_path, capsys):
    (tmp_path / "f.onnx").write_bytes(digit_net().SerializeToString())
    one_line(capsys, main(["export", str(tmp_path / "f.onnx"), str(tmp_path / "w.safetensors")]),
             "is an ONNX graph of no deepnet model")


@pytest.mark.parametrize("command", [["eval"], ["export", "{out}"], ["caption"]])
def test_a_dqn_run_where_a_model_is_expected_names_what_reads_it(dqn_run, tmp_path, capsys, command):
    argv = [c.format(out=tmp_path / "x.onnx") for c in command]
    one_line(capsys, main([argv[0], str(dqn_run), *argv[1:]]), "is a deepnet dqn checkpoint")


def test_describe_blames_the_classes_not_the_input(capsys):
    err = one_line(capsys, main(["describe", "fasterrcnn", "--classes", "1"]), "fasterrcnn cannot be built with 1 "
                                                                               "classes")
    assert "input" not in err.split("built with")[1].split(":")[0]


def test_export_help_names_safetensors(capsys):
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    assert ".safetensors" in capsys.readouterr().out


def test_caption_draws_at_most_a_grid_of_64(saved, tmp_path, capsys):
    capsys.readouterr()
    with backends.use("cpu", dtype="float32"):
        assert main(["caption", str(saved / "nic.npz"), "--count", "70", "--beam", "1", "--out",
                     str(tmp_path / "c.png")]) == 0
    out = capsys.readouterr().out
    assert "(the first 64 of 70)" in out and "test scene 69:" in out


def test_the_epoch_line_says_the_training_accuracy_has_dropout_on(tmp_path, capsys):
    with backends.use("cpu", dtype="float32"):
        assert main(["train", "--limit", "100", "--batch-size", "50", "--epochs", "1", "--no-progress", "--no-plots",
                     "--no-test-eval", "--recipe", "book", "--out", str(tmp_path / "r")]) == 0
    assert "train_acc (dropout on): " in capsys.readouterr().out
