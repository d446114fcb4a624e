"""Winograd's F(2x2, 3x3) and F(4x4, 3x3) on the CPU (backends/cpu/winograd.py, winograd4.py) against the direct
convolution: forward, the fused ReLU and pooling, the input gradient, float32's error, and the switch that
turns it off. Every test runs with each tile size (the `tile` fixture)."""
import numpy as np
import pytest

from deepnet import backends

pytest.importorskip("numba")
from deepnet.backends.cpu import blas, tuning, winograd, winograd4  # noqa: E402
from deepnet.backends.cpu import kernels as numba_kernels  # noqa: E402
from deepnet.backends.cpu.conv import ChunkedConv  # noqa: E402
from deepnet.backends.cpu.threads import Workers  # noqa: E402

from .conv_cases import data
from .conv_cases import reference as direct

pytestmark = pytest.mark.skipif(blas.addresses() is None, reason="Winograd runs with the one-call chunks only")

SHAPES = [  # (x shape, out channels, pad): odd and even sizes, last tiles cut short, pads 0-3
    ((3, 5, 7, 9), 4, 1),
    ((2, 6, 8, 8), 7, 0),
    ((4, 3, 6, 5), 5, 2),
    ((2, 4, 5, 5), 3, 3),  # pad 3: forward by Winograd, dx by im2col (its pad would be -1)
    ((5, 2, 3, 4), 3, 1),
    ((1, 8, 13, 13), 8, 1),
    ((2, 3, 10, 7), 4, 1),  # F(4x4, 3x3): a last tile row of 2 and a last column of 1
]
#: each tile size's module
MODULES = {2: winograd, 4: winograd4}
#: the gates as the backend ships them (the fixture below changes them for each test)
GATES = {name: getattr(tuning, name) for name in dir(tuning) if name.startswith("WINOGRAD")}


@pytest.fixture(autouse=True, params=[2, 4], ids=["F2", "F4"])
def tile(request, monkeypatch):
    """Small shapes, run as the wide layers run: Winograd from one channel, several chunks, split threads; with
    2x2 output tiles (F(4x4, 3x3) never) or 4x4 (always, the weight gradient by F(3x3, 4x4) too)."""
    never = 1 << 62
    monkeypatch.setattr(tuning, "WINOGRAD4_MIN_CHANNELS", 1 if request.param == 4 else never)
    monkeypatch.setattr(tuning, "WINOGRAD4_DX_MIN_CHANNELS", 1 if request.param == 4 else never)
    monkeypatch.setattr(tuning, "WINOGRAD4_MAX_CHANNELS", never)
    monkeypatch.setattr(tuning, "WINOGRAD4_DW_MIN_CHANNELS", 1 if request.param == 4 else never)
    monkeypatch.setattr(tuning, "WINOGRAD4_DW_MAX_CHANNELS", never)
    monkeypatch.setattr(tuning, "WINOGRAD4_DW_MIN_FILL", 0)
    monkeypatch.setattr(tuning, "WINOGRAD_MIN_CHANNELS", 1)
    monkeypatch.setattr(tuning, "WINOGRAD_DX_MIN_CHANNELS", 1)
    monkeypatch.setattr(tuning, "WINOGRAD_CHUNK_BYTES", 1)
    monkeypatch.setattr(tuning, "WINOGRAD_MIN_TILES", 1)
    monkeypatch.setattr(tuning, "WINOGRAD_THREAD_TILES", 1)
    monkeypatch.setattr(tuning, "WINOGRAD4_THREAD_TILES", 1)
    monkeypatch.setattr(tuning, "SPLIT_WORK", 0)
    return request.param


def chunked(threads=2, on=True):
    return ChunkedConv(Workers(threads), kernels=numba_kernels, blas=blas.addresses(), winograd=on, direct=False)


@pytest.mark.parametrize("shape,o,pad", SHAPES)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_winograd_matches_the_direct_convolution(shape, o, pad, threads, relu, dtype):
    x, w, b, dy = data(shape, o, pad, dtype)
    y_ref, dx_ref, dw_ref, db_ref = direct(x, w, b, pad, dy, relu)
    conv = chunked(threads)
    y = conv.forward(x, w, b, 1, pad, relu=relu)
    dx, dw, db = conv.backward(dy, x, w, 1, pad, relu_out=y if relu else None)
    tol = 1e-12 if dtype == "float64" else 1e-5
    for got, want in ((y, y_ref), (dx, dx_ref), (dw, dw_ref), (db, db_ref)):
        assert got.shape == want.shape and got.dtype == np.dtype(dtype)
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * 10)


@pytest.mark.parametrize("shape,o,pad", SHAPES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_pooled_inference_pass_is_the_pooling_of_the_rectified_convolution(shape, o, pad, dtype):
    x, w, b, dy = data(shape, o, pad, dtype)
    y_ref = direct(x, w, b, pad, dy, relu=True)[0]
    oh, ow = y_ref.shape[2] // 2, y_ref.shape[3] // 2
    want = y_ref[:, :, : 2 * oh, : 2 * ow].reshape(shape[0], o, oh, 2, ow, 2).max(axis=(3, 5))
    got = chunked().forward(x, w, b, 1, pad, relu=True, pool=True)
    tol = 1e-12 if dtype == "float64" else 1e-5
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * 10)


def test_the_wide_layers_take_the_winograd_path_and_the_switch_turns_it_off(monkeypatch, tile):
    calls, other, gradient = [], [], []
    for module in (winograd, winograd4):
        real = module.conv_chunk
        log = calls if module is MODULES[tile] else other
        monkeypatch.setattr(module, "conv_chunk", lambda *a, real=real, log=log: log.append(a[1].shape) or real(*a))
    real_gradient = winograd4.weight_gradient_chunk
    monkeypatch.setattr(winograd4, "weight_gradient_chunk",
                        lambda *a: gradient.append(a[1].shape) or real_gradient(*a))
    x, w, b, dy = data((4, 3, 6, 6), 5, 1, "float32")
    chunked().backward(dy, x, w, 1, 1)
    assert calls, "dx did not run by Winograd"
    assert sum(shape[0] for shape in gradient) == (4 if tile == 4 else 0)  # dW by F(3x3, 4x4): 4x4 tiles only
    calls.clear()
    chunked().forward(x, w, b, 1, 1)
    assert sum(shape[0] for shape in calls) == 4  # every image, in several chunks
    calls.clear()
    off = chunked(on=False)
    off.forward(x, w, b, 1, 1)
    off.backward(dy, x, w, 1, 1)
    chunked().forward(x, w, b, 2, 1)  # stride 2: im2col
    assert calls == []
    prefix = "WINOGRAD4" if tile == 4 else "WINOGRAD"  # F(4x4, 3x3) not taken: F(2x2, 3x3) may be
    monkeypatch.setattr(tuning, f"{prefix}_MIN_CHANNELS", 16)
    chunked().forward(x, w, b, 1, 1)  # 3 x 5 channels: too narrow to gain
    assert calls == []
    monkeypatch.setattr(tuning, f"{prefix}_MIN_CHANNELS", 1)
    monkeypatch.setattr(tuning, f"{prefix}_DX_MIN_CHANNELS", 16)
    monkeypatch.setattr(tuning, "WINOGRAD4_DW_MIN_CHANNELS", 16)  # (dW by F(3x3, 4x4) brings dx by F(4x4, 3x3))
    gradient.clear()
    chunked().backward(dy, x, w, 1, 1)  # the input gradient has a threshold of its own, and so has dW
    assert calls == [] and gradient == []
    monkeypatch.setattr(tuning, f"{prefix}_DX_MIN_CHANNELS", 1)
    monkeypatch.setattr(tuning, "WINOGRAD4_DW_MIN_CHANNELS", 1 if tile == 4 else 1 << 62)
    x3, w3, b3, dy3 = data((4, 3, 6, 6), 5, 3, "float32")
    chunked().backward(dy3, x3, w3, 1, 3)  # pad 3: dx (pad -1) has no Winograd path, so neither has dW
    assert gradient == []
    chunked().backward(dy3, x3, w3, 1, 3, need_dx=False)  # without dx it has
    assert sum(shape[0] for shape in gradient) == (0 if tile == 2 else 4)
    # 4 images of 6x6 outputs: 36 tiles of 2x2 or 16 of 4x4, too few for two threads, enough for one
    monkeypatch.setattr(tuning, f"{prefix}_THREAD_TILES", 19 if tile == 2 else 9)
    chunked(threads=2).forward(x, w, b, 1, 1)
    assert calls == []
    other.clear()  # (with 4x4 tiles not taken, 2x2 tiles were, above)
    chunked(threads=1).forward(x, w, b, 1, 1)
    assert calls and other == []  # only the tile size chosen ran


def test_the_networks_layers_take_the_tile_size_measured_for_them(monkeypatch):
    """With the shipped gates (tuning.py has the measurements): F(4x4, 3x3) forward and F(3x3, 4x4) for dW on
    ResNet-20's and DeepConvNet's 32- and 64-channel layers, F(2x2, 3x3) on AlexNet's, im2col on DeepConvNet's
    16 x 32; the input gradient not by F(4x4, 3x3) alone."""
    for name, value in GATES.items():
        monkeypatch.setattr(tuning, name, value)
    conv = chunked(threads=2)
    address = blas.addresses()[0]
    layers = [  # (C_in, C_out, batch, output height and width, the module expected)
        (32, 32, 64, 16, winograd4), (64, 64, 64, 8, winograd4), (32, 64, 100, 8, winograd4),
        (32, 32, 100, 16, winograd4), (256, 384, 8, 13, winograd), (384, 384, 8, 13, winograd),
        (16, 32, 100, 14, None), (64, 64, 2, 8, None),  # 8 tiles, too few for two threads
        (32, 32, 10, 16, winograd4), (64, 64, 10, 8, None)]  # DeepConvNet at batch 10: 160 tiles, and 40
    for c_in, c_out, n, size, want in layers:
        assert conv._uses_winograd(c_in, c_out, 3, 3, 1, address, n, size, size) is want, (c_in, c_out, n)
    assert conv._uses_winograd(64, 64, 3, 3, 1, address, 64, 8, 8, dx=True) is None
    for c_in, c_out, n, size, want in layers:  # dW by F(3x3, 4x4) where the forward runs F(4x4, 3x3)
        assert conv._uses_winograd_weights(c_in, c_out, 3, 3, 1, address, n, size, size) is (want is winograd4)
    assert conv._uses_winograd(384, 256, 3, 3, 1, address, 8, 13, 13, dx=True) is winograd
    monkeypatch.setattr(tuning, "WINOGRAD4_MAX_CHANNELS", 32 * 32)
    assert conv._uses_winograd(64, 64, 3, 3, 1, address, 64, 8, 8) is winograd


def test_deepnet_winograd_reaches_the_cpu_backend(monkeypatch):
    monkeypatch.setenv("DEEPNET_WINOGRAD", "off")
    assert backends.create("cpu").chunked_conv.winograd is False
    monkeypatch.setenv("DEEPNET_WINOGRAD", "on")
    bk = backends.create("cpu")
    assert bk.chunked_conv.winograd is True and "Winograd" in bk.describe()["kernels"]
    monkeypatch.setenv("DEEPNET_WINOGRAD", "sometimes")
    with pytest.raises(backends.ConfigError, match="DEEPNET_WINOGRAD='sometimes' is not on or off"):
        backends.create("cpu")


def test_float32_error_stays_near_the_direct_products(tile):
    """Against the float64 result, Winograd's float32 error (relative to the largest value) stays within twice
    the im2col product's with 2x2 tiles, forward and dx, and below 2e-6. With 4x4 tiles (transforms with factors
    up to 8, G's weights not exact in binary) it depends on the BLAS's kernels, which sum the 36 products: on
    these shapes, with OpenBLAS's SkylakeX kernels, 4-9x im2col's error forward, 11-20x for dx and 6-11x for dW
    (by F(3x3, 4x4)), 2-4e-6; with its Haswell kernels (an AMD EPYC without AVX-512) 2.6-4.1e-6 (6.5-12x), dx
    4.1-9.1e-6 (20-38x), dW 2.1-2.7e-6 (6-8x), and with its Sandybridge kernels (no FMA) up to 6.4e-6 forward and
    1.2e-5 for dx (47x): bounded at 20x, 60x and 15x, and 1e-5, 2e-5 and 1e-5."""
    factors, ceilings = ((2, 2, 2), (2e-6,) * 3) if tile == 2 else ((20, 60, 15), (1e-5, 2e-5, 1e-5))
    for shape, o, pad in (((2, 96, 12, 12), 128, 1), ((4, 64, 8, 8), 64, 1), ((4, 32, 14, 14), 32, 2),
                          ((4, 32, 16, 16), 32, 1), ((4, 16, 28, 28), 32, 1)):
        x, w, b, dy = data(shape, o, pad, "float32", seed=3)
        y_ref, dx_ref, dw_ref, _ = direct(x, w, b, pad, dy)
        errors = {}
        for on in (False, True):
            conv = chunked(on=on)
            y = conv.forward(x, w, b, 1, pad)
            dx, dw, _ = conv.backward(dy, x, w, 1, pad)
            errors[on] = [np.abs(got - want).max() / np.abs(want).max()
                          for got, want in ((y, y_ref), (dx, dx_ref), (dw, dw_ref))]
        for wino, direct_error, factor, ceiling in zip(errors[True], errors[False], factors, ceilings):
            assert wino <= factor * direct_error + 1e-7 and wino < ceiling, (shape, errors)


def test_the_weight_gradient_without_dx_and_against_numerical_gradients(tile):
    """dW and db (by F(3x3, 4x4) with 4x4 tiles) against central differences of sum(relu(conv(x)) * dy) in
    float64, with dx and without it (a network's first layer), the fused ReLU's mask applied."""
    x, w, b, dy = data((3, 4, 7, 6), 5, 1, "float64", seed=8)
    conv = chunked()

    def loss(w, b):
        return float((conv.forward(x, w, b, 1, 1, relu=True) * dy).sum())

    y = conv.forward(x, w, b, 1, 1, relu=True)
    dx, dw, db = conv.backward(dy, x, w, 1, 1, relu_out=y)
    none, dw_alone, db_alone = conv.backward(dy, x, w, 1, 1, need_dx=False, relu_out=y)
    assert none is None
    np.testing.assert_array_equal(dw_alone, dw)
    np.testing.assert_array_equal(db_alone, db)
    eps = 1e-6
    numeric = np.zeros_like(w)
    for i in np.ndindex(w.shape):
        step = np.zeros_like(w)
        step[i] = eps
        numeric[i] = (loss(w + step, b) - loss(w - step, b)) / (2 * eps)
    np.testing.assert_allclose(dw, numeric, rtol=1e-6, atol=1e-8)
    numeric_b = np.array([(loss(w, b + eps * e) - loss(w, b - eps * e)) / (2 * eps) for e in np.eye(len(b))])
    np.testing.assert_allclose(db, numeric_b, rtol=1e-6, atol=1e-8)


def test_dx_against_numerical_gradients_in_float64():
    """dx by Winograd against central differences of sum(relu(conv(x)) * dy), at every input element."""
    x, w, b, dy = data((2, 3, 5, 6), 4, 1, "float64", seed=4)
    conv = chunked()

    def loss(x):
        return float((conv.forward(x, w, b, 1, 1, relu=True) * dy).sum())

    y = conv.forward(x, w, b, 1, 1, relu=True)
    dx = conv.backward(dy, x, w, 1, 1, relu_out=y)[0]
    numeric = np.zeros_like(x)
    eps = 1e-6
    for i in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[i] = eps
        numeric[i] = (loss(x + step) - loss(x - step)) / (2 * eps)
    np.testing.assert_allclose(dx, numeric, rtol=1e-6, atol=1e-8)


def test_winograd_is_bitwise_repeatable():
    x, w, b, dy = data((9, 6, 10, 10), 7, 1, "float32", seed=5)
    conv = chunked()
    first = conv.forward(x, w, b, 1, 1), *conv.backward(dy, x, w, 1, 1)
    for _ in range(2):
        again = conv.forward(x, w, b, 1, 1), *conv.backward(dy, x, w, 1, 1)
        for a, b_ in zip(first, again):
            np.testing.assert_array_equal(a, b_)


def test_the_weight_transform_is_g_g_gt(tile):
    module = MODULES[tile]
    rng = np.random.default_rng(6)
    w = rng.standard_normal((5, 3, 3, 3))
    u = module.weights(w, np.float64)
    k_n = module.POSITIONS
    ks = u.size // k_n
    want = np.einsum("ai,ocij,bj->aboc", module.G, w, module.G).reshape(k_n, 5 * 3)
    for k in range(k_n):
        np.testing.assert_allclose(u[k * ks : k * ks + 15], want[k], rtol=1e-15, atol=1e-15)
    assert winograd.skewed(1024) * 4 % 4096 == 64  # the blocks fall 64 bytes apart in the cache's sets


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_weight_gradients_back_transform_is_gt_m_g(dtype):
    """winograd4.weights_of, which makes dW of the summed products M (36 blocks of (O, C)): G^T M G for each
    (O, C), against the definition in float64, on non-square channel counts, the result of the dtype asked."""
    rng = np.random.default_rng(8)
    mw = rng.standard_normal((36, 5, 3)).astype(dtype)
    want = np.einsum("ai,aboc,bj->ocij", winograd4.G, mw.astype(np.float64).reshape(6, 6, 5, 3), winograd4.G)
    got = winograd4.weights_of(mw, (5, 3, 3, 3), dtype)
    assert got.dtype == dtype and got.shape == (5, 3, 3, 3) and got.flags.c_contiguous
    np.testing.assert_allclose(got, want.astype(dtype), rtol=1e-6 if dtype == "float32" else 1e-14, atol=1e-14)


def test_f4_transforms_compute_four_outputs_of_a_3_tap_correlation():
    """The matrices winograd4.py's docstring gives (and its loops spell out): A^T [(G g) . (B^T d)] is the
    correlation y_i = sum_k g_k d_(i+k), i = 0..3, in one dimension, exactly up to float64 rounding."""
    rng = np.random.default_rng(7)
    for _ in range(5):
        d, g = rng.standard_normal(6), rng.standard_normal(3)
        want = [d[i : i + 3] @ g for i in range(4)]
        np.testing.assert_allclose(winograd4.A_T @ ((winograd4.G @ g) * (winograd4.B_T @ d)), want, atol=1e-14)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_blas_product_takes_either_operand_transposed(dtype):
    """blas.gemm, which the weight gradient calls with A transposed (D[k]^T V[k]), against NumPy: each operand
    as it is or transposed, c overwritten (beta 0) or added to (beta 1)."""
    rng = np.random.default_rng(9)
    address = blas.addresses()[0 if dtype == "float32" else 1]
    m, k, n = 5, 7, 4
    for trans_a in (False, True):
        for trans_b in (False, True):
            a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
            b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
            want = (a.T if trans_a else a) @ (b.T if trans_b else b)
            c = np.ones((m, n), dtype)
            blas.gemm(address, a, b, c, 1.0, trans_b, trans_a)
            np.testing.assert_allclose(c, 1 + want, rtol=1e-5)
            blas.gemm(address, a, b, c, 0.0, trans_b, trans_a)
            np.testing.assert_allclose(c, want, rtol=1e-5)
