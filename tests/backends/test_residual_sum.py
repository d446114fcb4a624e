"""A residual block's last convolution, its sum with the shortcut and the ReLU after it as one pass in inference
(the backend's conv2d_add_relu; layers/composite.py's Residual with a folded batch norm): on each of the CPU's
paths (the direct convolution, Winograd's two tile sizes, im2col with and without the compiled kernels) against
the reference max(conv2d + residual, 0), and a ResNet's predictions with and without the fusion."""
import gc

import numpy as np
import pytest

from deepnet import backends
from deepnet.backends.base import Backend
from deepnet.layers import composite, runner
from deepnet.models import ResNet

pytest.importorskip("numba")
from deepnet.backends.cpu import blas, direct, tuning, winograd, winograd4  # noqa: E402
from deepnet.backends.cpu import kernels as numba_kernels  # noqa: E402
from deepnet.backends.cpu.conv import ChunkedConv  # noqa: E402
from deepnet.backends.cpu.threads import Workers  # noqa: E402

from .conv_cases import data, reference

NEVER = 1 << 62
#: each path's gates opened for small shapes, the others' closed: (ChunkedConv's options, tuning's values)
PATHS = {
    "direct": (dict(winograd=False, direct=True),
               dict(DIRECT_MAX_CHANNELS=NEVER, DIRECT_DX_MAX_CHANNELS=NEVER, DIRECT_MIN_WIDTH=1)),
    "winograd2": (dict(winograd=True, direct=False), dict(WINOGRAD4_MIN_CHANNELS=NEVER, WINOGRAD_MIN_CHANNELS=1)),
    "winograd4": (dict(winograd=True, direct=False), dict(WINOGRAD4_MIN_CHANNELS=1, WINOGRAD4_MAX_CHANNELS=NEVER)),
    "im2col": (dict(winograd=False, direct=False), {}),
    "im2col-numpy": (dict(winograd=False, direct=False, kernels=None), {}),
}
#: the compiled chunk each path's sum runs in (None: a pass of its own after the convolution)
KERNELS = {"direct": direct, "winograd2": winograd, "winograd4": winograd4, "im2col": None, "im2col-numpy": None}


@pytest.fixture(params=list(PATHS))
def path(request, monkeypatch):
    options, gates = PATHS[request.param]
    for name, value in dict(gates, WINOGRAD_CHUNK_BYTES=1, WINOGRAD_MIN_TILES=1, WINOGRAD_THREAD_TILES=1,
                            WINOGRAD4_THREAD_TILES=1, SPLIT_WORK=0).items():
        monkeypatch.setattr(tuning, name, value)
    added = []
    module = KERNELS[request.param]
    if module is not None:
        real = module.conv_chunk
        at = -2 if module is direct else -1  # the direct chunk's last argument is its counter of claims
        monkeypatch.setattr(module, "conv_chunk", lambda *a, real=real: added.append(a[at]) or real(*a))
    kernels = options.pop("kernels", numba_kernels)
    if kernels is not None and blas.addresses() is None and request.param.startswith("winograd"):
        pytest.skip("Winograd runs with the one-call chunks only")
    conv = ChunkedConv(Workers(2), kernels=kernels, blas=blas.addresses(), **options)
    return request.param, conv, added


@pytest.mark.parametrize("shape,o,pad", [((3, 5, 7, 9), 4, 1), ((2, 6, 8, 8), 7, 0), ((1, 8, 13, 13), 9, 1),
                                         ((2, 3, 10, 7), 4, 2)])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_sum_and_relu_in_the_output_pass_match_the_reference(path, shape, o, pad, dtype):
    name, conv, added = path
    x, w, b, res = data(shape, o, pad, dtype)
    res[0, 0, 0, 0] = np.nan  # a NaN in the shortcut passes the ReLU, as the layers one by one let it
    want = np.maximum(reference(x, w, b, pad, res)[0] + res.astype(np.float64), 0)
    got = conv.forward(x, w, b, 1, pad, residual=res)
    tol = 1e-12 if dtype == "float64" else 1e-5
    assert got.shape == want.shape and got.dtype == np.dtype(dtype)
    assert np.isnan(got[0, 0, 0, 0])
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * 10)
    # the path's own chunk added it (its last argument, `added`), or a pass after im2col's
    assert added == ([] if KERNELS[name] is None else [True] * len(added)) and (KERNELS[name] is None or added)
    plain = conv.forward(x, w, b, 1, pad)  # and the flag does not stay on for the next call
    np.testing.assert_allclose(plain, reference(x, w, b, pad, res)[0], rtol=tol, atol=tol * 10)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_backend_checks_the_residual_first_and_matches_the_reference_backend(dtype):
    x, w, b, res = data((2, 4, 9, 9), 6, 1, dtype)
    bk = backends.create("cpu", dtype=dtype)
    want = Backend.conv2d_add_relu(backends.create("cpu-reference", dtype=dtype), x, w, b, res, 1, 1)
    np.testing.assert_allclose(bk.conv2d_add_relu(x, w, b, res, 1, 1), want, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"gives \(2, 6, 9, 9\) but the residual is \(2, 6, 8, 9\)"):
        bk.conv2d_add_relu(x, w, b, res[:, :, 1:], 1, 1)


def test_a_resnet_predicts_the_same_with_the_sum_in_the_convolution(monkeypatch):
    """ResNet-8 on 32x32 images (two threads): the first stage's blocks end in the direct convolution, the
    second's in F(4x4, 3x3), the third's in im2col (too few tiles); the fused blocks predict what the blocks with
    their own sum do, and a backward after the fused pass is refused."""
    fused = []
    real = Backend.conv2d_add_relu
    with backends.use("cpu", dtype="float32") as bk:
        monkeypatch.setattr(type(bk), "conv2d_add_relu",
                            lambda self, *a, **k: fused.append(a[0].shape[1]) or real(self, *a, **k))
        bk.rng.seed(0)
        model = ResNet(8, input_shape=(3, 32, 32), num_classes=5)
        rng = np.random.default_rng(1)
        state = model.state_numpy()
        for k, a in state.items():  # statistics far from the identity, as after training
            if k.endswith("running_mean") or k.endswith("beta"):
                state[k] = rng.normal(0, 0.3, a.shape).astype(a.dtype)
            elif k.endswith("running_var") or k.endswith("gamma"):
                state[k] = rng.uniform(0.5, 2.0, a.shape).astype(a.dtype)
        model.load_state(state)
        x = bk.to_device(rng.standard_normal((8, 3, 32, 32)).astype(np.float32))
        got = model.predict(x)
        assert fused == [16, 32, 64]  # each block's last convolution, by its input channels
        with pytest.raises(RuntimeError, match="before"):
            runner.backward(list(model.layers.values()), bk.xp.ones((8, 5), dtype=np.float32))
        monkeypatch.setattr(composite.Residual, "_forward_folded", None)  # would raise if called
        model.fuse = False
        want = model.predict(x)
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5 * np.abs(want).max())


@pytest.mark.gpu
def test_conv2d_add_relu_on_the_gpu_agrees_with_numpy(gpu):
    x, w, b, res = data((2, 4, 9, 9), 6, 1, "float64")
    want = Backend.conv2d_add_relu(backends.create("cpu-reference", dtype="float64"), x, w, b, res, 1, 1)
    got = gpu.to_numpy(gpu.conv2d_add_relu(*(gpu.to_device(a) for a in (x, w, b, res)), 1, 1))
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_folded_weights_are_kept_while_the_parameters_stay_and_made_again_when_they_change(monkeypatch):
    """Inference keeps a convolution's folded weights (Backend.derived) and their Winograd transform
    (ChunkedConv.transformed) between calls; any parameter or statistic changed in place, as an optimizer or
    load_state changes them, brings a new fold, and the predictions stay those of the layers one by one."""
    made = []
    real = winograd4.weights
    monkeypatch.setattr(winograd4, "weights", lambda *a: made.append(a[0].shape) or real(*a))
    monkeypatch.setattr(tuning, "WINOGRAD4_THREAD_TILES", 1)
    monkeypatch.setattr(tuning, "DIRECT_MAX_CHANNELS", 16 * 16)  # the wider layers' forward by F(4x4, 3x3)
    with backends.use("cpu", dtype="float32") as bk:
        bk.rng.seed(0)
        model = ResNet(8, input_shape=(3, 16, 16), num_classes=5)
        x = bk.to_device(np.random.default_rng(1).standard_normal((4, 3, 16, 16)).astype(np.float32))

        def plain():
            model.fuse = False
            try:
                return model.predict(x)
            finally:
                model.fuse = True

        first = model.predict(x)
        transforms = len(made)
        assert transforms > 0  # the 32- and 64-channel layers run by F(4x4, 3x3)
        np.testing.assert_array_equal(model.predict(x), first)
        assert len(made) == transforms  # kept: nothing folded or transformed again
        block = [layer for layer in model.layers.values() if hasattr(layer, "branch")][-1]
        conv, bn = block.branch[-2:]
        for change in (lambda: conv.W.__imul__(1.5), lambda: bn.running_var.__iadd__(0.5),
                       lambda: bn.beta.__isub__(0.25)):
            change()
            got = model.predict(x)
            assert len(made) > transforms
            transforms = len(made)
            np.testing.assert_allclose(got, plain(), rtol=2e-5, atol=2e-5)
            assert not np.allclose(got, first, rtol=1e-3)
            first = got


def test_derived_values_are_read_only_and_a_nan_is_never_equal():
    bk = backends.create("cpu", dtype="float64")
    a = np.arange(6.0)
    store, calls = {}, []

    def make():
        calls.append(1)
        return (a * 2,)

    (kept,) = bk.derived(store, (a,), make)
    assert bk.derived(store, (a,), make)[0] is kept and len(calls) == 1
    assert not kept.flags.writeable
    with pytest.raises(ValueError):
        kept[0] = 1.0
    a[3] = np.nan  # a NaN differs from itself: made again each time, never a stale value
    bk.derived(store, (a,), make)
    bk.derived(store, (a,), make)
    assert len(calls) == 3
    assert bk.derived(store, (a.astype(np.float32),), make) is not None and len(calls) == 4  # another dtype
    half = np.arange(4, dtype=np.float16)  # compared by NumPy (no compiled float16)
    bk.derived(store, (half,), make)
    bk.derived(store, (half,), make)
    assert len(calls) == 5


def test_the_transformed_weights_are_kept_for_read_only_weights_only_and_within_the_budget(monkeypatch):
    conv = ChunkedConv(Workers(1), kernels=numba_kernels, blas=blas.addresses())
    w = np.random.default_rng(0).standard_normal((8, 8, 3, 3)).astype(np.float32)
    assert conv.transformed(winograd4, w, np.float32) is not conv.transformed(winograd4, w, np.float32)
    frozen = w.copy()
    frozen.flags.writeable = False
    u = conv.transformed(winograd4, frozen, np.float32)
    assert conv.transformed(winograd4, frozen, np.float32) is u
    blocks = winograd4.POSITIONS, -1  # 36 blocks of (O, C), each skewed() apart (the gaps are never read)
    want = winograd4.weights(w, np.float32).reshape(blocks)[:, : 8 * 8]
    np.testing.assert_array_equal(u.reshape(blocks)[:, : 8 * 8], want)
    view = frozen[:4]  # read-only but not its own data: its base could be written through another view
    assert conv.transformed(winograd4, view, np.float32) is not conv.transformed(winograd4, view, np.float32)
    monkeypatch.setattr(tuning, "TRANSFORMED_WEIGHTS_BYTES", u.nbytes)  # room for one: the oldest goes
    other = frozen.copy()
    other.flags.writeable = False
    conv.transformed(winograd4, other, np.float32)
    assert conv.transformed(winograd4, frozen, np.float32) is not u
    assert len(conv._transforms) == 1
    del frozen, view  # weights no longer alive: their transform goes with them (no stale copies kept)
    gc.collect()
    assert conv._transforms == {}


def test_inference_keeps_the_weights_and_their_transform_until_a_training_step_changes_them(monkeypatch):
    """DeepConvNet's predictions keep each layer's weights (a read-only copy) and their Winograd transform between
    calls; an Adam step changes the weights in place, and the next predictions are those of a fresh model with
    the stepped weights."""
    from deepnet import models
    from deepnet.optimizers import Adam

    made = []
    for module in (winograd, winograd4):
        real = module.weights
        monkeypatch.setattr(module, "weights", lambda *a, real=real: made.append(a[0].shape) or real(*a))
    monkeypatch.setattr(tuning, "WINOGRAD4_THREAD_TILES", 1)
    monkeypatch.setattr(tuning, "DIRECT_MAX_CHANNELS", 16 * 16)  # the wider layers' forward by F(4x4, 3x3)
    rng = np.random.default_rng(3)
    x = rng.random((4, 1, 28, 28)).astype(np.float32)
    with backends.use("cpu", dtype="float32") as bk:
        bk.rng.seed(0)
        model = models.create("deepconvnet", dtype="float32")
        first = model.predict(x)
        transforms = len(made)
        assert transforms == 3  # the 32- and 64-channel 3x3 layers by F(4x4, 3x3)
        np.testing.assert_array_equal(model.predict(x), first)
        assert len(made) == transforms
        model.train_step(x, np.arange(4) % 10, Adam(lr=0.01))  # (its own transforms: forward, dx)
        before = len(made)
        stepped = model.predict(x)
        assert len(made) == before + transforms and not np.allclose(stepped, first, rtol=1e-3)
        bk.rng.seed(0)
        fresh = models.create("deepconvnet", dtype="float32")
        fresh.load_state(model.state_numpy())
        np.testing.assert_array_equal(fresh.predict(x), stepped)


@pytest.mark.parametrize("shape", [(3, 4), (64, 16, 32, 32)])  # one thread, and split among the threads
def test_add_into_sums_in_place_and_a_block_backward_leaves_its_gradient_alone(shape):
    bk = backends.create("cpu", dtype="float32")
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(shape).astype(np.float32), rng.standard_normal(shape).astype(np.float32)
    want = a + b
    got = bk.add_into(a, b)
    assert got is a
    np.testing.assert_array_equal(a, want)
    with backends.use(bk):
        bk.rng.seed(0)
        model = ResNet(8, input_shape=(3, 8, 8), num_classes=5)
        block = next(layer for layer in model.layers.values() if hasattr(layer, "branch"))  # an identity shortcut
        x = rng.standard_normal((2, 16, 8, 8)).astype(np.float32)
        block.forward(x, train=True)
        dout = rng.standard_normal((2, 16, 8, 8)).astype(np.float32)
        kept = dout.copy()
        dx = block.backward(dout)
        np.testing.assert_array_equal(dout, kept)  # the sum went into the branch's own dx, not into dout
        assert dx is not dout and not np.shares_memory(dx, dout)
