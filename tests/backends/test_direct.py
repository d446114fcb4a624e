"""The direct 3x3 convolution on the CPU (backends/cpu/direct.py) against the reference convolution in float64:
forward with the fused ReLU and pooling, the weight and input gradients, float32's error, when it is used,
and the switch that turns it off."""
import numpy as np
import pytest

from deepnet import backends

pytest.importorskip("numba")
from deepnet.backends.cpu import blas, direct, tuning  # noqa: E402
from deepnet.backends.cpu import kernels as numba_kernels  # noqa: E402
from deepnet.backends.cpu.conv import ChunkedConv  # noqa: E402
from deepnet.backends.cpu.threads import Workers  # noqa: E402

from .conv_cases import data, reference

SHAPES = [  # (x shape, out channels, pad): odd and even sizes, non-square, output channels not a multiple of 4
    ((3, 5, 7, 9), 4, 1),
    ((2, 6, 8, 8), 7, 0),
    ((4, 3, 6, 5), 5, 2),
    ((5, 2, 3, 4), 3, 1),
    ((1, 8, 13, 13), 9, 1),
    ((2, 1, 5, 6), 1, 1),
    ((2, 4, 5, 5), 3, 3),  # pad 3: forward and dW direct, dx by im2col (its pad would be -1)
]


#: the gates as the backend ships them (the fixture below opens them for the small shapes)
GATES = {name: getattr(tuning, name) for name in ("DIRECT_MAX_CHANNELS", "DIRECT_DX_MAX_CHANNELS", "DIRECT_MIN_WIDTH",
                                                  "DIRECT_DW_MAX_CHANNELS", "DIRECT_DW_MIN_WIDTH")}


@pytest.fixture(autouse=True)
def direct_everywhere(monkeypatch):
    """Small shapes, run as the narrow wide-image layers run: the direct path at any width, threads split from
    the smallest pass."""
    for name in ("DIRECT_MAX_CHANNELS", "DIRECT_DX_MAX_CHANNELS", "DIRECT_DW_MAX_CHANNELS"):
        monkeypatch.setattr(tuning, name, 1 << 20)
    monkeypatch.setattr(tuning, "DIRECT_MIN_WIDTH", 1)
    monkeypatch.setattr(tuning, "DIRECT_DW_MIN_WIDTH", 1)
    monkeypatch.setattr(tuning, "SPLIT_WORK", 0)


def chunked(threads=2, on=True):
    return ChunkedConv(Workers(threads), kernels=numba_kernels, blas=blas.addresses(), winograd=False, direct=on)


@pytest.mark.parametrize("shape,o,pad", SHAPES)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_direct_matches_the_reference_convolution(shape, o, pad, threads, relu, dtype):
    x, w, b, dy = data(shape, o, pad, dtype)
    y_ref, dx_ref, dw_ref, db_ref = reference(x, w, b, pad, dy, relu)
    conv = chunked(threads)
    y = conv.forward(x, w, b, 1, pad, relu=relu)
    dx, dw, db = conv.backward(dy, x, w, 1, pad, relu_out=y if relu else None)
    tol = 1e-12 if dtype == "float64" else 1e-5
    for got, want in ((y, y_ref), (dx, dx_ref), (dw, dw_ref), (db, db_ref)):
        assert got.shape == want.shape and got.dtype == np.dtype(dtype)
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * 10)
    _, dw_only, db_only = conv.backward(dy, x, w, 1, pad, need_dx=False, relu_out=y if relu else None)
    for got, want in ((dw_only, dw_ref), (db_only, db_ref)):  # a first layer's backward, without dx
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * 10)


needs_pooling = pytest.mark.skipif(blas.addresses() is None, reason="the pooled pass runs with the one-call chunks")


@needs_pooling
@pytest.mark.parametrize("shape,o,pad", SHAPES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_pooled_inference_pass_is_the_pooling_of_the_rectified_convolution(shape, o, pad, dtype):
    x, w, b, dy = data(shape, o, pad, dtype)
    y_ref = reference(x, w, b, pad, dy, relu=True)[0]
    oh, ow = y_ref.shape[2] // 2, y_ref.shape[3] // 2
    want = y_ref[:, :, : 2 * oh, : 2 * ow].reshape(shape[0], o, oh, 2, ow, 2).max(axis=(3, 5))
    got = chunked().forward(x, w, b, 1, pad, relu=True, pool=True)
    tol = 1e-12 if dtype == "float64" else 1e-5
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * 10)


@needs_pooling
def test_a_nan_passes_the_fused_relu_as_in_the_layers():
    x, w, b, _ = data((2, 3, 6, 6), 4, 1, "float32")
    x[0, 1, 2, 3] = np.nan
    y = chunked().forward(x, w, b, 1, 1, relu=True)
    pooled = chunked().forward(x, w, b, 1, 1, relu=True, pool=True)
    assert np.isnan(y[0]).any() and not np.isnan(y[1]).any()
    assert np.isnan(pooled[0]).any() and not np.isnan(pooled[1]).any()


def test_gradients_against_numerical_gradients_in_float64():
    """dx and dW by the direct path against central differences of sum(relu(conv(x)) * dy)."""
    x, w, b, dy = data((2, 3, 5, 6), 5, 1, "float64", seed=4)
    conv = chunked()
    y = conv.forward(x, w, b, 1, 1, relu=True)
    dx, dw, db = conv.backward(dy, x, w, 1, 1, relu_out=y)
    eps = 1e-6
    for array, grad, loss in (
            (x, dx, lambda v: float((conv.forward(v, w, b, 1, 1, relu=True) * dy).sum())),
            (w, dw, lambda v: float((conv.forward(x, v, b, 1, 1, relu=True) * dy).sum())),
            (b, db, lambda v: float((conv.forward(x, w, v, 1, 1, relu=True) * dy).sum()))):
        numeric = np.zeros_like(array)
        for i in np.ndindex(array.shape):
            step = np.zeros_like(array)
            step[i] = eps
            numeric[i] = (loss(array + step) - loss(array - step)) / (2 * eps)
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


def test_float32_error_stays_near_the_im2col_products():
    """Against the float64 result, the direct path's float32 error (relative to the largest value) stays within
    four times im2col's and below 1e-6, on ResNet-20's and DeepConvNet's narrow layers: forward, dx and dW. (dx
    sums its 9 C_out terms in one chain, where im2col sums 9 products of C_out terms: measured 3.7x im2col's
    error, 5e-7, on 16 x 16 channels.)"""
    for shape, o, pad in (((4, 16, 32, 32), 16, 1), ((4, 3, 32, 32), 16, 1), ((4, 16, 28, 28), 16, 1)):
        x, w, b, dy = data(shape, o, pad, "float32", seed=3)
        want = reference(x, w, b, pad, dy)[:3]
        errors = {}
        for on in (False, True):
            conv = chunked(on=on)
            got = conv.forward(x, w, b, 1, pad), *conv.backward(dy, x, w, 1, pad)[:2]
            errors[on] = [np.abs(g - r).max() / np.abs(r).max() for g, r in zip(got, want)]
        for error, im2col_error in zip(errors[True], errors[False]):
            assert error <= 4 * im2col_error + 1e-7 and error < 1e-6, (shape, errors)


def test_direct_is_bitwise_repeatable():
    x, w, b, dy = data((9, 6, 10, 10), 7, 1, "float32", seed=5)
    conv = chunked()
    first = conv.forward(x, w, b, 1, 1), *conv.backward(dy, x, w, 1, 1)
    for _ in range(2):
        again = conv.forward(x, w, b, 1, 1), *conv.backward(dy, x, w, 1, 1)
        for a, b_ in zip(first, again):
            np.testing.assert_array_equal(a, b_)


@pytest.mark.parametrize("dw_path", ["direct", "winograd4"])
def test_backward_runs_dw_then_the_claimed_dx_in_one_task_with_the_separate_passes_bits(monkeypatch, dw_path):
    """Where dW needs no patches (direct.weight_chunk, or F(3x3, 4x4)) and dx goes by the direct convolution, one
    task of the threads does both: each thread its share of dW, then the dx images it claims. The results are
    the bits of the two passes run one after the other, dx also the bits of one thread alone."""
    from deepnet.backends.cpu import threads as threads_module

    x, w, b, dy = data((12, 8, 12, 12), 8, 1, "float32", seed=4)
    y = np.maximum(dy, 0)
    conv = ChunkedConv(Workers(2), kernels=numba_kernels, blas=blas.addresses(), winograd=dw_path == "winograd4")
    monkeypatch.setattr(tuning, "SPLIT_WORK", 1)
    if dw_path == "winograd4":
        monkeypatch.setattr(tuning, "WINOGRAD4_DW_MIN_CHANNELS", 1)
        monkeypatch.setattr(tuning, "WINOGRAD4_THREAD_TILES", 1)
    else:
        monkeypatch.setattr(tuning, "DIRECT_DW_MIN_WIDTH", 1)
    tasks = []
    real_run = threads_module.Workers.run
    monkeypatch.setattr(threads_module.Workers, "run", lambda self, *a: tasks.append(1) or real_run(self, *a))
    weights = conv._winograd_weights if dw_path == "winograd4" else conv._direct_weights
    address = blas.addresses()[0]
    for _ in range(3):
        tasks.clear()
        dx, dw, db = conv.backward(dy, x, w, 1, 1, relu_out=y)
        assert len(tasks) == 1
        apart = np.full_like(x, np.nan)
        conv._input_gradient(dy, w, y, 1, address, True, None, apart)
        dw_apart, db_apart = (weights(address, dy, x, y, 1, w.shape) if dw_path == "winograd4"
                              else weights(dy, x, y, 1, w.shape))
        np.testing.assert_array_equal(dx, apart)
        np.testing.assert_array_equal(dw, dw_apart)
        np.testing.assert_array_equal(db, db_apart)
    alone = ChunkedConv(Workers(1), kernels=numba_kernels, blas=blas.addresses(), winograd=dw_path == "winograd4")
    np.testing.assert_array_equal(alone.backward(dy, x, w, 1, 1, relu_out=y)[0], dx)


def test_threads_that_share_the_claims_compute_each_image_once_and_the_same_bits():
    """conv_chunk on two threads at once over one batch and one counter: every image computed by one of them, as
    one thread alone computes it; a counter already past the batch computes nothing."""
    import threading

    x, w, b, _ = data((13, 5, 9, 9), 6, 1, "float32", seed=3)
    mask = np.maximum(x, 0)

    def run(y, claims, threads):
        def one():
            bufs = {}
            xpad, acc = direct.scratch(lambda k, size, dt: bufs.setdefault(k, np.empty(size, dt)), 5, 6, 9, 9, 1,
                                       x.dtype)
            direct.conv_chunk(x, mask, True, w, b, 1, True, False, xpad, acc, y, y, False, claims)
        started = [threading.Thread(target=one) for _ in range(threads)]
        for t in started:
            t.start()
        for t in started:
            t.join()
        return y

    alone = run(np.full((13, 6, 9, 9), np.nan, np.float32), np.zeros(1, np.int64), 1)
    assert not np.isnan(alone).any()
    for _ in range(5):
        claims = np.zeros(1, np.int64)
        shared = run(np.full_like(alone, np.nan), claims, 2)
        np.testing.assert_array_equal(shared, alone)
        assert claims[0] == 13 + 2  # each thread's last claim found the batch done
    untouched = run(np.full_like(alone, np.nan), np.array([13], np.int64), 2)
    assert np.isnan(untouched).all()


def test_each_claim_goes_to_exactly_one_thread():
    """Two threads claim from one counter at the same moment (both wait, compiled, for one flag): every number
    below n goes to exactly one of them. (With a plain read and write in place of the atomic addition, 5 of 5
    runs gave numbers to both.)"""
    import threading
    import time

    import numba

    from deepnet.backends.cpu.spin import claim, spin_while_equal

    @numba.njit(nogil=True)
    def take(go, claims, mine):
        spin_while_equal(go, 0, 0, 1 << 40)
        while True:
            i = claim(claims)
            if i >= mine.size:
                return
            mine[i] = True

    n = 2_000_000
    go, claims = np.zeros(1, np.int64), np.zeros(1, np.int64)
    taken = [np.zeros(n, np.bool_) for _ in range(2)]
    take(np.ones(1, np.int64), np.zeros(1, np.int64), np.zeros(1, np.bool_))  # compiled before the threads start
    started = [threading.Thread(target=take, args=(go, claims, mine)) for mine in taken]
    for t in started:
        t.start()
    time.sleep(0.05)
    go[0] = 1
    for t in started:
        t.join()
    assert not (taken[0] & taken[1]).any() and (taken[0] | taken[1]).all()
    assert taken[0].any() and taken[1].any()  # both took part
    assert claims[0] == n + 2


def test_the_narrow_wide_layers_take_the_direct_path_and_the_switch_turns_it_off(monkeypatch):
    calls = []
    for name in ("conv_chunk", "weight_chunk"):
        real = getattr(direct, name)
        monkeypatch.setattr(direct, name, lambda *a, real=real, name=name: calls.append(name) or real(*a))
    x, w, b, dy = data((4, 3, 6, 6), 5, 1, "float32")
    conv = chunked()
    conv.forward(x, w, b, 1, 1)
    conv.backward(dy, x, w, 1, 1)
    # two threads each: forward; then backward's one task, each thread its share of dW, then dx's images it claims
    assert calls[:2] == ["conv_chunk"] * 2 and sorted(calls[2:]) == ["conv_chunk"] * 2 + ["weight_chunk"] * 2
    calls.clear()
    off = chunked(on=False)
    off.forward(x, w, b, 1, 1)
    off.backward(dy, x, w, 1, 1)
    conv.forward(x, w, b, 2, 1)  # stride 2: im2col
    conv.forward(x, np.ones((5, 3, 5, 5), np.float32), b, 1, 1)  # 5x5: im2col
    assert calls == []
    monkeypatch.setattr(tuning, "DIRECT_MAX_CHANNELS", 14)  # 3 x 5 channels: too wide
    conv.forward(x, w, b, 1, 1)
    monkeypatch.setattr(tuning, "DIRECT_MAX_CHANNELS", 15)
    monkeypatch.setattr(tuning, "DIRECT_MIN_WIDTH", 7)  # 6 outputs a row: too narrow
    conv.forward(x, w, b, 1, 1)
    monkeypatch.setattr(tuning, "DIRECT_MIN_WIDTH", 6)
    monkeypatch.setattr(tuning, "DIRECT_DW_MAX_CHANNELS", 14)  # the weight gradient too wide: dW and dx by im2col
    conv.backward(dy, x, w, 1, 1)
    assert calls == []
    monkeypatch.setattr(tuning, "DIRECT_DW_MAX_CHANNELS", 15)
    monkeypatch.setattr(tuning, "DIRECT_DX_MAX_CHANNELS", 14)  # dx too wide: dW direct, dx by im2col
    conv.backward(dy, x, w, 1, 1)
    assert calls == []  # im2col makes dW on its way to dx
    monkeypatch.setattr(tuning, "DIRECT_DX_MAX_CHANNELS", 15)
    x, w, b, dy = data((4, 3, 6, 6), 5, 3, "float32")
    conv.backward(dy, x, w, 1, 3)  # pad 3: dx by im2col, which makes dW on the way
    assert calls == []
    conv.backward(dy, x, w, 1, 3, need_dx=False)  # without dx, dW direct
    assert calls == ["weight_chunk"] * 2


def test_the_default_gates(monkeypatch):
    """The forward of every 3x3 stride-1 layer of ResNet-20 and DeepConvNet; dx up to 32 x 64 channels; dW on
    the 16-channel layers of wide images only."""
    for name, value in GATES.items():
        monkeypatch.setattr(tuning, name, value)
    conv = ChunkedConv(Workers(2), kernels=numba_kernels)
    x = np.zeros((2, 16, 32, 32), np.float32)
    for c, o, width in ((3, 16, 32), (16, 16, 32), (32, 32, 16), (64, 64, 8), (1, 16, 28), (16, 16, 28), (16, 32, 14),
                        (32, 64, 7), (64, 64, 7)):
        assert conv._uses_direct("forward", c, o, 3, 3, 1, width, x)
    assert not conv._uses_direct("forward", 128, 64, 3, 3, 1, 8, x)  # wider: Winograd or im2col
    assert not conv._uses_direct("forward", 16, 16, 3, 3, 2, 16, x)  # stride 2
    assert conv._uses_direct("dx", 32, 64, 3, 3, 1, 7, x)
    assert not conv._uses_direct("dx", 64, 64, 3, 3, 1, 8, x)  # F(4x4, 3x3) was faster
    assert conv._uses_direct("dw", 16, 16, 3, 3, 1, 32, x)  # ResNet-20's first stage
    assert conv._uses_direct("dw", 3, 16, 3, 3, 1, 32, x)  # its first layer
    assert conv._uses_direct("dw", 16, 16, 3, 3, 1, 28, x)  # DeepConvNet's second layer
    assert not conv._uses_direct("dw", 32, 32, 3, 3, 1, 16, x)  # ResNet-20's second stage
    assert not conv._uses_direct("dw", 16, 32, 3, 3, 1, 14, x)  # DeepConvNet's third layer


@pytest.mark.parametrize("sums,path", [(8, "winograd4"), (16, "direct")])
def test_with_eight_sums_a_block_the_widest_forward_passes_go_to_f4_where_it_applies(monkeypatch, sums, path):
    """With 16 vector registers (8 sums a direct block) F(4x4, 3x3) runs a 64 x 64-channel forward pass it has
    tiles enough for; the direct convolution keeps it with 32 registers, and keeps 32 x 64 channels either way,
    and the layers where Winograd has too few tiles. The result is the reference's either way."""
    from deepnet.backends.cpu import direct_block, winograd, winograd4

    for name, value in GATES.items():
        monkeypatch.setattr(tuning, name, value)
    monkeypatch.setattr(direct_block, "SUMS", sums)
    calls = []
    for module, name in ((direct, "conv_chunk"), (winograd4, "conv_chunk")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, real=real, module=module: calls.append(module) or real(*a))
    conv = ChunkedConv(Workers(2), kernels=numba_kernels, blas=blas.addresses())
    assert conv._winograd_first(winograd4, 64 * 64) == (sums == 8)
    assert not conv._winograd_first(winograd4, 32 * 64)
    assert not conv._winograd_first(winograd, 64 * 64) and not conv._winograd_first(None, 64 * 64)
    x, w, b, _ = data((32, 64, 8, 8), 64, 1, "float32")  # 4 tiles an image, 128 a batch: F(4x4, 3x3)'s least
    y = conv.forward(x, w, b, 1, 1, relu=True)
    assert set(calls) == {winograd4 if path == "winograd4" else direct}
    np.testing.assert_allclose(y, reference(x, w, b, 1, np.zeros_like(y), True)[0], rtol=1e-4, atol=1e-4)
    calls.clear()
    conv.forward(x[:4], w, b, 1, 1)  # 16 tiles: too few for F(4x4, 3x3)
    assert set(calls) == {direct}


def test_deepnet_direct_reaches_the_cpu_backend(monkeypatch):
    monkeypatch.setenv("DEEPNET_DIRECT", "off")
    assert backends.create("cpu").chunked_conv.direct is False
    monkeypatch.setenv("DEEPNET_DIRECT", "on")
    bk = backends.create("cpu")
    assert bk.chunked_conv.direct is True and "direct 3x3" in bk.describe()["kernels"]
    monkeypatch.setenv("DEEPNET_DIRECT", "sometimes")
    with pytest.raises(backends.ConfigError, match="DEEPNET_DIRECT='sometimes' is not on or off"):
        backends.create("cpu")


def test_every_remainder_of_a_step():
    """The blocks run whole steps of positions (direct_block.step), then the vectors left one block at a time:
    widths that leave each count of vectors, float64 and float32, five output channels (a block of four and one
    left over), against the reference."""
    from deepnet.backends.cpu import direct_block

    for dtype in ("float64", "float32"):
        itemsize = np.dtype(dtype).itemsize
        lanes, step = direct_block.lanes(itemsize), direct_block.step(itemsize)
        seen = set()
        for width in range(1, 2 * step + 3):
            span = 2 * (width + 2) + width  # three rows, padded by 1
            seen.add(-(-(span % step) // lanes))
            x, w, b, dy = data((2, 3, 3, width), 5, 1, dtype, seed=width)
            y_ref = reference(x, w, b, 1, dy, False)[0]
            y = chunked(1).forward(x, w, b, 1, 1)
            tol = 1e-12 if dtype == "float64" else 1e-5
            np.testing.assert_allclose(y, y_ref, rtol=tol, atol=tol * 10, err_msg=f"{dtype} width {width}")
        assert seen == set(range(direct_block.QB + 1)), seen  # every count of vectors left, 0 to a whole step


def test_a_nan_in_the_next_plane_stays_out_of_the_weight_gradient():
    """The gradient block reads the vector past each plane's last position from the next plane (8 x 8 images:
    fewer values a padded row than a vector's lanes); those lanes count as zero, so a NaN in one input channel
    reaches only its own weights' gradient. (Within that channel it reaches a tap or two more than in the
    reference: the zeros of dy past each row meet it, 0 NaN being NaN, as in the loops before the block.)"""
    for dtype in ("float64", "float32"):
        x, w, b, dy = data((2, 3, 8, 8), 5, 1, dtype, seed=4)
        x[0, 1, 0, 0] = np.nan
        want = reference(x, w, b, 1, dy, False)[2]
        _, got, _ = chunked(1).backward(dy, x, w, 1, 1, need_dx=False)
        assert np.isnan(want[:, 1]).any() and not np.isnan(want[:, [0, 2]]).any()
        assert np.isnan(got[:, 1][np.isnan(want[:, 1])]).all()
        tol = 1e-12 if dtype == "float64" else 1e-5
        np.testing.assert_allclose(got[:, [0, 2]], want[:, [0, 2]], rtol=tol, atol=tol * 10)


@pytest.mark.parametrize("ob,taprows", [(1, 3), (2, 3), (3, 1)])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_each_shape_of_gradient_block_adds_its_sums(ob, taprows, dtype):
    """Each weight-gradient block the backend may choose (2 x 9 sums with 32 vector registers, 3 x 3 with 16, and
    1 x 9 for the channels left over), whichever this processor uses, against the sums in NumPy: spans of every
    remainder of a vector, a NaN past the span kept out, dw added to."""
    import numba

    from deepnet.backends.cpu import direct_block

    block = direct_block._gradient_block(ob, taprows)

    @numba.njit
    def run(x, xoff, wp, dy, dyoff, dystride, span, dw, dwoff, dwstride):
        block(x, xoff, wp, dy, dyoff, dystride, span, dw, dwoff, dwstride)

    rng = np.random.default_rng(ob * 10 + taprows)
    lanes = direct_block.lanes(np.dtype(dtype).itemsize)
    wp, xoff, dyoff, dystride, dwoff, dwstride = 11, 3, 2, 40, 1, 20
    for span in range(1, 3 * lanes + 2):
        x = rng.standard_normal(xoff + 2 * wp + 2 + span + lanes).astype(dtype)
        x[xoff + 2 * wp + 2 + span :] = np.nan  # past the last tap's span: must count as zero
        dy = rng.standard_normal(dyoff + (ob - 1) * dystride + span + lanes).astype(dtype)
        dw = rng.standard_normal(dwoff + ob * dwstride).astype(dtype)
        want = dw.copy()
        for k in range(ob):
            d = dy[dyoff + k * dystride : dyoff + k * dystride + span].astype(np.float64)
            for i in range(taprows):
                for j in range(3):
                    want[dwoff + k * dwstride + 3 * i + j] += d @ x[xoff + i * wp + j : xoff + i * wp + j + span]
        run(x, xoff, wp, dy, dyoff, dystride, span, dw, dwoff, dwstride)
        tol = 1e-12 if dtype == "float64" else 1e-5
        np.testing.assert_allclose(dw, want, rtol=tol, atol=tol * 10, err_msg=f"span {span}")
