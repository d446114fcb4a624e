"""Binarized layers: sign with the straight-through gradient, binary convolution and affine layers that use
sign(W) of clipped latent weights, and inference on packed bits equal to the float simulation."""
import numpy as np
import pytest

from deepnet import backends
from deepnet.binary_inference import PackedBinaryNet, compare, pack_bits, xnor_dot
from deepnet.layers import Affine, BinaryAffine, BinaryConvolution, Convolution, Sign
from deepnet.models import BinaryNet
from deepnet.optimizers import Adam

from ..gradcheck import check_layer


def test_sign_forward_and_straight_through_backward(f64):
    layer = Sign()
    x = np.array([-2.0, -0.5, 0.0, 0.5, 3.0])
    np.testing.assert_array_equal(layer.forward(x), [-1, -1, 1, 1, 1])  # sign(0) = +1
    np.testing.assert_array_equal(layer.backward(np.full(5, 2.0)), [0, 2, 2, 2, 0])  # |x| <= 1 passes


@pytest.mark.parametrize("cls,shape", [(BinaryConvolution, (2, 3, 6, 6)), (BinaryAffine, (4, 12))])
def test_binary_layers_are_the_float_layer_with_sign_weights(f64, cls, shape):
    rng = np.random.default_rng(0)
    layer = cls(3, 4, 3) if cls is BinaryConvolution else cls(12, 5)
    layer.W = rng.uniform(-2, 2, layer.W.shape)
    x = rng.standard_normal(shape)
    y = layer.forward(x, train=True)
    assert np.all(np.abs(layer.W) <= 1)  # latent weights clipped in training
    twin = Convolution(3, 4, 3) if cls is BinaryConvolution else Affine(12, 5)
    twin.W, twin.b = np.where(layer.W >= 0, 1.0, -1.0), layer.b.copy()
    np.testing.assert_allclose(y, twin.forward(x))
    dout = rng.standard_normal(y.shape)
    dx = layer.backward(dout)
    np.testing.assert_allclose(dx, twin.backward(dout))
    np.testing.assert_allclose(layer.dW, twin.dW)  # straight through: dW for sign(W) goes to W
    assert set(np.unique(layer.W)) - {-1.0, 1.0}  # the latent weights themselves stay real
    check_layer(twin, x)  # and that float twin's own gradients are right


def test_xnor_popcount_is_the_dot_product():
    rng = np.random.default_rng(1)
    a = rng.choice([-1, 1], (7, 29))
    w = rng.choice([-1, 1], (3, 29))
    np.testing.assert_array_equal(xnor_dot(pack_bits(a), pack_bits(w), 29), a @ w.T)


@pytest.mark.parametrize("m,k", [(1, 1), (7, 29), (5, 64), (9, 65), (20000, 200), (4, 1000)])
def test_every_backends_xnor_popcount_is_the_dot_product(m, k):
    """The compiled popcount (64-bit words, rows split among threads past a size) and the byte-table
    reference, on lengths that fill, miss and cross word boundaries."""
    from deepnet.backends.base import xnor_dot_reference

    rng = np.random.default_rng(k)
    a = rng.choice([-1, 1], (m, k))
    w = rng.choice([-1, 1], (6, k))
    want = a @ w.T
    np.testing.assert_array_equal(xnor_dot_reference(pack_bits(a), pack_bits(w), k), want)
    for threads in (1, 2):
        bk = backends.create("cpu", dtype="float32")
        bk.set_threads(threads)
        got = bk.xnor_dot(pack_bits(a), pack_bits(w), k)
        assert got.dtype == np.int32 and got.shape == (m, 6)
        np.testing.assert_array_equal(got, want)


def test_packed_inference_gives_the_float_predictions_and_is_32x_smaller(tmp_path):
    with backends.use("cpu", dtype="float32") as bk:
        bk.rng.seed(0)
        model = BinaryNet()
        x = bk.rng.uniform((6, 1, 28, 28))
        opt = Adam()
        for _ in range(2):  # a couple of steps so that batch-norm statistics and weights are not the initial ones
            model.train_step(x, np.arange(6) % 10, opt)
        result = compare(model, x, batch_size=4)
        assert result["same_predictions"]
        assert result["weights_float32_bytes"] / result["weights_packed_bytes"] > 31  # one bit a weight
        size = PackedBinaryNet(model).save(tmp_path / "packed.npz")
        assert 0 < size < result["weights_float32_bytes"] / 8


def test_binarize_command(tmp_path, capsys):
    from deepnet.cli import main

    run = tmp_path / "bnn"
    assert main(["train", "--model", "binarynet", "--recipe", "book", "--epochs", "1", "--limit", "300",
                 "--out", str(run), "--no-progress", "--no-plots", "--no-test-eval"]) == 0
    assert main(["binarize", str(run), "--limit", "40", "--out", str(tmp_path / "packed.npz")]) == 0
    text = capsys.readouterr().out
    assert "40 of 40 predictions equal the float simulation's" in text and "(32x)" in text
    assert (tmp_path / "packed.npz").stat().st_size > 0
