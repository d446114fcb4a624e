"""Transposed convolution, bilinear upsampling and leaky ReLU: gradients in float64, the adjoint identity
with Convolution, and the sizes."""
import numpy as np
import pytest

from deepnet import backends
from deepnet.layers import Convolution, LeakyRelu, TransposedConvolution, bilinear_kernel, init_bilinear

from ..gradcheck import check_layer
from ..backends.test_cpu_parallel import conv_paths, split_small_work  # noqa: F401 (a fixture)


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("k,stride,pad,op", [(3, 1, 1, 0), (4, 2, 1, 0), (3, 2, 1, 1), (5, 3, 2, 2), (2, 2, 0, 0)])
def test_transposed_convolution_gradients(f64, k, stride, pad, op):
    layer = TransposedConvolution(3, 2, k, stride=stride, pad=pad, output_padding=op)
    layer.b = randn(2, seed=3)
    check_layer(layer, randn(2, 3, 4, 5))


@pytest.mark.parametrize("k,stride,pad", [(3, 1, 1), (4, 2, 1), (3, 2, 0), (5, 3, 2)])
def test_it_is_the_adjoint_of_the_convolution_with_the_same_weights(f64, k, stride, pad):
    """<conv(x), y> = <x, convT(y)> for every x and y, with no bias: the defining identity."""
    conv = Convolution(2, 3, k, stride=stride, pad=pad)
    x = randn(2, 2, 9, 9, seed=1)
    cx = conv.forward(x)
    h, w = x.shape[2:]
    oh, ow = cx.shape[2:]
    op_h, op_w = h - ((oh - 1) * stride - 2 * pad + k), w - ((ow - 1) * stride - 2 * pad + k)
    assert op_h == op_w and 0 <= op_h < stride  # the sizes this test picks admit one output_padding
    convt = TransposedConvolution(3, 2, k, stride=stride, pad=pad, output_padding=op_h)
    convt.W = conv.W.copy()  # (O, C, KH, KW) read as (C_in, C_out, KH, KW)
    y = randn(*cx.shape, seed=2)
    ty = convt.forward(y)
    assert ty.shape == x.shape
    np.testing.assert_allclose(float((cx * y).sum()), float((x * ty).sum()), rtol=1e-12)


def test_output_sizes_follow_the_formula(f64):
    layer = TransposedConvolution(1, 1, 4, stride=2, pad=1)
    assert layer.forward(randn(1, 1, 7, 7)).shape == (1, 1, 14, 14)
    assert layer.output_shape((1, 7, 7)) == (1, 14, 14)
    with pytest.raises(ValueError, match="output_padding < stride"):
        TransposedConvolution(1, 1, 3, stride=2, output_padding=2)
    with pytest.raises(ValueError, match=r"expects \(N, 1, H, W\)"):
        layer.forward(randn(1, 2, 7, 7))
    with pytest.raises(RuntimeError, match="before TransposedConvolution.forward"):
        TransposedConvolution(1, 1, 3).backward(randn(1, 1, 3, 3))


def test_bilinear_initialisation_upsamples_bilinearly(f64):
    assert np.allclose(bilinear_kernel(4)[1], [0.1875, 0.5625, 0.5625, 0.1875])
    up = init_bilinear(TransposedConvolution(2, 2, 4, stride=2, pad=1))
    ramp = np.tile(np.arange(6, dtype=np.float64), (6, 1))  # x-coordinate ramp, both channels
    y = up.forward(np.stack([ramp, 2 * ramp])[None])
    # linear interpolation of a ramp is a ramp: at the half-pixel centres of the doubled grid
    inner = y[0, 0, 2:-2, 2:-2]
    expected = (np.arange(12)[2:-2] - 0.5) / 2
    np.testing.assert_allclose(inner, np.tile(expected, (8, 1)), atol=1e-12)
    np.testing.assert_allclose(y[0, 1], 2 * y[0, 0], atol=1e-12)  # channel to itself, nothing across


def test_leaky_relu_gradients_and_values(f64):
    layer = LeakyRelu(0.2)
    x = randn(3, 4, 5)
    x[np.abs(x) < 1e-3] = 0.5  # away from the kink, where the derivative jumps
    check_layer(layer, x)
    np.testing.assert_allclose(layer.forward(np.array([-1.0, 2.0])), [-0.2, 2.0])
    with pytest.raises(ValueError, match="alpha"):
        LeakyRelu(1.5)


GEOMETRIES = [((3, 4, 5, 6), 3, 4, 2, 1, 0), ((2, 3, 7, 7), 5, 3, 2, 1, 1), ((4, 2, 6, 5), 3, 3, 1, 1, 0),
              ((2, 5, 4, 4), 2, 16, 8, 4, 0)]  # (N, C_in, H, W), C_out, kernel, stride, pad, output_padding


@pytest.mark.parametrize("shape,cout,k,stride,pad,op", GEOMETRIES)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("path", conv_paths())
def test_the_chunked_transposed_convolution_matches_the_reference(shape, cout, k, stride, pad, op, threads, path):
    """The CPU backend's transposed convolution (the chunked convolution's pieces, every way a chunk runs, the
    images shared among the threads) against the base reference, forward and backward, in float64."""
    from deepnet.backends.base import Backend
    from deepnet.backends.cpu.conv import ChunkedConv
    from deepnet.backends.cpu.threads import Workers

    rng = np.random.default_rng(0)
    n, cin, h, w = shape
    x, wt = rng.standard_normal(shape), rng.standard_normal((cin, cout, k, k))
    b = rng.standard_normal(cout)
    oh, ow = (h - 1) * stride - 2 * pad + k + op, (w - 1) * stride - 2 * pad + k + op
    bk = backends.create("cpu", dtype="float64")
    y_ref, ctx = Backend.conv_transpose2d(bk, x, wt, b, stride, pad, oh, ow)
    dy = rng.standard_normal(y_ref.shape)
    grads_ref = Backend.conv_transpose2d_backward(bk, dy, wt, ctx, stride, pad)
    bk._chunked_conv = ChunkedConv(Workers(threads), chunk_bytes=2 * cout * k * k * h * w * 8, **path)
    y, ctx = bk.conv_transpose2d(x, wt, b, stride, pad, oh, ow)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    for got, want in zip(bk.conv_transpose2d_backward(dy, wt, ctx, stride, pad), grads_ref):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
