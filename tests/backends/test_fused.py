"""A Convolution and the Relu after it, run as one pass (Sequential.fuse), against the two layers on their own."""
import numpy as np
import pytest

from deepnet import backends
from deepnet.backends.base import Backend
from deepnet.backends.cpu.conv import ChunkedConv
from deepnet.backends.cpu.threads import Workers
from deepnet.layers import Convolution, Pooling, Relu, runner
from deepnet.models import DeepConvNet, ResNet, Sequential

from .test_cpu_parallel import SHAPES, conv_paths, split_small_work  # noqa: F401 (an autouse fixture)


@pytest.mark.parametrize("shape,o,k,stride,pad", SHAPES)
@pytest.mark.parametrize("path", conv_paths())
def test_chunked_conv_relu_matches_conv_then_relu(shape, o, k, stride, pad, path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    w = rng.standard_normal((o, shape[1]) + k)
    b = rng.standard_normal(o)
    bk = backends.create("cpu", dtype="float64")
    z, ctx = Backend.conv2d(bk, x, w, b, stride, pad)
    y_ref = np.maximum(z, 0)
    assert 0.2 < (y_ref > 0).mean() < 0.8  # both sides of the ReLU are exercised
    dy = rng.standard_normal(z.shape)
    dx_ref, dw_ref, db_ref = Backend.conv2d_backward(bk, dy * (z > 0), w, ctx, stride, pad)
    conv = ChunkedConv(Workers(2), chunk_bytes=2 * x[0].size * k[0] * k[1] * 8, **path)
    y = conv.forward(x, w, b, stride, pad, relu=True)
    dx, dw, db = conv.backward(dy, x, w, stride, pad, relu_out=y)
    for got, want in ((y, y_ref), (dx, dx_ref), (dw, dw_ref), (db, db_ref)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def _run(model, x, t):
    loss = float(model.loss(x, t, train=True))
    model.backward()
    return loss, {k: g.copy() for k, g in model.grads().items()}


@pytest.mark.parametrize("backend", ["cpu", "cpu-reference"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_fused_model_computes_what_the_unfused_one_does(backend, dtype):
    with backends.use(backend, dtype=dtype) as bk:
        bk.rng.seed(0)
        model = DeepConvNet(dropout=0.0)
        x = bk.to_device(np.random.default_rng(1).random((7, 1, 28, 28)))
        t = bk.to_device(np.arange(7) % 10)
        probs_fused = model.predict(x, probabilities=True)
        fused = _run(model, x, t)
        assert model.layers["relu1"].fused and model.layers["conv1"].relu
        model.fuse = False
        probs_plain = model.predict(x, probabilities=True)
        plain = _run(model, x, t)
        assert not model.layers["relu1"].fused and not model.layers["conv1"].relu
    # the same arithmetic in the same order: equal, not just close
    np.testing.assert_array_equal(probs_fused, probs_plain)
    assert fused[0] == plain[0]
    assert fused[1].keys() == plain[1].keys()
    for k in fused[1]:
        np.testing.assert_array_equal(fused[1][k], plain[1][k], err_msg=k)


def test_only_a_convolution_followed_by_a_relu_is_fused(cpu32):
    model = Sequential([("conv", Convolution(1, 2, 3, pad=1)), ("relu", Relu()), ("conv2", Convolution(2, 2, 3)),
                        ("relu2", Relu()), ("relu3", Relu())])
    model.forward(cpu32.rng.uniform((2, 1, 6, 6)))
    assert model.layers["relu"].fused and model.layers["relu2"].fused and not model.layers["relu3"].fused


def test_a_fused_relu_keeps_nan_visible(cpu32):
    model = Sequential([("conv", Convolution(1, 2, 3, pad=1)), ("relu", Relu())])
    x = np.ones((1, 1, 4, 4), np.float32)
    x[0, 0, 1, 1] = np.nan
    y = model.forward(x)
    assert np.isnan(y).any()  # divergence stays visible through the fused ReLU, as through the layer


@pytest.mark.gpu
def test_fused_and_unfused_agree_on_the_gpu(gpu):
    with backends.use("gpu", dtype="float32") as bk:
        bk.rng.seed(0)
        model = DeepConvNet(dropout=0.0)
        x = bk.to_device(np.random.default_rng(1).random((7, 1, 28, 28)))
        t = bk.to_device(np.arange(7) % 10)
        fused = _run(model, x, t)
        model.fuse = False
        plain = _run(model, x, t)
    assert fused[0] == pytest.approx(plain[0], rel=1e-6)
    for k in fused[1]:
        np.testing.assert_allclose(bk.to_numpy(fused[1][k]), bk.to_numpy(plain[1][k]), rtol=1e-5, atol=1e-6)



@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape,o,stride,pad", [((3, 2, 9, 7), 4, 1, 1), ((5, 16, 28, 28), 16, 1, 1),
                                                ((2, 3, 11, 10), 5, 2, 1), ((4, 1, 6, 6), 3, 1, 0)])
def test_convolution_relu_and_pooling_in_one_pass_equal_the_three_layers(dtype, shape, o, stride, pad):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    x[0, 0, 2, 2] = np.nan  # a NaN reaches some outputs through every path alike
    w = rng.standard_normal((o, shape[1], 3, 3)).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    ref = backends.create("cpu-reference", dtype=dtype)
    z, _ = ref.conv2d(x, w, b, stride, pad)
    want, _ = ref.max_pool(np.maximum(z, 0) + 0 * z, 2, 2, 2, with_arg=False)  # NaN kept by + 0 * z
    cpu = backends.create("cpu", dtype=dtype)
    if cpu.chunked_conv.blas is None:
        pytest.skip("NumPy's BLAS cannot be called from the compiled kernels here (the layers run one by one)")
    with backends.use(cpu):
        got = cpu.conv2d_relu_pool(x, w, b, stride, pad)
    assert got.shape == want.shape and got.dtype == np.dtype(dtype) and np.isnan(got).any()
    np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == "float32" else 1e-12, atol=1e-5)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))


@pytest.mark.parametrize("backend", ["cpu", "cpu-reference"])
def test_predict_pools_inside_the_convolution_and_agrees_with_forward(backend):
    with backends.use(backend, dtype="float64") as bk:
        bk.rng.seed(0)
        model = DeepConvNet()
        x = bk.rng.uniform((7, 1, 28, 28))
        t = np.arange(7) % 10
        np.testing.assert_allclose(model.predict(x), model.forward(x, train=False), rtol=1e-10, atol=1e-12)
        model.evaluate(x, t)
        with pytest.raises(RuntimeError, match="before Pooling.forward"):
            model.backward()  # the pooled inference kept nothing to differentiate
        model.loss(x, t, train=False)
        model.backward()  # a forward of its own makes backward possible again
        odd = Sequential([Convolution(1, 4, 3, pad=1), Relu(), Pooling(3, stride=2)], input_shape=(1, 28, 28))
        np.testing.assert_allclose(odd.predict(x), odd.forward(x), rtol=1e-12)  # not 2x2/2: not pooled inside


def test_a_subclass_with_its_own_forward_predicts_through_it():
    class Doubled(Sequential):
        def forward(self, x, train=False):
            return 2 * super().forward(x, train)

    with backends.use("cpu", dtype="float64") as bk:
        bk.rng.seed(0)
        model = Doubled([Convolution(1, 2, 3, pad=1), Relu(), Pooling(2)], input_shape=(1, 6, 6))
        x = bk.rng.uniform((3, 1, 6, 6))
        np.testing.assert_allclose(model.predict(x), 2 * Sequential.forward(model, x), rtol=1e-12)


def test_fusion_runs_inside_blocks_and_agrees_with_the_plain_run(cpu32):
    """The residual blocks' chains run through the same runner as the model's own layers: FCN's
    convolutions and ReLUs inside its skip blocks fuse too, with the same results as unfused."""
    from deepnet.layers import Relu
    from deepnet.models import FCN

    model = FCN(input_shape=(1, 16, 16), width=4)
    x = cpu32.to_device(np.random.default_rng(2).random((3, 1, 16, 16)))
    t = cpu32.to_device(np.random.default_rng(3).integers(0, 11, (3, 16, 16)))
    fused = _run(model, x, t)
    inner = [layer for layer in model.layers["residual1"].branch if isinstance(layer, Relu)]
    assert inner and all(r.fused for r in inner)
    model.fuse = False
    plain = _run(model, x, t)
    assert not any(r.fused for r in inner)
    assert fused[0] == plain[0]
    for k in fused[1]:
        np.testing.assert_array_equal(fused[1][k], plain[1][k], err_msg=k)


@pytest.mark.parametrize("backend", ["cpu", "cpu-reference"])
@pytest.mark.parametrize("shape", [(5, 3, 4, 4), (6, 4)], ids=["channels", "dense"])
@pytest.mark.parametrize("train", [True, False], ids=["batch-statistics", "running-statistics"])
def test_batch_norm_and_relu_in_one_pass_equal_the_two_layers(backend, shape, train):
    from deepnet.layers import BatchNormalization

    rng = np.random.default_rng(5)
    with backends.use(backend, dtype="float64"):
        layers = []
        for fused in (True, False):
            bn = BatchNormalization(shape[1])
            bn.gamma[...] = rng.uniform(0.5, 1.5, shape[1]) if fused else layers[0][0].gamma
            bn.beta[...] = rng.standard_normal(shape[1]) if fused else layers[0][0].beta
            bn.running_mean[...] = 0.3
            bn.running_var[...] = 2.0
            layers.append((bn, Relu()))
        x = rng.standard_normal(shape)
        dy = rng.standard_normal(shape)
        (bn, relu), (bn2, relu2) = layers
        y = relu.adopt(bn.forward(x, train=train, relu=True))
        y2 = relu2.forward(bn2.forward(x, train=train))
        assert 0.2 < (y > 0).mean() < 0.8  # both sides of the ReLU are exercised
        dx = bn.backward(relu.backward(dy))
        dx2 = bn2.backward(relu2.backward(dy))
    # the same kernels in the same order: equal, not just close
    for got, want in ((y, y2), (dx, dx2), (bn.dgamma, bn2.dgamma), (bn.dbeta, bn2.dbeta),
                      (bn.running_mean, bn2.running_mean), (bn.running_var, bn2.running_var)):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("offset,spread,tol", [(1.0, 3.0, 1e-12), (1e4, 1e-2, 1e-8)], ids=["plain", "large-mean"])
def test_the_compiled_batch_norm_agrees_with_the_reference(train, offset, spread, tol):
    """The CPU backend's Numba kernels (both moments in one float64 pass, channels among the threads) against
    the NumPy reference's two passes, with and without the fused ReLU; a mean far above the spread must not
    cancel the variance away."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((8, 6, 5, 5)) * spread + offset
    dy = rng.standard_normal(x.shape)
    gamma, beta = rng.uniform(0.5, 1.5, 6), rng.standard_normal(6)
    mean, var = (None, None) if train else (rng.standard_normal(6), rng.uniform(0.5, 2.0, 6))
    ref, fast = backends.create("cpu-reference", dtype="float64"), backends.create("cpu", dtype="float64")
    fast.set_threads(2)
    x3, dy3 = x.reshape(8, 6, 25), dy.reshape(8, 6, 25)
    for relu in (False, True):
        outs = []
        for bk in (ref, fast):
            running = (np.full(6, 0.5), np.full(6, 2.0), 0.9)  # updated in place in training, untouched otherwise
            y, ctx = bk.batch_norm(x3, gamma, beta, 1e-5, relu, mean, var, running=running)
            outs.append((y, ctx.mean, ctx.var, *bk.batch_norm_backward(dy3, gamma, ctx), *running[:2]))
        if not train:
            np.testing.assert_array_equal(outs[1][-2:], [np.full(6, 0.5), np.full(6, 2.0)])
        for want, got in zip(*outs):
            # x - mean at 1e4 is exact only to 1e-12, times 1 / std = 100: tol 1e-8 there; a variance cancelled
            # away by a large mean would be off by about 1e-3
            np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_batch_norm_and_relu_fuse_inside_residual_blocks(cpu32):
    """ResNet's blocks (conv, BN, ReLU, conv, BN) fuse the BN and its ReLU through the runner, with the same
    results as the plain run."""
    from deepnet.models import ResNet

    cpu32.rng.seed(0)
    model = ResNet(8, input_shape=(3, 12, 12))
    x = cpu32.to_device(np.random.default_rng(2).random((4, 3, 12, 12)))
    t = cpu32.to_device(np.arange(4) % 10)
    start = {k: a.copy() for k, a in model.buffers().items()}  # the running statistics a training pass moves
    probs_fused = model.predict(x, probabilities=True)
    fused = _run(model, x, t)
    block = next(layer for layer in model.layers.values() if hasattr(layer, "branch"))
    inner = [layer for layer in block.branch if isinstance(layer, Relu)]
    assert inner and all(r.fused for r in inner)
    for k, a in model.buffers().items():
        a[...] = start[k]
    model.fuse = False
    # inference folds each batch norm into its convolution's weights: the same within float32's rounding
    np.testing.assert_allclose(probs_fused, model.predict(x, probabilities=True), rtol=1e-5, atol=1e-7)
    plain = _run(model, x, t)
    assert not any(r.fused for r in inner)
    assert fused[0] == plain[0]
    for k in fused[1]:
        np.testing.assert_array_equal(fused[1][k], plain[1][k], err_msg=k)


@pytest.mark.gpu
def test_batch_norm_with_its_relu_on_the_gpu_agrees_with_numpy(gpu):
    from deepnet.models import ResNet

    from .test_gpu import train_pass

    x = np.random.default_rng(2).random((4, 3, 12, 12))
    results = [train_pass(name, lambda: ResNet(8, input_shape=(3, 12, 12)), x, np.arange(4) % 10)
               for name in ("gpu", "cpu-reference")]
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-10)
    for k, g in results[1][1].items():
        np.testing.assert_allclose(results[0][1][k], g, rtol=1e-8, atol=1e-10, err_msg=k)


@pytest.mark.parametrize("backend", ["cpu", "cpu-reference"])
@pytest.mark.parametrize("dtype, tol", [("float64", 1e-12), ("float32", 3e-5)])
def test_batch_norm_folded_into_its_convolution_predicts_what_the_layers_do(backend, dtype, tol, monkeypatch):
    """Inference runs a Convolution and its BatchNormalization (and Relu) as one convolution with the statistics
    folded into its weights: the same logits as the layers one by one, within the dtype's rounding."""
    folded = []
    real = Convolution.forward_folded
    monkeypatch.setattr(Convolution, "forward_folded", lambda self, *a, **k: folded.append(1) or real(self, *a, **k))
    rng = np.random.default_rng(0)
    with backends.use(backend, dtype=dtype) as bk:
        bk.rng.seed(0)
        model = ResNet(8, input_shape=(3, 12, 12), num_classes=5)
        state = model.state_numpy()
        for k, a in state.items():  # statistics and scales far from the identity, as after training
            stats = {"running_mean": rng.normal(0, 0.5, a.shape), "running_var": rng.uniform(0.3, 3.0, a.shape),
                     "gamma": rng.uniform(0.5, 1.5, a.shape), "beta": rng.normal(0, 0.3, a.shape)}
            state[k] = stats.get(k.rsplit(".", 1)[-1], a).astype(a.dtype)
        model.load_state(state)
        x = bk.to_device(rng.standard_normal((6, 3, 12, 12)))
        fused = bk.to_numpy(model.predict(x))
        assert len(folded) == 9  # the stem, the six convolutions of the three blocks, the two projections
        with pytest.raises(RuntimeError, match="before BatchNormalization.forward"):
            runner.backward(list(model.layers.values()), bk.xp.ones((6, 5)))  # the folded pass kept nothing
        model.fuse = False
        plain = bk.to_numpy(model.predict(x))
    assert len(folded) == 9
    np.testing.assert_allclose(fused, plain, rtol=tol, atol=tol * np.abs(plain).max())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_pooled_output_passes_equal_the_pooling_of_the_rectified_sums_bit_for_bit(dtype):
    """The compiled output passes that pool (direct.py's, and the one after im2col's product) take each window's
    maximum before the bias and the ReLU: on the same sums that is the layers' value exactly, with negative
    windows, ties, NaNs in every window position and an odd last row and column."""
    pytest.importorskip("numba")
    from deepnet.backends.cpu import direct, outputs

    rng = np.random.default_rng(7)
    o, oh, ow = 6, 9, 11
    sums = rng.integers(-3, 4, (2, o, oh, ow)).astype(dtype) / 2  # few values: ties, and windows all negative
    sums[rng.random(sums.shape) < 0.04] = np.nan
    b = rng.standard_normal(o).astype(dtype)
    z = sums + b[:, None, None]
    rect = np.where(z <= 0, 0, z).astype(dtype)  # the ReLU layer's rule: a NaN passes
    windows = rect[:, :, : oh // 2 * 2, : ow // 2 * 2].reshape(2, o, oh // 2, 2, ow // 2, 2)
    want = windows.max(axis=(3, 5))  # a NaN in a window wins it
    assert np.isnan(want).any() and (want == 0).any()

    got = np.empty(want.shape, dtype)
    outputs.bias_relu_pool_out(np.ascontiguousarray(sums.transpose(1, 0, 2, 3).reshape(o, 2, oh * ow)), b, ow, got)
    np.testing.assert_array_equal(got, want)

    wp = ow + 3  # direct.py's rows are the padded width apart
    for i in range(2):
        acc = np.full((o, oh * wp + 8), 7.0, dtype)
        acc[:, : oh * wp].reshape(o, oh, wp)[:, :, :ow] = sums[i]
        out = np.empty(want.shape[1:], dtype)
        direct._output(acc, b, True, True, wp, out, out, False)
        np.testing.assert_array_equal(out, want[i])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_bias_gradients_vectorized_sum_is_the_sum_and_keeps_a_nan(dtype):
    """outputs.total, the bias gradient's sum of the direct and im2col backward passes: its additions reassociated
    (vectorized), it is the exact sum to float64 rounding, and a NaN or an infinity reaches it."""
    import math

    pytest.importorskip("numba")
    from deepnet.backends.cpu import outputs

    a = np.random.default_rng(2).standard_normal(10_001).astype(dtype)
    got = outputs.total(a)
    assert isinstance(got, float) and got == pytest.approx(math.fsum(a.astype(np.float64)), rel=1e-12, abs=1e-12)
    assert outputs.total(a[:0]) == 0.0 and outputs.total(a[3:4]) == float(a[3])
    for bad in (np.nan, np.inf):
        b = a.copy()
        b[5_000] = bad
        assert np.isnan(outputs.total(b)) if np.isnan(bad) else outputs.total(b) == np.inf


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_threads_weight_gradient_sums_are_added_in_order_and_transposed(dtype):
    """outputs.summed_transpose, which makes a convolution's dW of its threads' dW^T sums (threads, K, O): the
    sums added in thread order, bit for bit as NumPy's additions in that order, then transposed to (O, K); with
    one thread, the transpose alone; odd sizes."""
    pytest.importorskip("numba")
    from deepnet.backends.cpu import outputs

    rng = np.random.default_rng(3)
    for parts, k, o in ((1, 13, 5), (2, 37, 11), (3, 144, 16)):
        sums = rng.standard_normal((parts, k, o)).astype(dtype)
        want = sums[0].copy()
        for part in sums[1:]:
            want += part
        out = np.full((o, k), np.nan, dtype)
        outputs.summed_transpose(sums.copy(), out)
        np.testing.assert_array_equal(out, want.T)
