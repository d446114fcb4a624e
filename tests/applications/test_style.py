"""Neural style transfer (deepnet/style.py): the losses' gradient with respect to the pixels against central
differences in float64, the VGG-19 safetensors reader (a file of random weights in torchvision's layout), the
other feature networks, and `deepnet style` from the command line, bad input included."""
import numpy as np
import pytest

from deepnet import backends, style
from deepnet.cli import main

from ..cli_helpers import one_line
from ..gradcheck import numerical


def test_style_and_content_gradients(f64):
    net = style.random_multiscale(1, seed=0, widths=(3, 4, 5), dtype="float64")
    rng = np.random.default_rng(0)
    transfer = style.StyleTransfer(net, rng.random((2, 1, 8, 8)), rng.random((1, 1, 10, 10)), content_weight=0.7,
                                   style_weight=50.0)
    x = rng.random((2, 1, 8, 8))
    _, _, dx = transfer.losses(x)
    idx = [np.unravel_index(i, x.shape) for i in rng.choice(x.size, 40, replace=False)]
    num = numerical(lambda: transfer.total(x), x, idx)
    ana = np.array([dx[i] for i in idx])
    assert np.linalg.norm(num - ana) / (np.linalg.norm(num) + np.linalg.norm(ana)) < 1e-6


def test_gram_and_the_losses_by_hand(f64):
    net = style.FeatureNet([("relu", style.Relu())], 1, content="relu", style=("relu",))
    content = np.array([[[[1.0, 2.0], [0.0, 3.0]]]])
    sty = np.array([[[[2.0, 0.0], [1.0, 1.0]]]])
    transfer = style.StyleTransfer(net, content, sty)
    x = np.array([[[[0.5, 1.0], [2.0, 0.0]]]])
    c, s, _ = transfer.losses(x)
    assert c == pytest.approx(0.5 * ((x - content) ** 2).sum())
    g, a = (x ** 2).sum(), (sty ** 2).sum()  # one channel: the Gram matrix is the sum of squares
    assert s == pytest.approx((g - a) ** 2 / (4 * 1 * 16))


def test_the_image_moves_towards_the_style(f64):
    net = style.random_multiscale(1, seed=1, widths=(4, 6, 8), dtype="float64")
    rng = np.random.default_rng(2)
    content = rng.random((1, 1, 12, 12))
    stripes = np.tile((np.arange(12) % 4 < 2).astype(float), (12, 1))[None, None]
    transfer = style.StyleTransfer(net, content, stripes, content_weight=1e-3, style_weight=1e3)
    for method in ("lbfgs", "adam"):
        image, record = transfer.run(content, steps=60, method=method, lr=0.05)
        assert record["style_end"] < 0.2 * record["style_start"], (method, record)
        assert image.min() >= 0 and image.max() <= 1


def vgg19_file(path, break_key=None, bad_shape=None):
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    tensors, c, module = {}, 3, 0
    for item in style.VGG19:
        if item == "M":
            module += 1
            continue
        tensors[f"features.{module}.weight"] = (rng.standard_normal((item, c, 3, 3)) * np.sqrt(2 / (9 * c))).astype(
            np.float32)
        tensors[f"features.{module}.bias"] = np.zeros(item, np.float32)
        c, module = item, module + 2
    tensors["classifier.0.weight"] = np.zeros((4, 4), np.float32)  # the classifier is ignored
    if break_key:
        del tensors[break_key]
    if bad_shape:
        tensors[bad_shape] = np.zeros((3, 3), np.float32)
    save_file(tensors, str(path))
    return path


def test_vgg19_from_a_torchvision_layout_safetensors_file(tmp_path, cpu32):
    pytest.importorskip("safetensors")
    net = style.vgg19_from_safetensors(vgg19_file(tmp_path / "vgg19.safetensors"))
    assert [n for n in net.names if n.startswith("conv")] == [
        "conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3", "conv3_4", "conv4_1", "conv4_2",
        "conv4_3", "conv4_4", "conv5_1", "conv5_2", "conv5_3", "conv5_4"]
    assert net.content == "relu4_2" and net.style == ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    assert net.layers[net.index("conv3_1")].W.shape == (256, 128, 3, 3)
    from safetensors.numpy import load_file

    w = load_file(str(tmp_path / "vgg19.safetensors"))["features.28.weight"]  # conv5_1 is torchvision's module 28
    np.testing.assert_array_equal(net.layers[net.index("conv5_1")].W, w)
    acts = net.forward(np.full((1, 1, 32, 32), 0.5, np.float32), ["relu5_1"])  # grey input repeated to RGB
    assert acts["relu5_1"].shape == (1, 512, 2, 2)


@pytest.mark.parametrize("broken, message", [
    (dict(break_key="features.21.weight"), "no 'features.21.weight' (VGG-19's conv4_2 weight"),
    (dict(bad_shape="features.2.bias"), "'features.2.bias' (conv1_2 bias) has shape (3, 3); VGG-19's is (64,)"),
])
def test_a_weights_file_with_missing_or_misshapen_layers_names_the_first(tmp_path, capsys, broken, message):
    pytest.importorskip("safetensors")
    from PIL import Image

    path = vgg19_file(tmp_path / "bad.safetensors", **broken)
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(tmp_path / "a.png")
    code = main(["style", str(tmp_path / "a.png"), str(tmp_path / "a.png"), "--weights", str(path), "--out",
                 str(tmp_path / "o.png")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and message in err, err


def test_style_from_the_command_line(tmp_path, capsys):
    from PIL import Image

    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((24, 20)) * 255).astype(np.uint8)).save(tmp_path / "content.png")
    Image.fromarray((rng.random((30, 30, 3)) * 255).astype(np.uint8), "RGB").save(tmp_path / "style.png")
    Image.fromarray((rng.random((20, 20, 4)) * 255).astype(np.uint8), "RGBA").save(tmp_path / "alpha.png")
    with backends.use("cpu", dtype="float32"):
        assert main(["style", str(tmp_path / "content.png"), str(tmp_path / "alpha.png"), "--steps", "5", "--out",
                     str(tmp_path / "out.png")]) == 0
    out = capsys.readouterr().out
    assert "% lower" in out and (tmp_path / "out.png").stat().st_size > 100
    with Image.open(tmp_path / "out.png") as img:
        assert img.size == (20, 24)


def test_bad_style_requests(tmp_path, capsys):
    from PIL import Image

    Image.fromarray(np.zeros((16, 16), np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((4, 30), np.uint8)).save(tmp_path / "thin.png")
    (tmp_path / "not.png").write_bytes(b"not an image")
    a = str(tmp_path / "a.png")
    one_line(capsys, main(["style", a, a, "--steps", "0"]), "--steps must be at least 1")
    one_line(capsys, main(["style", a, a, "--method", "sgd"]), "--method must be lbfgs or adam")
    one_line(capsys, main(["style", a, str(tmp_path / "thin.png"), "--out", str(tmp_path / "o.png")]),
             "needs at least 8 pixels a side")
    one_line(capsys, main(["style", a, str(tmp_path / "not.png"), "--out", str(tmp_path / "o.png")]),
             "not a readable image")
    one_line(capsys, main(["style", a, str(tmp_path / "missing.png"), "--out", str(tmp_path / "o.png")]),
             "no such image")
    one_line(capsys, main(["style", a, a, "--out", a]), "which this command reads")


def test_a_trained_deepnet_classifier_as_the_feature_network(tmp_path, cpu32):
    from deepnet.models import DeepConvNet

    DeepConvNet().save(tmp_path / "dcn.npz", {"model_name": "deepconvnet"})
    net = style.from_run(tmp_path / "dcn.npz")
    assert net.channels == 1 and len(net.style) == 6 and net.content == net.style[-2]
    assert not any(type(layer).__name__ == "Affine" for layer in net.layers)
    rng = np.random.default_rng(0)
    transfer = style.StyleTransfer(net, rng.random((2, 1, 28, 28)).astype(np.float32),
                                   rng.random((1, 1, 28, 28)).astype(np.float32))
    _, _, dx = transfer.losses(rng.random((2, 1, 28, 28)).astype(np.float32))
    assert dx.shape == (2, 1, 28, 28) and np.isfinite(dx).all()


def test_vgg19_refuses_pictures_smaller_than_its_four_poolings_take(tmp_path, capsys):
    """With VGG-19, --size 8 (or 12, or a 640x8 strip) is refused in one line naming the smallest side relu5_1
    is reached from (four 2x2 poolings: 16), not a traceback from the pooling."""
    pytest.importorskip("safetensors")
    from PIL import Image

    weights = vgg19_file(tmp_path / "vgg19.safetensors")
    with backends.use("cpu", dtype="float32"):
        assert style.vgg19_from_safetensors(weights).smallest_side() == 16
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "a.png")
    a = str(tmp_path / "a.png")
    for size in ("8", "12"):
        one_line(capsys, main(["style", a, a, "--weights", str(weights), "--size", size, "--out",
                               str(tmp_path / "o.png")]), "needs at least 16 pixels a side")
