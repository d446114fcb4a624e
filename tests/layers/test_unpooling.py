"""SegNet's max unpooling: forward puts each value where its pooling's maximum was, backward reads those
places back; both against central differences in float64, on every registered backend, and SegNet whole."""
import numpy as np
import pytest

from deepnet.layers import MaxUnpooling, Pooling, runner
from deepnet.layers import Convolution, Relu
from deepnet.models import SegNet

from ..backend_helpers import NAMES, agrees_with_the_reference
from ..gradcheck import check_layer, check_model



def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def test_unpooling_puts_values_back_at_the_maxima(f64):
    x = np.array([[[[1, 5, 2, 0], [3, 4, 8, 1], [0, 0, 1, 1], [9, 0, 2, 7.0]]]])
    pool = Pooling(2)
    y = pool.forward(x)
    np.testing.assert_array_equal(y[0, 0], [[5, 8], [9, 7]])
    up = MaxUnpooling(pool).forward(np.array([[[[10, 20], [30, 40.0]]]]))
    np.testing.assert_array_equal(up[0, 0], [[0, 10, 0, 0], [0, 0, 20, 0], [0, 0, 0, 0], [30, 0, 0, 40]])


@pytest.mark.parametrize("shape,size,stride,pad", [((2, 3, 6, 6), 2, 2, 0), ((2, 2, 7, 5), 3, 2, 1),
                                                   ((1, 2, 5, 5), 2, 1, 0)])
def test_unpooling_gradient(f64, shape, size, stride, pad):
    pool = Pooling(size, stride=stride, pad=pad)
    z = pool.forward(randn(*shape), train=True)
    check_layer(MaxUnpooling(pool), randn(*z.shape, seed=1))


def test_unpooling_indices_found_after_an_inference_forward(f64):
    x = randn(2, 3, 6, 6)
    trained, inferred = Pooling(2), Pooling(2)
    z = trained.forward(x, train=True)
    inferred.forward(x, train=False)  # keeps the input, not the arg-max: found when unpooling asks
    a = MaxUnpooling(trained).forward(z)
    b = MaxUnpooling(inferred).forward(z)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a != 0, x == a)  # each window's maximum back in its place


@pytest.mark.parametrize("name", NAMES)
def test_unpooling_on_every_backend(name):
    rng = np.random.default_rng(3)
    x, g = rng.standard_normal((3, 4, 9, 8)).round(1), rng.standard_normal((3, 4, 9, 8))

    def run(b):
        pool = Pooling(3, stride=2, pad=1)
        up = MaxUnpooling(pool)
        y = up.forward(pool.forward(b.to_device(x), train=True) * 2)
        return y, up.backward(b.to_device(g))

    agrees_with_the_reference(name, run)


def test_unpooling_errors(f64):
    with pytest.raises(ValueError, match="max Pooling"):
        MaxUnpooling(Pooling(2, mode="avg"))
    pool = Pooling(2)
    with pytest.raises(RuntimeError, match="before Pooling.forward"):
        MaxUnpooling(pool).forward(np.zeros((1, 1, 2, 2)))
    pool.forward(np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match=r"pooling's output shape \(1, 1, 2, 2\)"):
        MaxUnpooling(pool).forward(np.zeros((1, 1, 3, 3)))


def test_a_pooling_that_is_unpooled_is_not_fused_away(f64):
    layers = [Convolution(1, 2, 3, pad=1), Relu(), Pooling(2)]
    assert runner.conv_relu_pool(layers)
    MaxUnpooling(layers[2])
    assert not runner.conv_relu_pool(layers)


def test_segnet_gradients_and_shapes(f64):
    model = SegNet(input_shape=(1, 8, 8), num_classes=3, width=2)
    for i, (name, p) in enumerate(model.params().items()):  # zero biases put ReLU's kink on the unpooled zeros
        if not name.endswith(".W"):
            p[...] = randn(*p.shape, seed=10 + i) * 0.5 + (1.0 if name.endswith("gamma") else 0.0)
    x = randn(2, 1, 8, 8)
    t = np.random.default_rng(1).integers(0, 3, (2, 8, 8))
    assert model.forward(x).shape == (2, 3, 8, 8)
    check_model(model, x, t)


def test_segnet_predicts_what_its_forward_gives(f64):
    model = SegNet(input_shape=(1, 16, 16), num_classes=4, width=2)
    x = randn(3, 1, 16, 16)
    np.testing.assert_allclose(model.predict(x), model.forward(x), rtol=1e-12)


def test_segnet_refuses_sides_that_do_not_halve_three_times():
    with pytest.raises(ValueError, match="multiples of 8"):
        SegNet(input_shape=(1, 20, 20))
