import time

import numpy as np
import pytest

from deepnet import backends


def test_to_device_and_back_round_trips(cpu32):
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    d = cpu32.to_device(a)
    back = cpu32.to_numpy(d)
    np.testing.assert_array_equal(back, a)
    back[0, 0] = 99  # to_numpy hands out a copy: the device array is untouched
    assert d[0, 0] == 0


def test_seeded_generator_repeats(cpu32):
    cpu32.rng.seed(123)
    a = cpu32.to_numpy(cpu32.rng.normal((5, 7)))
    p = cpu32.to_numpy(cpu32.rng.permutation(10))
    cpu32.rng.seed(123)
    np.testing.assert_array_equal(a, cpu32.to_numpy(cpu32.rng.normal((5, 7))))
    np.testing.assert_array_equal(p, cpu32.to_numpy(cpu32.rng.permutation(10)))
    assert a.dtype == np.float32


def test_generator_state_round_trips(cpu32):
    state = cpu32.rng.get_state()
    a = cpu32.to_numpy(cpu32.rng.uniform((4,)))
    cpu32.rng.set_state(state)
    np.testing.assert_array_equal(a, cpu32.to_numpy(cpu32.rng.uniform((4,))))


def test_timer_measures(cpu32):
    with cpu32.timer() as t:
        time.sleep(0.05)
    assert 0.04 < t.seconds < 2.0


def test_foreign_arrays_get_a_clear_type_error(cpu32):
    with pytest.raises(TypeError, match=r"expected a numpy.ndarray .* but got builtins.list"):
        cpu32.check_array([1, 2, 3], "Convolution.forward")


def _im2col_loop(x, kh, kw, stride, pad):
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1
    col = np.zeros((n, kh, kw, c, oh, ow), x.dtype)
    for y in range(oh):
        for x_ in range(ow):
            window = xp[:, :, y * stride : y * stride + kh, x_ * stride : x_ * stride + kw]
            col[:, :, :, :, y, x_] = window.transpose(0, 2, 3, 1)
    return col


@pytest.mark.parametrize("shape,k,stride,pad", [((2, 3, 7, 5), (3, 3), 1, 1), ((1, 2, 9, 8), (2, 3), 2, 0),
                                                ((3, 1, 6, 6), (5, 5), 3, 2), ((2, 2, 4, 4), (1, 1), 1, 0),
                                                ((1, 2, 5, 5), (3, 3), 2, 3), ((2, 1, 7, 7), (2, 2), 3, 1)])
def test_im2col_matches_a_loop_and_col2im_is_its_adjoint(f64, shape, k, stride, pad):
    x = np.random.default_rng(0).standard_normal(shape)
    col = f64.im2col(x, *k, stride, pad)
    np.testing.assert_array_equal(col, _im2col_loop(x, *k, stride, pad))
    c = np.random.default_rng(1).standard_normal(col.shape)
    # <im2col(x), c> == <x, col2im(c)>: col2im is the exact transpose of im2col
    assert np.isclose((col * c).sum(), (x * f64.col2im(c, shape, *k, stride, pad)).sum(), rtol=1e-12)


def test_window_larger_than_input_is_a_clear_error(cpu32):
    with pytest.raises(ValueError, match="does not fit"):
        cpu32.im2col(np.zeros((1, 1, 2, 2), np.float32), 3, 3, 1, 0)


def test_use_switches_and_restores():
    before = backends.current()
    with backends.use("cpu", dtype="float64") as bk:
        assert backends.current() is bk and bk.dtype == np.float64
    assert backends.current() is before


@pytest.mark.parametrize("shape,k,stride,pad", [((3, 4, 8, 6), 2, 2, 0), ((2, 2, 9, 9), 3, 3, 0),
                                                ((2, 3, 4, 4), 4, 4, 0), ((2, 3, 13, 13), 3, 2, 0),
                                                ((1, 2, 7, 8), 3, 2, 1), ((2, 1, 6, 6), 2, 1, 0)])
def test_fast_max_pool_matches_the_reference(cpu32, shape, k, stride, pad):
    """The NumPy backend's strided-view pooling equals the base im2col code, ties included."""
    x = np.round(np.random.default_rng(0).standard_normal(shape), 1).astype(np.float32)  # many ties
    x[0, 0, :k, :k] = 0.0
    y, arg = cpu32.max_pool(x, k, k, stride, pad)
    y_ref, arg_ref = backends.Backend.max_pool(cpu32, x, k, k, stride, pad)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(arg, arg_ref)
    dout = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    np.testing.assert_allclose(cpu32.max_pool_backward(dout, arg, shape, k, k, stride, pad),
                               backends.Backend.max_pool_backward(cpu32, dout, arg_ref, shape, k, k, stride, pad),
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("shape,k,stride,pad", [((2, 3, 9, 7), (3, 3), 1, 1), ((2, 2, 11, 11), (3, 3), 2, 2),
                                                ((1, 4, 8, 8), (1, 1), 1, 0), ((2, 1, 7, 9), (5, 3), 3, 2)])
def test_numba_kernels_match_the_reference(shape, k, stride, pad):
    nk = pytest.importorskip("deepnet.backends.cpu.kernels", reason="numba is not installed")
    bk = backends.create("cpu", dtype="float64")
    x = np.random.default_rng(0).standard_normal(shape)
    ref = backends.Backend.im2col(bk, x, *k, stride, pad)
    n, c, h, w = shape
    col = nk.im2col_rows(x.transpose(1, 0, 2, 3), *k, stride, pad, np.float64(0), np.empty_like(ref),
                         np.empty((c, n, h + 2 * pad, w + 2 * pad)))
    np.testing.assert_array_equal(col, ref)
    np.testing.assert_array_equal(bk.im2col(x, *k, stride, pad), ref)  # the backend takes the compiled path
    np.testing.assert_array_equal(bk.im2col(x, *k, stride, pad, fill=-np.inf),
                                  backends.Backend.im2col(bk, x, *k, stride, pad, fill=-np.inf))
    d = np.random.default_rng(1).standard_normal(ref.shape)
    np.testing.assert_allclose(bk.col2im(d, shape, *k, stride, pad),
                               backends.Backend.col2im(bk, d, shape, *k, stride, pad), rtol=1e-12, atol=1e-12)
