"""The CuPy backend's launch code (backends/cuda/backend.py: argument order, shapes, dtypes of each kernel
launch) run on the CPU through a NumPy stand-in for the few CuPy entry points it uses, its
ElementwiseKernel executing the kernel bodies with tests/cuda_exec.py.

No CuPy code runs here and nothing here is GPU coverage: the stand-in is NumPy. It catches what the kernel
tests cannot, a launch that passes OH where OW belongs or the wrong array to a parameter. Marked `standin`
(never `gpu`); the run's summary says that no CuPy code ran."""
import re

import numpy as np
import pytest

from deepnet.backends import CupyBackend
from deepnet.backends.base import Backend

from .. import cuda_exec
from ..strict_cupy import _Device

pytestmark = [pytest.mark.standin,
              pytest.mark.skipif(not cuda_exec.available(), reason="g++ is not installed")]


class StandInKernel:
    """ElementwiseKernel's calling convention over NumPy arrays: compiled per dtype on first use."""

    def __init__(self, in_params, out_params, operation, name, preamble=""):
        self.spec = {"in_params": in_params, "out_params": out_params, "operation": operation, "name": name}
        m = re.fullmatch(r"typedef (float|double) ACC;", preamble.strip())
        assert m, f"unexpected preamble {preamble!r}"
        self.acc, self.compiled = m.group(1), {}

    def __call__(self, *args, size=None):
        dtype = next(a.dtype for a in args if isinstance(a, np.ndarray) and a.dtype.kind == "f")
        if dtype not in self.compiled:
            self.compiled[dtype] = cuda_exec.CpuKernel(self.spec, dtype, self.acc)
        return self.compiled[dtype](*args, size=size)


class StandInCupy:
    """The CuPy names cupy_backend.py uses, answered by NumPy (anything else raises AttributeError)."""

    __name__ = "numpy-standin"
    __version__ = np.__version__
    ndarray, float16, float32, float64, int32 = np.ndarray, np.float16, np.float32, np.float64, np.int32
    ElementwiseKernel = StandInKernel
    USED = ("empty", "zeros", "ascontiguousarray", "asarray", "concatenate", "where", "arange", "take_along_axis",
            "matmul", "random")

    def __getattr__(self, name):
        if name in self.USED:
            return getattr(np, name)
        raise AttributeError(f"the stand-in has no {name!r}: cupy_backend.py uses a CuPy entry point the "
                             f"stand-in does not model (add it here if NumPy answers it the same way)")


def standin_backend(dtype):
    bk = CupyBackend.__new__(CupyBackend)  # no device: __init__ would ask CUDA for its properties
    bk.xp, bk.device = StandInCupy(), _Device()  # `with device:` and synchronize(): nothing to select or wait for
    Backend.__init__(bk, dtype)
    bk.device_name = "NumPy stand-in (no GPU)"
    return bk


REF = Backend()
GEOMETRIES = [(2, 3, 7, 5, 3, 3, 1, 1), (1, 2, 9, 6, 3, 2, 2, 1), (3, 1, 6, 11, 2, 2, 2, 0), (1, 2, 8, 13, 4, 3, 3, 2),
              (2, 2, 5, 9, 1, 5, 1, 0)]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=lambda g: "n{}c{}_{}x{}_k{}x{}_s{}p{}".format(*g))
def test_the_backend_launches_each_kernel_right(geometry, dtype):
    n, c, h, w, kh, kw, s, p = geometry
    bk = standin_backend(dtype)
    rng = np.random.default_rng(0)
    x = rng.integers(-3, 4, (n, c, h, w)).astype(dtype)  # small integers: exact sums, ties everywhere
    col = bk.im2col(x, kh, kw, s, p)
    np.testing.assert_array_equal(col, REF.im2col(x, kh, kw, s, p))
    np.testing.assert_array_equal(bk.im2col(x, kh, kw, s, p, fill=-1.0), REF.im2col(x, kh, kw, s, p, fill=-1.0))
    dcol = rng.integers(-3, 4, col.shape).astype(dtype)
    np.testing.assert_array_equal(bk.col2im(dcol, x.shape, kh, kw, s, p),
                                  REF.col2im(dcol.astype(np.float64), x.shape, kh, kw, s, p).astype(dtype))
    if p < min(kh, kw):
        y, arg = bk.max_pool(x, kh, kw, s, p)
        ref_y, ref_arg = REF.max_pool(x, kh, kw, s, p)
        np.testing.assert_array_equal(y, ref_y)
        np.testing.assert_array_equal(arg, ref_arg)
        dout = rng.integers(-3, 4, y.shape).astype(dtype)
        np.testing.assert_array_equal(bk.max_pool_backward(dout, arg, x.shape, kh, kw, s, p),
                                      REF.max_pool_backward(dout.astype(np.float64), ref_arg, x.shape, kh, kw, s, p)
                                      .astype(dtype))


def test_a_convolution_layer_runs_through_the_launch_code():
    from deepnet import backends
    from deepnet.layers import Convolution, Pooling

    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 9, 7))
    results = []
    for bk in (standin_backend("float64"), backends.create("cpu", dtype="float64")):
        with backends.use(bk):
            bk.rng.seed(3)
            conv, pool = Convolution(3, 4, 3, stride=1, pad=1), Pooling(2, stride=2)
            y = pool.forward(conv.forward(x, train=True), train=True)
            dx = conv.backward(pool.backward(np.ones_like(y)))
            results.append((y, dx, conv.dW, conv.db))
    for ours, cpu in zip(*results):
        np.testing.assert_allclose(ours, cpu, rtol=1e-12, atol=1e-12)


def test_deepnet_conv_picks_the_convolution(monkeypatch):
    from deepnet.backends import BackendUnavailable

    x = np.ones((1, 1, 5, 5), np.float32)
    w, b = np.ones((2, 1, 3, 3), np.float32), np.zeros(2, np.float32)
    monkeypatch.setenv("DEEPNET_CONV", "auto")  # no usable cuDNN on this machine: im2col, silently
    bk = standin_backend("float32")
    y, _ = bk.conv2d(x, w, b, 1, 1)
    assert bk.cudnn is None and y[0, 0, 2, 2] == 9
    monkeypatch.setenv("DEEPNET_CONV", "cudnn")  # asked for explicitly: a clear error, no silent fallback
    with pytest.raises(BackendUnavailable, match="DEEPNET_CONV=cudnn but cuDNN is not usable here"):
        standin_backend("float32").conv2d(x, w, b, 1, 1)
