"""The GPU backend: CuPy on one CUDA device.

Importing this module does not touch the GPU; `CupyBackend.open()` does, and
tells apart "CuPy is not installed" from "CuPy is installed but no device
answered", with CUDA's own message.
"""
from __future__ import annotations

import numpy as np

from .. import settings
from ..base import Backend, ConvReluContext, NormContext, Random, Timer, _fits
from ..errors import BackendUnavailable
from ..registry import register
from . import kernels as cupy_kernels
from .cudnn import CudnnConv
from .nccl import NcclReducer

INSTALL_HINT = (
    "install the GPU extra: pip install 'deepnet[gpu]' (CuPy for CUDA 12) "
    "or 'deepnet[gpu-cuda13]' (CUDA 13; needs an NVIDIA driver >= 580)"
)


def import_cupy():
    try:
        import cupy
    except ImportError as exc:
        raise BackendUnavailable(f"CuPy is not installed ({exc}); {INSTALL_HINT}") from exc
    return cupy


def cupy_status() -> str:
    """CuPy's version, or why it cannot be imported (for `deepnet info`); touches no GPU."""
    try:
        import cupy
    except ImportError:
        return f"cupy not installed ({INSTALL_HINT})"
    except Exception as exc:  # a broken install still lets the caller report the rest
        return f"cupy import failed: {type(exc).__name__}: {exc}"
    return f"cupy {cupy.__version__}"


def _open(dtype=None, device=None, seed=None) -> CupyBackend:
    return CupyBackend.open(settings.device_ordinal() if device is None else device, dtype, seed)


register("gpu", _open, status=cupy_status)


class CudaTimer(Timer):
    """Times device work with CUDA events recorded on the current stream."""

    def __enter__(self):
        cp = self.backend.xp
        self._start, self._end = cp.cuda.Event(), cp.cuda.Event()
        self._start.record()
        return self

    def __exit__(self, *exc):
        cp = self.backend.xp
        self._end.record()
        self._end.synchronize()
        self.seconds = cp.cuda.get_elapsed_time(self._start, self._end) / 1000.0
        return False


class DeviceRandom(Random):
    """The seeded host stream, with `device_uniform` drawn on the device: a Philox kernel keyed by two words of
    the host stream (kernels.UNIFORM), so the run stays reproducible and its state is the host stream's alone."""

    def device_uniform(self, shape, dtype=None):
        dtype = np.dtype(dtype or self.backend.dtype)
        work = dtype if dtype in (np.float32, np.float64) else np.dtype(np.float32)  # 24 bits do not fit float16
        key0, key1 = (int(k) for k in self._gen.integers(0, 2**32, 2, dtype=np.uint64))
        bk = self.backend
        with bk.device:
            u = bk.xp.empty(shape, dtype=work)
            bk._kernel("uniform", work)(np.uint32(key0), np.uint32(key1), u)
        return u


class CupyBackend(Backend):
    name = "gpu"  # the name it registers under: what DEEPNET_BACKEND takes
    is_gpu = True

    def __init__(self, cupy, device: int, dtype=None, seed=None):
        self.xp = cupy
        self.device = cupy.cuda.Device(device)
        super().__init__(dtype, seed)
        self.rng = DeviceRandom(self, seed)
        props = cupy.cuda.runtime.getDeviceProperties(device)
        name = props["name"]
        self.device_name = f"cuda:{device} ({name.decode() if isinstance(name, bytes) else name})"
        self.total_memory = int(props.get("totalGlobalMem", 0))

    @classmethod
    def open(cls, device: int = 0, dtype=None, seed=None) -> CupyBackend:
        cupy = import_cupy()
        try:
            count = cupy.cuda.runtime.getDeviceCount()
            if device >= count:
                raise BackendUnavailable(
                    f"DEEPNET_DEVICE={device} but CUDA sees {count} device(s) (ordinals 0..{count - 1})"
                )
            cupy.cuda.Device(device).use()
            cupy.zeros(1).sum().item()  # a real round trip: "imported" is not "answered"
        except BackendUnavailable:
            raise
        except Exception as exc:  # CUDARuntimeError, missing libcudart, ...
            raise BackendUnavailable(
                f"CuPy {cupy.__version__} is installed but no CUDA device answered: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        return cls(cupy, device, dtype, seed)

    def to_device(self, a, dtype=None):
        with self.device:
            return self.xp.asarray(a, dtype=dtype)

    def to_numpy(self, a) -> np.ndarray:
        if isinstance(a, self.xp.ndarray):
            return self.xp.asnumpy(a)
        return np.array(a, copy=True)

    def synchronize(self) -> None:
        self.device.synchronize()

    def timer(self) -> Timer:
        return CudaTimer(self)

    def memory_info(self) -> dict:
        pool = self.xp.get_default_memory_pool()
        free, total = self.xp.cuda.runtime.memGetInfo()
        return {
            "pool_used_bytes": int(pool.used_bytes()),
            "pool_total_bytes": int(pool.total_bytes()),
            "device_free_bytes": int(free),
            "device_total_bytes": int(total),
        }

    def describe(self) -> dict:
        mem = self.memory_info()
        rt = self.xp.cuda.runtime
        return {**super().describe(), "gpu_memory_free_bytes": mem["device_free_bytes"],
                "gpu_memory_total_bytes": mem["device_total_bytes"], "cuda_runtime": rt.runtimeGetVersion(),
                "cuda_driver": rt.driverGetVersion(), "convolution": "cudnn" if self.cudnn is not None else "im2col"}

    # --- convolution: im2col (the base backend's, with the kernels below) or cuDNN (DEEPNET_CONV) -----------
    @property
    def cudnn(self):
        """The cuDNN convolution (backends/cuda/cudnn.py) when DEEPNET_CONV asks for it, else None."""
        if "_cudnn" not in self.__dict__:
            choice, conv = settings.conv_implementation(), None
            if choice != "im2col":
                try:
                    conv = CudnnConv(self.xp)
                except Exception as exc:  # not installed, or no cuDNN runtime/driver: auto falls back to im2col
                    if choice == "cudnn":
                        raise BackendUnavailable(f"DEEPNET_CONV=cudnn but cuDNN is not usable here: "
                                                 f"{type(exc).__name__}: {exc}") from None
            self._cudnn = conv
        return self._cudnn

    def conv2d(self, x, w, b, stride=1, pad=0, reuse=None):
        if self.cudnn is None:
            return super().conv2d(x, w, b, stride, pad, reuse)
        n, _, h, wd = x.shape
        o, _, kh, kw = w.shape
        y_shape = (n, o, self.conv_output_size(h, kh, stride, pad), self.conv_output_size(wd, kw, stride, pad))
        x = self.xp.ascontiguousarray(x)
        return self.cudnn.forward(x, w, b, stride, pad, y_shape), CudnnContext(x)

    def conv2d_relu(self, x, w, b, stride=1, pad=0, reuse=None):
        """The product by im2col and cuBLAS, then its bias and ReLU in one pass (kernels.BIAS_RELU)."""
        if self.cudnn is not None or b.dtype != x.dtype:
            return super().conv2d_relu(x, w, b, stride, pad, reuse)
        y, conv = self._conv2d_product(x, w, stride, pad, reuse.conv if isinstance(reuse, ConvReluContext) else None)
        self._kernel("bias_relu", y.dtype)(self.xp.ascontiguousarray(b), y.shape[1], y.shape[2] * y.shape[3], y)
        return y, ConvReluContext(conv, y)

    def conv2d_relu_pool(self, x, w, b, stride=1, pad=0):
        """Inference: the product by im2col and cuBLAS, then bias, ReLU and the 2x2/2 max-pooling in one pass
        (kernels.BIAS_RELU_POOL)."""
        if self.cudnn is not None or b.dtype != x.dtype:
            return super().conv2d_relu_pool(x, w, b, stride, pad)
        y, _ = self._conv2d_product(x, w, stride, pad)
        n, o, h, wd = y.shape
        out = self.xp.empty((n, o, self.conv_output_size(h, 2, 2, 0), self.conv_output_size(wd, 2, 2, 0)), y.dtype)
        self._kernel("bias_relu_pool", y.dtype)(y, self.xp.ascontiguousarray(b), o, h, wd, out.shape[2], out.shape[3],
                                                out)
        return out

    def conv2d_backward(self, dy, w, context, stride=1, pad=0, need_dx=True):
        if not isinstance(context, CudnnContext):
            return super().conv2d_backward(dy, w, context, stride, pad, need_dx)
        return self.cudnn.backward(dy, context.x, w, stride, pad, need_dx)

    def gradient_reducer(self, mpi_comm):
        return NcclReducer(self.xp, mpi_comm)

    # --- kernels: one thread per output element, gathers only (deterministic) -------------
    def _kernel(self, name: str, dtype):
        key = (name, cupy_kernels.accumulator(np.dtype(dtype)))
        cache = self.__dict__.setdefault("_kernels", {})
        if key not in cache:
            cache[key] = cupy_kernels.build(self.xp, name, np.dtype(dtype))
        return cache[key]

    def im2col(self, x, kh, kw, stride=1, pad=0, fill=0.0, out=None):
        cp = self.xp
        x = cp.ascontiguousarray(x)
        n, c, h, w = x.shape
        oh, ow = self.conv_output_size(h, kh, stride, pad), self.conv_output_size(w, kw, stride, pad)
        shape = (n, kh, kw, c, oh, ow)
        col = out if out is not None and _fits(out, shape, x.dtype) else cp.empty(shape, dtype=x.dtype)
        self._kernel("im2col", x.dtype)(x, c, h, w, kh, kw, oh, ow, stride, pad, x.dtype.type(fill), col)
        return col

    def col2im(self, col, x_shape, kh, kw, stride=1, pad=0):
        cp = self.xp
        col = cp.ascontiguousarray(col)
        n, c, h, w = x_shape
        img = cp.empty((n, c, h, w), dtype=col.dtype)
        self._kernel("col2im", col.dtype)(col, c, h, w, kh, kw, col.shape[4], col.shape[5], stride, pad, img)
        return img

    def max_pool(self, x, kh, kw, stride, pad=0, with_arg=True):
        cp = self.xp
        x = cp.ascontiguousarray(x)
        n, c, h, w = x.shape
        oh, ow = self.conv_output_size(h, kh, stride, pad), self.conv_output_size(w, kw, stride, pad)
        out = cp.empty((n, c, oh, ow), dtype=x.dtype)
        arg = cp.empty((n, c, oh, ow), dtype=cp.int32)
        self._kernel("max_pool", x.dtype)(x, c, h, w, kh, kw, oh, ow, stride, pad, out, arg)
        return out, arg

    def relu_backward(self, dout, context):
        if dout.shape != context.shape or dout.dtype != context.dtype:
            return super().relu_backward(dout, context)
        dout, y = self.xp.ascontiguousarray(dout), self.xp.ascontiguousarray(context)
        dx = self.xp.empty_like(dout)
        self._kernel("relu_backward", dout.dtype)(dout, y, dx)
        return dx

    def batch_norm(self, x, gamma, beta, eps, relu=False, mean=None, var=None, running=None):
        """The statistics by CuPy's reductions (as the reference); inv_std and the running statistics' update in
        one kernel (kernels.BN_STATS); normalisation, scale, shift and the ReLU in one more (kernels.BN_APPLY),
        writing xhat and y."""
        xp = self.xp
        same = (gamma, beta) + (running[:2] if running is not None else ())
        if not all(a.dtype == x.dtype and a.flags.c_contiguous for a in same):
            return super().batch_norm(x, gamma, beta, eps, relu, mean, var, running)
        batch_stats = mean is None
        mean, var, xc = self._batch_statistics(x, mean, var)
        t = x.dtype.type  # the constants in the arrays' precision, as NumPy rounds a Python float
        update = running is not None and batch_stats
        inv_std = xp.empty(mean.shape, dtype=x.dtype)
        # without an update the running slots are never written: inv_std stands in (an input there would make
        # CuPy copy it, as it copies any input that shares memory with an output)
        running_mean, running_var, momentum = running if update else (inv_std, inv_std, 0.0)
        self._kernel("bn_stats", x.dtype)(mean, var, t(eps), t(momentum), t(1 - momentum), int(update), inv_std,
                                          running_mean, running_var)
        xhat, y = xp.empty_like(xc), xp.empty_like(xc)
        self._kernel("bn_apply", x.dtype)(xc, inv_std, gamma, beta, xc.shape[1], xc.shape[2], int(relu), xhat, y)
        return y, NormContext(xhat, inv_std, mean, var, y if relu else None, batch_stats)

    def batch_norm_backward(self, dy, gamma, context):
        """The fused ReLU's mask in one kernel, the per-channel sums by CuPy's reductions, dx in one kernel
        (kernels.BN_BACKWARD) that forms gamma inv_std and the means itself."""
        xp = self.xp
        if not context.batch_stats or dy.dtype != context.xhat.dtype or gamma.dtype != dy.dtype:
            return super().batch_norm_backward(dy, gamma, context)
        dy = xp.ascontiguousarray(dy)
        if context.relu_out is not None:
            dy = self.relu_backward(dy, context.relu_out)
        dbeta = dy.sum(axis=(0, 2))
        dgamma = (dy * context.xhat).sum(axis=(0, 2))
        dx = xp.empty_like(dy)
        self._kernel("bn_backward", dy.dtype)(dy, context.xhat, xp.ascontiguousarray(gamma), context.inv_std, dbeta,
                                              dgamma, dy.shape[1], dy.shape[2], dy.shape[0] * dy.shape[2], dx)
        return dx, dgamma, dbeta

    def adam_step(self, p, g, m, v, lr_t, beta1, beta2, eps):
        """The reference's three lines (about a dozen launches and three temporaries) in one kernel."""
        if not _adam_ready(p, g, m, v):
            return super().adam_step(p, g, m, v, lr_t, beta1, beta2, eps)
        t = p.dtype.type  # the reference's constants, rounded to the arrays' precision as NumPy rounds them
        self._kernel("adam", p.dtype)(g, t(lr_t), t(1 - beta1), t(1 - beta2), t(eps), p, m, v)

    def adam_steps(self, params, grads, ms, vs, lr_t, beta1, beta2, eps):
        """Up to kernels.ADAM_SLOTS parameters of one dtype a launch (kernels.ADAM_MULTI); one that does not fit
        the kernel (not contiguous, mixed dtypes) by adam_step."""
        groups: dict = {}
        for quad in zip(params, grads, ms, vs):
            if _adam_ready(*quad):
                groups.setdefault(quad[0].dtype, []).append([a.reshape(-1) for a in quad])  # views: 1-d descriptors
            else:
                self.adam_step(*quad, lr_t, beta1, beta2, eps)
        slots = cupy_kernels.ADAM_SLOTS
        for dtype, quads in groups.items():
            t = dtype.type
            for start in range(0, len(quads), slots):
                chunk = quads[start:start + slots]
                unused = [chunk[0]] * (slots - len(chunk))  # never touched: their sizes are passed as 0
                p, g, m, v = (list(a) for a in zip(*(chunk + unused)))
                sizes = [q[0].size for q in chunk] + [0] * len(unused)
                self._kernel("adam_multi", dtype)(*g, t(lr_t), t(1 - beta1), t(1 - beta2), t(eps), *sizes, *p, *m, *v,
                                                  size=sum(sizes))

    def max_pool_backward(self, dout, arg, x_shape, kh, kw, stride, pad=0):
        cp = self.xp
        dout = cp.ascontiguousarray(dout)
        n, c, h, w = x_shape
        dx = cp.empty((n, c, h, w), dtype=dout.dtype)
        self._kernel("max_pool_backward", dout.dtype)(dout, cp.ascontiguousarray(arg, dtype=cp.int32), c, h, w, kh,
                                                      kw, dout.shape[2], dout.shape[3], stride, pad, dx)
        return dx


class CudnnContext:
    """What a cuDNN convolution's backward needs: its input (cuDNN recomputes nothing else)."""

    __slots__ = ("x",)

    def __init__(self, x):
        self.x = x


def _adam_ready(p, g, m, v) -> bool:
    """Can the Adam kernels update p with these arrays: one shape and dtype, C-contiguous?"""
    return all(a.dtype == p.dtype and a.shape == p.shape and a.flags.c_contiguous for a in (p, g, m, v))
