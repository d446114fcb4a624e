"""Every layer's backward against central differences, in float64."""
import numpy as np
import pytest

from deepnet.layers import (LRN, Affine, BatchNormalization, Convolution, Dropout, Pooling, Relu, Sigmoid,
                            SoftmaxWithLoss, Tanh)
from deepnet.models import DeepConvNet, Sequential, SimpleConvNet

from ..gradcheck import check_layer, check_model, numerical

WORST = {}


def record(name, err):
    WORST[name] = max(WORST.get(name, 0.0), err)


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("shape,k,stride,pad", [
    ((2, 3, 5, 5), 3, 1, 1), ((2, 2, 7, 6), 3, 2, 0), ((1, 3, 6, 7), (2, 3), 1, 2), ((2, 4, 5, 5), 1, 1, 0),
    ((1, 2, 9, 9), 5, 3, 1)])
def test_convolution(f64, shape, k, stride, pad):
    layer = Convolution(shape[1], 3, k, stride=stride, pad=pad)
    layer.b[...] = randn(3, seed=5)
    record("Convolution", check_layer(layer, randn(*shape)))


@pytest.mark.parametrize("shape,size,stride,pad,mode", [
    ((2, 3, 6, 6), 2, 2, 0, "max"), ((2, 2, 7, 5), 3, 2, 1, "max"), ((1, 2, 5, 5), 2, 1, 0, "max"),
    ((2, 3, 6, 6), 2, 2, 0, "avg"), ((2, 2, 7, 7), 3, 2, 1, "avg")])
def test_pooling(f64, shape, size, stride, pad, mode):
    record(f"Pooling ({mode})", check_layer(Pooling(size, stride=stride, pad=pad, mode=mode), randn(*shape)))


@pytest.mark.parametrize("shape", [(4, 6), (3, 2, 3, 3)])
def test_affine(f64, shape):
    layer = Affine(int(np.prod(shape[1:])), 5)
    layer.b[...] = randn(5, seed=3)
    record("Affine", check_layer(layer, randn(*shape)))


@pytest.mark.parametrize("cls", [Relu, Sigmoid, Tanh])
def test_activations(f64, cls):
    x = randn(3, 7)
    x[np.abs(x) < 1e-3] = 0.5  # keep ReLU's kink out of the finite-difference step
    record(cls.__name__, check_layer(cls(), x))


def test_dropout_with_a_fixed_mask(f64):
    record("Dropout", check_layer(Dropout(0.3), randn(4, 9), train=True, seed=11))


@pytest.mark.parametrize("shape", [(6, 5), (3, 4, 3, 2)])
def test_batch_normalization(f64, shape):
    layer = BatchNormalization(shape[1])
    layer.gamma[...] = randn(shape[1], seed=1)
    layer.beta[...] = randn(shape[1], seed=2)
    record("BatchNormalization (train)", check_layer(layer, randn(*shape), train=True))
    record("BatchNormalization (eval)", check_layer(layer, randn(*shape), train=False))


@pytest.mark.parametrize("size,channels", [(5, 7), (3, 2), (1, 3)])
def test_lrn(f64, size, channels):
    # large alpha so the normalisation is far from the identity and the check has teeth
    record("LRN", check_layer(LRN(size=size, alpha=0.5, beta=0.75, k=1.0), randn(2, channels, 3, 3)))


@pytest.mark.parametrize("onehot", [False, True])
def test_softmax_with_loss(f64, onehot):
    x = randn(5, 4)
    t = np.array([0, 3, 1, 1, 2])
    if onehot:
        t = np.eye(4)[t]
    layer = SoftmaxWithLoss()
    layer.forward(x, t)
    dx = layer.backward()
    num = numerical(lambda: float(layer.forward(x, t)), x, [np.unravel_index(i, x.shape) for i in range(x.size)])
    err = np.linalg.norm(num - dx.ravel()) / (np.linalg.norm(num) + np.linalg.norm(dx))
    assert err < 1e-6
    record("SoftmaxWithLoss", float(err))


def test_small_models(f64):
    x = randn(3, 1, 10, 10)
    t = np.array([0, 2, 1])
    simple = SimpleConvNet(input_shape=(1, 10, 10), num_classes=3, filters=4, kernel_size=3, hidden=6)
    record("SimpleConvNet (whole)", check_model(simple, x, t))
    stack = Sequential([Convolution(1, 3, 3, pad=1), BatchNormalization(3), Relu(), LRN(3, alpha=0.3),
                        Pooling(2, mode="avg"), Affine(3 * 5 * 5, 4, "xavier"), Tanh(), Affine(4, 3)])
    record("mixed stack (whole)", check_model(stack, x, t))


def test_deepconvnet_whole(f64):
    model = DeepConvNet(dropout=0.0)
    x = np.random.default_rng(0).random((2, 1, 28, 28))  # pixels in [0, 1), as real input: logits stay moderate
    record("DeepConvNet (whole)", check_model(model, x, np.array([3, 7]), limit=3))


def test_report_worst_errors():
    """Prints the worst relative error seen per layer (pytest -s shows it); runs last in this file."""
    for name, err in sorted(WORST.items()):
        print(f"  {name:<28} {err:.2e}")
    assert all(e < 1e-6 for e in WORST.values())
