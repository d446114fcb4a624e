"""The optional cuDNN convolution (backends/cuda/cudnn.py, DEEPNET_CONV=cudnn): its graphs are built and
their shapes inferred without a GPU; running them, against im2col, is GPU-marked."""
import numpy as np
import pytest

from deepnet import backends
from deepnet.backends import settings


def test_deepnet_conv_is_checked(monkeypatch):
    for value, expected in [("", "im2col"), ("cuDNN", "cudnn"), ("auto", "auto")]:
        monkeypatch.setenv("DEEPNET_CONV", value)
        assert settings.conv_implementation() == expected
    monkeypatch.setenv("DEEPNET_CONV", "winograd")
    with pytest.raises(backends.ConfigError, match="valid values: im2col, cudnn, auto"):
        settings.conv_implementation()


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("stride,pad", [(1, 1), (2, 1), (1, 0)])
def test_the_graphs_build_and_infer_shapes_without_a_gpu(dtype, stride, pad):
    cudnn = pytest.importorskip("cudnn", reason="nvidia-cudnn-frontend is not installed (the gpu-check extra)")
    from deepnet.backends.cuda.cudnn import build_graph

    x_shape, w_shape = (8, 16, 28, 28), (32, 16, 3, 3)
    oh = (28 + 2 * pad - 3) // stride + 1
    y_shape = (8, 32, oh, oh)
    _, fprop = build_graph(cudnn, "fprop", x_shape, w_shape, None, stride, pad, dtype)
    assert fprop["Y"].get_dim() == list(y_shape)  # cuDNN's own shape inference agrees with ours
    _, dgrad = build_graph(cudnn, "dgrad", x_shape, w_shape, y_shape, stride, pad, dtype)
    assert dgrad["DX"].get_dim() == list(x_shape)
    _, wgrad = build_graph(cudnn, "wgrad", x_shape, w_shape, y_shape, stride, pad, dtype)
    assert wgrad["DW"].get_dim() == list(w_shape)
    with pytest.raises(ValueError, match="unknown convolution pass"):
        build_graph(cudnn, "bprop", x_shape, w_shape, y_shape, stride, pad, dtype)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cudnn_matches_im2col_on_the_gpu(gpu, monkeypatch, dtype):
    pytest.importorskip("cudnn", reason="nvidia-cudnn-frontend is not installed")
    from deepnet.backends.cuda.backend import CudnnContext

    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((4, 3, 11, 9)), rng.standard_normal((5, 3, 3, 3)), rng.standard_normal(5)
    dy = rng.standard_normal((4, 5, 6, 5))
    results = []
    for choice in ("im2col", "cudnn"):
        monkeypatch.setenv("DEEPNET_CONV", choice)
        bk = backends.create("gpu", dtype=dtype)
        args = [bk.to_device(a.astype(dtype)) for a in (x, w, b)]
        y, ctx = bk.conv2d(*args, stride=2, pad=1)
        assert isinstance(ctx, CudnnContext) == (choice == "cudnn")
        grads = bk.conv2d_backward(bk.to_device(dy.astype(dtype)), args[1], ctx, stride=2, pad=1)
        results.append([bk.to_numpy(a) for a in (y, *grads)])
    tol = 1e-10 if dtype == "float64" else 1e-4
    for ours, ref in zip(results[1], results[0]):
        np.testing.assert_allclose(ours, ref, rtol=tol, atol=tol)
