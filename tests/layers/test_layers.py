"""Forward results against independent references, and the book's defects, each pinned by a test."""
import numpy as np
import pytest

from deepnet import backends
from deepnet.layers import (LRN, Affine, BatchNormalization, Convolution, Dropout, Pooling, Relu, Sigmoid,
                            SoftmaxWithLoss)
from deepnet.models import DeepConvNet


def direct_conv(x, W, b, stride, pad):
    n, c, h, w = x.shape
    o, _, kh, kw = W.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1
    out = np.zeros((n, o, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * stride : i * stride + kh, j * stride : j * stride + kw]
            out[:, :, i, j] = np.tensordot(patch, W, axes=([1, 2, 3], [1, 2, 3])) + b
    return out


@pytest.mark.parametrize("shape,o,k,stride,pad", [((2, 3, 8, 7), 4, 3, 1, 1), ((1, 2, 9, 9), 3, 5, 2, 2),
                                                  ((3, 4, 5, 5), 6, 1, 1, 0), ((1, 1, 6, 8), 2, 3, 3, 0)])
def test_convolution_matches_a_direct_loop(f64, shape, o, k, stride, pad):
    layer = Convolution(shape[1], o, k, stride=stride, pad=pad)
    layer.b[...] = np.arange(o) * 0.1
    x = np.random.default_rng(0).standard_normal(shape)
    np.testing.assert_allclose(layer.forward(x), direct_conv(x, layer.W, layer.b, stride, pad), rtol=1e-12,
                               atol=1e-12)


def test_max_pool_matches_a_loop_and_pads_with_minus_infinity(f64):
    x = -np.abs(np.random.default_rng(1).standard_normal((2, 3, 5, 5))) - 1  # all negative: zero padding would win
    y = Pooling(3, stride=2, pad=1).forward(x)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    ref = np.array([[[[xp[n, c, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3].max() for j in range(3)] for i in range(3)]
                     for c in range(3)] for n in range(2)])
    np.testing.assert_array_equal(y, ref)


def test_avg_pool_matches_reshape_mean(f64):
    x = np.random.default_rng(2).standard_normal((2, 3, 6, 4))
    np.testing.assert_allclose(Pooling(2, mode="avg").forward(x), x.reshape(2, 3, 3, 2, 2, 2).mean(axis=(3, 5)))


def test_book_defect_pooling_output_size_counts_the_padding(cpu32):
    # The book computes out_h = 1 + (H - pool_h) / stride, ignoring pad: 2x2 here instead of 3x3.
    y = Pooling(2, stride=2, pad=1).forward(np.ones((1, 1, 4, 4), np.float32))
    assert y.shape == (1, 1, 3, 3)
    assert Pooling(2, stride=2, pad=1).output_shape((1, 4, 4)) == (1, 3, 3)


def test_book_defect_relu_backward_leaves_its_input_alone(cpu32):
    relu = Relu()
    relu.forward(np.array([[-1.0, 2.0]], np.float32))
    dout = np.array([[5.0, 6.0]], np.float32)
    dx = relu.backward(dout)
    np.testing.assert_array_equal(dout, [[5.0, 6.0]])  # the book sets dout[mask] = 0 in place
    np.testing.assert_array_equal(dx, [[0.0, 6.0]])


def test_book_defect_dropout_is_inverted(cpu32):
    x = np.ones((200, 500), np.float32)
    d = Dropout(0.5)
    np.testing.assert_array_equal(d.forward(x, train=False), x)  # the book multiplies by (1 - ratio) here
    y = d.forward(x, train=True)
    assert set(np.unique(y)) <= {0.0, 2.0}
    assert abs(float(y.mean()) - 1.0) < 0.02  # the expectation is kept at training time
    assert y.dtype == np.float32


def test_book_defect_float32_everywhere(cpu32):
    """The book allocates float64; here a float32 model's forward and backward produce only float32."""
    model = DeepConvNet()
    x = cpu32.rng.uniform((4, 1, 28, 28))
    t = np.array([1, 2, 3, 4])
    h = x
    for name, layer in model.layers.items():
        h = layer.forward(h, train=True)
        assert h.dtype == np.float32, f"{name} forward gave {h.dtype}"
    loss = model.loss_layer.forward(h, t)
    assert loss.dtype == np.float32
    d = model.loss_layer.backward()
    for name, layer in reversed(model.layers.items()):
        d = layer.backward(d)
        assert d.dtype == np.float32, f"{name} backward gave {d.dtype}"
    for name, g in model.grads().items():
        assert g.dtype == np.float32, name
    assert all(p.dtype == np.float32 for p in model.params().values())


def test_book_defect_parameters_have_names_not_indices(cpu32):
    names = list(DeepConvNet().params())
    assert names[:4] == ["conv1.W", "conv1.b", "conv2.W", "conv2.b"]
    assert names[-2:] == ["affine2.W", "affine2.b"]


def test_book_defect_accuracy_counts_the_last_partial_batch(cpu32):
    model = DeepConvNet()
    x = cpu32.rng.uniform((23, 1, 28, 28))
    pred = model.predict(x).argmax(axis=1)
    t = pred.copy()
    t[-1] = (t[-1] + 1) % 10  # only the very last sample, in the partial batch, is wrong
    assert model.accuracy(x, t, batch_size=10) == pytest.approx(22 / 23)


def test_softmax_is_stable_for_huge_logits(f64):
    layer = SoftmaxWithLoss()
    loss = layer.forward(np.array([[1000.0, 0.0, -1000.0], [0.0, 1e4, 0.0]]), np.array([0, 1]))
    assert np.isfinite(loss) and loss == pytest.approx(0.0, abs=1e-12)
    assert np.all(np.isfinite(layer.backward()))


def test_softmax_one_hot_equals_indices(f64):
    x = np.random.default_rng(0).standard_normal((4, 5))
    t = np.array([4, 0, 2, 2])
    a, b = SoftmaxWithLoss(), SoftmaxWithLoss()
    assert a.forward(x, t) == pytest.approx(b.forward(x, np.eye(5)[t]))
    np.testing.assert_allclose(a.backward(), b.backward())


def test_bad_labels_are_a_clear_error(f64):
    with pytest.raises(ValueError, match=r"labels must be \(N,\) class indices"):
        SoftmaxWithLoss().forward(np.zeros((4, 3)), np.zeros((5,), int))


def test_wrong_input_shapes_are_clear_errors(cpu32):
    with pytest.raises(ValueError, match=r"expects \(N, 3, H, W\) input; got shape \(2, 1, 5, 5\)"):
        Convolution(3, 4, 3).forward(np.zeros((2, 1, 5, 5), np.float32))
    with pytest.raises(ValueError, match="expects 10 input features"):
        Affine(10, 2).forward(np.zeros((2, 11), np.float32))
    with pytest.raises(TypeError, match="got builtins.list"):
        Convolution(1, 1, 1).forward([[1.0]])


def test_batchnorm_uses_running_statistics_at_inference(f64):
    bn = BatchNormalization(3, momentum=0.0)  # running stats = the last batch's
    x = np.random.default_rng(0).standard_normal((50, 3)) * 4 + 2
    y_train = bn.forward(x, train=True)
    np.testing.assert_allclose(y_train.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(bn.forward(x, train=False), y_train, atol=1e-4)  # eps apart


def test_batchnorm_updates_its_running_statistics(f64):
    bn = BatchNormalization(2, momentum=0.75)
    x = np.random.default_rng(1).standard_normal((40, 2)) * [1.0, 3.0] + [5.0, -1.0]
    bn.forward(x, train=True)
    np.testing.assert_allclose(bn.running_mean, 0.25 * x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, 0.75 + 0.25 * x.var(axis=0), rtol=1e-12)
    bn.forward(x, train=False)  # inference leaves them alone
    np.testing.assert_allclose(bn.running_mean, 0.25 * x.mean(axis=0), rtol=1e-12)


def test_float16_batchnorm_backward_past_65504_samples_a_channel():
    # 64 pictures of 32x32 average 65,536 samples a channel: float16 cannot hold that count, and dividing by it in
    # float16 made the means 0 (the gradient then lost its centring)
    rng = np.random.default_rng(2)
    x, dy = rng.standard_normal((64, 2, 1024)), rng.standard_normal((64, 2, 1024)) + 0.5
    gamma, beta = np.array([1.0, 2.0]), np.zeros(2)
    bk = backends.create("cpu-reference", dtype="float64")
    want = bk.batch_norm_backward(dy, gamma, bk.batch_norm(x, gamma, beta, 1e-5)[1])[0]
    h = [a.astype(np.float16) for a in (x, dy, gamma, beta)]
    got = bk.batch_norm_backward(h[1], h[2], bk.batch_norm(h[0], h[2], h[3], 1e-5)[1])[0]
    assert np.abs(got.astype(np.float64) - want).max() < 0.05 * np.abs(want).max()


def test_sigmoid_does_not_overflow(f64):
    y = Sigmoid().forward(np.array([-1000.0, 0.0, 1000.0]))
    np.testing.assert_allclose(y, [0.0, 0.5, 1.0])


def test_lrn_matches_the_formula(f64):
    x = np.random.default_rng(3).standard_normal((1, 6, 2, 2))
    y = LRN(size=5, alpha=1e-2, beta=0.75, k=2.0).forward(x)
    c = 2
    s = 2.0 + (1e-2 / 5) * (x[:, 0:5] ** 2).sum(axis=1)
    np.testing.assert_allclose(y[:, c], x[:, c] * s ** -0.75)
