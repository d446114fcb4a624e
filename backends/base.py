"""The backend interface, with plain array-module reference code.

Everything that differs between NumPy and CuPy lives behind this class: device
transfer, synchronisation, random numbers, timing, and the kernels the layers
need (im2col/col2im, convolution, max-pooling). The code here is written against `self.xp`
only, so it runs on either library; a backend overrides a method only where it
does the job faster or differently.
"""
from __future__ import annotations

import time

import numpy as np

from . import settings


class Timer:
    """Wall-clock timer for host work: `with backend.timer() as t: ...; t.seconds`."""

    def __init__(self, backend: Backend):
        self.backend = backend
        self.seconds = float("nan")

    def __enter__(self):
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self._start
        return False


class Random:
    """The one seeded generator deepnet draws from.

    Numbers are drawn on the host with NumPy's PCG64 and then sent to the device,
    so a seed gives the same weights and data order on the CPU and the GPU. Its state is a plain
    dict, so checkpoints can store it as JSON. Only `device_uniform` (dropout's masks) may be
    drawn on the device by a GPU backend, from keys this stream gives: reproducible there, but not
    the CPU's masks.
    """

    def __init__(self, backend: Backend, seed: int | None = None):
        self.backend = backend
        self.seed(seed)

    def seed(self, seed: int | None) -> None:
        self._gen = np.random.default_rng(seed)

    def normal(self, shape, scale: float = 1.0, dtype=None):
        dtype = np.dtype(dtype or self.backend.dtype)
        draw = self._gen.standard_normal(shape, dtype=np.float64)
        return self.backend.to_device((draw * scale).astype(dtype))

    def uniform(self, shape, dtype=None):
        """Uniform on [0, 1)."""
        dtype = np.dtype(dtype or self.backend.dtype)
        work = dtype if dtype in (np.float32, np.float64) else np.float32
        return self.backend.to_device(self._gen.random(shape, dtype=work).astype(dtype, copy=False))

    def device_uniform(self, shape, dtype=None):
        """Uniform on [0, 1) for work that stays on the device (dropout masks): here the host stream's `uniform`;
        a GPU backend draws them on the device from a key the host stream gives (no host-to-device copy)."""
        return self.uniform(shape, dtype)

    def permutation(self, n: int):
        return self.backend.to_device(self._gen.permutation(n))

    def integers(self, low: int, high: int, size=None):
        return self.backend.to_device(self._gen.integers(low, high, size=size))

    @property
    def host(self) -> np.random.Generator:
        """The host generator, for draws that stay on the CPU (data order, augmentation parameters)."""
        return self._gen

    def get_state(self) -> dict:
        return self._gen.bit_generator.state

    def set_state(self, state: dict) -> None:
        self._gen.bit_generator.state = state


class Backend:
    """One array library on one device. Subclasses set `xp`, `name`, `device_name`."""

    xp = np
    name = "base"
    device_name = "host"
    is_gpu = False

    def __init__(self, dtype=None, seed: int | None = None):
        self.dtype = settings.parse_dtype(dtype) if dtype is not None else settings.default_dtype()
        self.rng = Random(self, seed)

    def __repr__(self) -> str:
        return f"<deepnet backend {self.name} on {self.device_name}, dtype {self.dtype.name}>"

    # --- arrays and devices -------------------------------------------------
    def to_device(self, a, dtype=None):
        """An array on this backend's device (no copy if it is already there in that dtype)."""
        return self.xp.asarray(a, dtype=dtype)

    def to_numpy(self, a) -> np.ndarray:
        """A NumPy copy on the host; never moves or alters `a` itself."""
        return np.array(a, copy=True)

    def item(self, a):
        """A device scalar (or one-element array) as a Python number: the one explicit way deepnet reads a single
        value back (on a GPU, a device-to-host copy and a wait for the queued work)."""
        return self.to_numpy(a).item()

    def items(self, *values) -> list[float]:
        """Several device scalars (sums, counts) as Python floats in one transfer; host numbers pass through as
        they are. float64 holds any count exactly."""
        out = [float(v) if isinstance(v, (int, float)) else None for v in values]
        on_device = [i for i, v in enumerate(out) if v is None]
        if on_device:
            got = self.to_numpy(self.xp.stack([values[i].astype(self.xp.float64) for i in on_device]))
            for i, v in zip(on_device, got):
                out[i] = float(v)
        return out

    def check_array(self, a, where: str) -> None:
        """A clear TypeError when an array from another library (or none) reaches a layer."""
        if not isinstance(a, self.xp.ndarray):
            kind = f"{type(a).__module__}.{type(a).__name__}"
            raise TypeError(
                f"{where} expected a {self.xp.__name__}.ndarray (deepnet backend {self.name!r} on {self.device_name}) "
                f"but got {kind}; move inputs with deepnet.backends.current().to_device(x)"
            )

    def synchronize(self) -> None:
        """Wait for queued device work to finish (nothing to wait for on the host)."""

    def timer(self) -> Timer:
        return Timer(self)

    def memory_info(self) -> dict:
        return {}

    def describe(self) -> dict:
        """What this backend runs on, as plain values: for `deepnet info`, checkpoints' machine stamp and the
        benchmarks. Backends add their own entries (threads and kernels, GPU memory and CUDA versions)."""
        return {"backend": self.name, "device": self.device_name, "dtype": self.dtype.name,
                "array_library": f"{self.xp.__name__} {self.xp.__version__}"}

    def gradient_reducer(self, mpi_comm):
        """A device-side all-reduce for data-parallel gradients over `mpi_comm`, or None: deepnet then
        reduces on the host over MPI."""
        return None

    def set_threads(self, n: int) -> None:
        """How many CPU threads this backend may use (a no-op where it runs none of its own)."""

    def scratch(self, key: str, shape, dtype):
        """A scratch array shared by every caller using `key`, reallocated only when the shape or dtype
        changes. Its contents last until the next scratch(key) call: for values used at once (a layer's
        patch gradients, consumed by col2im before the next layer's backward runs)."""
        store = self.__dict__.setdefault("_scratch", {})
        buf = store.get(key)
        if buf is None or not _fits(buf, shape, np.dtype(dtype)):
            buf = store[key] = None  # let the old one go before allocating the new one
            buf = store[key] = self.xp.empty(shape, dtype=dtype)
        return buf

    # --- kernels ------------------------------------------------------------
    def matmul(self, a, b, out=None):
        """a @ b (batched over leading axes), in the inputs' dtype; into `out` when it fits."""
        if out is not None and not _fits(out, a.shape[:-1] + b.shape[-1:], a.dtype):
            out = None
        return self.xp.matmul(a, b, out=out)

    @staticmethod
    def conv_output_size(size: int, kernel: int, stride: int, pad: int) -> int:
        out = (size + 2 * pad - kernel) // stride + 1
        if out < 1:
            raise ValueError(
                f"a {kernel}-wide window with stride {stride} and pad {pad} does not fit an input of size {size}"
            )
        return out

    def im2col(self, x, kh: int, kw: int, stride: int = 1, pad: int = 0, fill: float = 0.0, out=None):
        """Patches of NCHW images as a (N, KH, KW, C, OH, OW) array: see im2col below."""
        return im2col(self.xp, x, kh, kw, stride, pad, fill, out)

    def col2im(self, col, x_shape, kh: int, kw: int, stride: int = 1, pad: int = 0):
        """The adjoint of im2col: see col2im below."""
        return col2im(self.xp, col, x_shape, kh, kw, stride, pad)

    def conv2d(self, x, w, b, stride: int = 1, pad: int = 0, reuse=None):
        """(y, context): y = W * x + b for NCHW x, (O, C, KH, KW) w and (O,) b, by im2col: one batched
        product, and what backward needs, in a context only this backend reads.

        With col = im2col(x) as (N, KH*KW*C, OH*OW) and W flattened to match, (O, KH*KW*C):
            y = W col + b
        Here the context holds the patches and W's rows; `reuse`, the caller's previous context, lends its buffer.
        """
        y, context = self._conv2d_product(x, w, stride, pad, reuse)
        y += b.reshape(1, -1, 1, 1)
        return y, context

    def _conv2d_product(self, x, w, stride: int, pad: int, reuse=None):
        """(W col as (N, O, OH, OW), context): conv2d without its bias."""
        n = x.shape[0]
        o, _, kh, kw = w.shape
        buffer = reuse.col6 if isinstance(reuse, Im2colContext) else None
        col6 = self.im2col(x, kh, kw, stride, pad, out=buffer)
        oh, ow = col6.shape[4], col6.shape[5]
        rows = _w_rows(w)
        y = self.matmul(rows, col6.reshape(n, -1, oh * ow))
        return y.reshape(n, o, oh, ow), Im2colContext(col6, x.shape, rows)

    def conv2d_backward(self, dy, w, context, stride: int = 1, pad: int = 0, need_dx: bool = True):
        """(dx, dW, db) for conv2d, from its context:  dW = sum_n dy_n col_n^T,  db = sum dy,
        dx = col2im(W^T dy). With need_dx=False (a network's first layer) dx is None and not computed."""
        n, o, oh, ow = dy.shape
        _, c, kh, kw = w.shape
        col = context.col6.reshape(n, -1, oh * ow)
        dy = dy.reshape(n, o, oh * ow)
        db = dy.sum(axis=(0, 2))
        # per-sample products summed over the batch: BLAS reads col^T in place, with no transposed copy
        dw = self.matmul(dy, col.transpose(0, 2, 1)).sum(axis=0)
        dw = dw.reshape(o, kh, kw, c).transpose(0, 3, 1, 2).copy()
        if not need_dx:
            return None, dw, db
        # one scratch buffer for every convolution's patch gradients: col2im consumes it at once
        rows = _w_rows(w) if context.w_rows is None else context.w_rows  # the forward's copy, not a second one
        dcol = self.matmul(rows.T, dy, out=self.scratch("conv.dcol", (n, kh * kw * c, oh * ow), dy.dtype))
        dx = self.col2im(dcol.reshape(n, kh, kw, c, oh, ow), context.x_shape, kh, kw, stride, pad)
        return dx, dw, db

    def conv2d_relu(self, x, w, b, stride: int = 1, pad: int = 0, reuse=None):
        """(y, context) for a convolution followed by a ReLU: y = max(W * x + b, 0). The reference is the two
        passes, conv2d then relu; a backend that can rectify inside the convolution's output pass overrides it."""
        y, conv = self.conv2d(x, w, b, stride, pad, reuse.conv if isinstance(reuse, ConvReluContext) else None)
        y, relu = self.relu(y)
        return y, ConvReluContext(conv, relu)

    def conv2d_relu_pool(self, x, w, b, stride: int = 1, pad: int = 0):
        """Inference only: the 2x2/2 max-pooling of max(W * x + b, 0), with no context for backward. The
        reference is the layers' passes one by one; a backend that can pool inside the convolution's output
        pass overrides it."""
        y, _ = self.conv2d_relu(x, w, b, stride, pad)
        return self.max_pool(y, 2, 2, 2, 0, with_arg=False)[0]

    def derived(self, store: dict, sources: tuple, make):
        """make()'s result, a tuple of arrays derived from the arrays in `sources` (inference's folded weights):
        a backend may keep it in `store` (a dict the caller keeps for this use) and return it again while
        every source is unchanged. The reference makes it each time: on a GPU the check would cost a sync."""
        return make()

    def conv2d_add_relu(self, x, w, b, residual, stride: int = 1, pad: int = 0):
        """Inference only: max(W * x + b + residual, 0), with no context for backward: a residual block's last
        convolution, its sum with the shortcut and the ReLU after it (residual: the output's shape). The
        reference is conv2d then add_relu; a backend that can add inside the convolution's output pass
        overrides it."""
        y, _ = self.conv2d(x, w, b, stride, pad)
        return self.add_relu(y, residual)[0]

    def conv2d_relu_backward(self, dy, w, context, stride: int = 1, pad: int = 0, need_dx: bool = True):
        """(dx, dW, db) for conv2d_relu: the ReLU's backward, then the convolution's."""
        return self.conv2d_backward(self.relu_backward(dy, context.relu), w, context.conv, stride, pad, need_dx)

    def xnor_dot(self, a_bits, w_bits, k: int):
        """Packed binary products on the host (NumPy arrays in and out): see xnor_dot_reference."""
        return xnor_dot_reference(a_bits, w_bits, k)

    def conv_transpose2d(self, x, w, b, stride: int, pad: int, out_h: int, out_w: int):
        """(y, context): the transposed convolution, the adjoint of conv2d with the same (C_in, C_out, KH, KW)
        array read as its (O, C, KH, KW) weights: every input pixel scattered into a window of the
        (N, C_out, out_h, out_w) output. With Wr = w as (C_in, KH*KW*C_out), columns ordered like im2col's rows,
        y = col2im(Wr^T x) + b (one product per image)."""
        n, cin, h, wd = x.shape
        _, cout, kh, kw = w.shape
        rows = w.transpose(0, 2, 3, 1).reshape(cin, -1)
        col = self.matmul(rows.T, x.reshape(n, cin, h * wd))  # (N, KH*KW*C_out, H*W)
        y = self.col2im(col.reshape(n, kh, kw, cout, h, wd), (n, cout, out_h, out_w), kh, kw, stride, pad)
        y += b.reshape(1, -1, 1, 1)
        return y, x

    def conv_transpose2d_backward(self, dy, w, context, stride: int, pad: int):
        """(dx, dW, db) for conv_transpose2d: dx = Wr im2col(dy), dW = sum_n x_n im2col(dy)_n^T, db = sum dy."""
        x = context
        n, cin, h, wd = x.shape
        _, cout, kh, kw = w.shape
        dcol = self.im2col(dy, kh, kw, stride, pad).reshape(n, -1, h * wd)
        # per-image products summed over the batch (as conv2d's dW)
        dw_rows = self.matmul(x.reshape(n, cin, h * wd), dcol.transpose(0, 2, 1)).sum(axis=0)
        dw = dw_rows.reshape(cin, kh, kw, cout).transpose(0, 3, 1, 2).copy()
        dx = self.matmul(w.transpose(0, 2, 3, 1).reshape(cin, -1), dcol).reshape(x.shape)
        return dx, dw, dy.sum(axis=(0, 2, 3))

    # --- local response normalisation (AlexNet) --------------------------------------------------------------
    def lrn(self, x, size: int, alpha: float, beta: float, k: float):
        """(y, context) for x (N, C, H, W): y = x s^(-beta), s = k + (alpha / size) times the sum of x^2 over the
        `size` channels centred on each channel (zero beyond the edges); context (x, s, s^(-beta)) for
        lrn_backward."""
        scale = k + (alpha / size) * self._channel_window_sum(x * x, size)
        factor = scale ** (-beta)
        return x * factor, (x, scale, factor)

    def lrn_backward(self, dout, context, size: int, alpha: float, beta: float):
        """dx = dout s^(-beta) - (2 alpha beta / size) x (the window sum of dout x s^(-beta-1))."""
        x, scale, factor = context
        g = self._channel_window_sum(dout * x * factor / scale, size)
        return dout * factor - (2 * alpha * beta / size) * x * g

    def _channel_window_sum(self, a, size: int):
        """The sum over the `size` channels centred on each channel of a (N, C, H, W), zero beyond the edges."""
        half = size // 2
        padded = self.xp.pad(a, ((0, 0), (half, half), (0, 0), (0, 0)))
        out = padded[:, 0 : a.shape[1]].copy()
        for i in range(1, size):
            out += padded[:, i : i + a.shape[1]]
        return out

    def batch_norm(self, x, gamma, beta, eps: float, relu: bool = False, mean=None, var=None, running=None):
        """(y, context): batch normalisation of x (N, C, P) per channel (P pixels; 1 for dense input).
        Without mean and var, the batch's own (the variance biased), which context.mean and context.var
        then hold; with them, those. xhat = (x - mean) / sqrt(var + eps), y = gamma xhat + beta, and with
        relu=True max(y, 0) (a ReLU fused after it). `running`, (running_mean, running_var, momentum) with the
        batch's statistics, is updated in place: running = momentum running + (1 - momentum) batch."""
        xp = self.xp
        batch_stats = mean is None
        mean, var, xc = self._batch_statistics(x, mean, var)
        inv_std = 1 / xp.sqrt(var + eps)
        if running is not None and batch_stats:
            self._update_running(running, mean, var)
        xhat = xc * inv_std[:, None]
        y = gamma[:, None] * xhat + beta[:, None]
        if relu:
            y = xp.maximum(y, 0)
        return y, NormContext(xhat, inv_std, mean, var, y if relu else None, batch_stats)

    @staticmethod
    def _update_running(running, mean, var) -> None:
        running_mean, running_var, momentum = running
        running_mean *= momentum
        running_mean += (1 - momentum) * mean
        running_var *= momentum
        running_var += (1 - momentum) * var

    def _batch_statistics(self, x, mean=None, var=None):
        """(mean, var, x - mean) per channel of x (N, C, P): the batch's own (the variance biased) without mean
        and var, else those given."""
        if mean is None:
            mean = x.mean(axis=(0, 2))
            xc = x - mean[:, None]
            var = (xc * xc).mean(axis=(0, 2))
        else:
            xc = x - mean[:, None]
        return mean, var, xc

    def batch_norm_backward(self, dy, gamma, context):
        """(dx, dgamma, dbeta) for batch_norm: with the batch's statistics,
        dx = gamma / std (dy - mean(dy) - xhat mean(dy xhat)); with fixed ones, gamma / std dy. A fused ReLU's
        mask is applied to dy first."""
        if context.relu_out is not None:
            dy = dy * (context.relu_out > 0)
        dbeta = dy.sum(axis=(0, 2))
        dgamma = (dy * context.xhat).sum(axis=(0, 2))
        scale = (gamma * context.inv_std)[:, None]
        if not context.batch_stats:
            return dy * scale, dgamma, dbeta
        m = dy.shape[0] * dy.shape[2]
        mean_dy, mean_dy_xhat = self._per_sample(dbeta, m), self._per_sample(dgamma, m)
        return scale * (dy - mean_dy[:, None] - context.xhat * mean_dy_xhat[:, None]), dgamma, dbeta

    @staticmethod
    def _per_sample(total, m: int):
        """total / m in total's dtype, divided in float32 at least: m (N P, the samples a channel averages) passes
        float16's largest value, 65,504, at batch 64 on 32x32 pictures, where float16 division gives 0."""
        if total.dtype.itemsize >= 4:
            return total / m
        return (total.astype(np.float32) / m).astype(total.dtype)

    def adam_step(self, p, g, m, v, lr_t: float, beta1: float, beta2: float, eps: float) -> None:
        """Adam's update, in place: m <- m + (1 - b1)(g - m), v <- v + (1 - b2)(g^2 - v),
        p <- p - lr_t m / (sqrt(v) + eps), lr_t the step size with the bias correction folded in."""
        m += (1 - beta1) * (g - m)
        v += (1 - beta2) * (g * g - v)
        p -= lr_t * m / (self.xp.sqrt(v) + eps)

    def adam_steps(self, params, grads, ms, vs, lr_t: float, beta1: float, beta2: float, eps: float) -> None:
        """adam_step on each (p, g, m, v) of the four lists in turn: a backend with a multi-tensor kernel
        updates several parameters in one launch."""
        for p, g, m, v in zip(params, grads, ms, vs):
            self.adam_step(p, g, m, v, lr_t, beta1, beta2, eps)

    def relu(self, x):
        """(y, context) with y = max(x, 0); the context (y itself) is what relu_backward needs."""
        y = self.xp.maximum(x, 0)
        return y, y

    def relu_backward(self, dout, context):
        """dx = dout where the input was positive (y > 0), else 0."""
        return dout * (context > 0)

    def add_into(self, a, b):
        """a += b in place; returns a (a residual block's two input gradients summed into the branch's own)."""
        a += b
        return a

    def add_relu(self, a, b):
        """(y, context) with y = max(a + b, 0): a residual block's sum and the ReLU after it; the context (y itself)
        is what relu_backward needs."""
        y = self.xp.maximum(a + b, 0)
        return y, y

    def max_pool(self, x, kh: int, kw: int, stride: int, pad: int = 0, with_arg: bool = True):
        """(y, arg): the max over each window and the offset (i*KW + j) of the first maximum
        (arg is None when not asked for: inference needs no backward)."""
        xp = self.xp
        n, c = x.shape[:2]
        col = self.im2col(x, kh, kw, stride, pad, fill=float("-inf"))
        col = col.reshape(n, kh * kw, c, col.shape[4], col.shape[5])
        if not with_arg:
            return col.max(axis=1), None
        arg = col.argmax(axis=1)
        return xp.take_along_axis(col, arg[:, None], axis=1)[:, 0], arg

    def max_pool_backward(self, dout, arg, x_shape, kh: int, kw: int, stride: int, pad: int = 0):
        """dx for max_pool: each window's gradient goes to its first maximum (a one-hot mask, no atomics)."""
        xp = self.xp
        n, c, oh, ow = dout.shape
        k = kh * kw
        hit = arg[:, None] == xp.arange(k).reshape(1, k, 1, 1, 1)
        dcol = xp.where(hit, dout[:, None], 0).reshape(n, kh, kw, c, oh, ow)
        return self.col2im(dcol, x_shape, kh, kw, stride, pad)

    def max_pool2d(self, x, kh: int, kw: int, stride: int, pad: int = 0, train: bool = False):
        """(y, context) for a max-pooling layer: in training the context holds the arg-max backward needs;
        in inference it holds the input, and the arg-max is found only if backward is asked for."""
        y, arg = self.max_pool(x, kh, kw, stride, pad, with_arg=train)
        return y, PoolContext(arg, None if train else x, x.shape, (kh, kw, stride, pad))

    def max_pool2d_backward(self, dout, context):
        """dx for max_pool2d, from its context."""
        kh, kw, stride, pad = context.window
        if context.arg is None:
            context.arg = self.max_pool(context.x, kh, kw, stride, pad)[1]
            context.x = None
        return self.max_pool_backward(dout, context.arg, context.x_shape, kh, kw, stride, pad)

    def max_pool2d_indices(self, context):
        """The arg-max of a max_pool2d forward (each window's offset i*KW + j), found now if inference skipped it:
        what SegNet's unpooling puts its values back by."""
        if context.arg is None:
            kh, kw, stride, pad = context.window
            context.arg = self.max_pool(context.x, kh, kw, stride, pad)[1]
            context.x = None
        return context.arg

    def roi_align(self, x, rois, out_h: int, out_w: int, scale: float, sampling: int = 2):
        """(y, context): RoI Align (He et al., 2017, Mask R-CNN), torchvision's `aligned=True` convention.
        x (N, C, H, W) features; rois (R, 5) rows (image index, x1, y1, x2, y2) in input pixels, which `scale`
        maps to feature pixels. Each of the out_h x out_w bins of a region averages sampling x sampling points
        spread evenly over it, each read by bilinear interpolation (a point more than one pixel outside the map
        reads 0; one within a pixel of the edge reads the edge). y is (R, C, out_h, out_w).

        Bilinear sampling is separable: a region's output is Ay @ x[image] @ Ax^T per channel, with Ay (out_h, H)
        and Ax (out_w, W) holding each bin's averaged interpolation weights. So forward and backward are matrix
        products (one per image), on any array library, with no scatter: dx[image] = sum over its regions of
        Ay^T dy Ax."""
        xp = self.xp
        n, c, h, w = x.shape
        rois = xp.asarray(rois, dtype=x.dtype)
        ay = _bilinear_rows(xp, rois[:, 2] * scale - 0.5, (rois[:, 4] - rois[:, 2]) * scale, out_h, h, sampling,
                            x.dtype)
        ax = _bilinear_rows(xp, rois[:, 1] * scale - 0.5, (rois[:, 3] - rois[:, 1]) * scale, out_w, w, sampling,
                            x.dtype)
        index = self.to_numpy(rois[:, 0]).astype(np.int64)
        if len(index) and (index.min() < 0 or index.max() >= n):
            raise ValueError(f"roi_align: region image indices must lie in [0, {n}); got {index.min()}..{index.max()}")
        y = xp.empty((len(index), c, out_h, out_w), dtype=x.dtype)
        groups = [(b, xp.asarray(np.flatnonzero(index == b))) for b in np.unique(index)]
        for b, rows in groups:
            r = len(rows)
            # along x for every region of this image in one product: (C*H, W) @ (W, r*out_w)
            u = self.matmul(x[b].reshape(c * h, w), ax[rows].reshape(r * out_w, w).T)
            u = u.reshape(c, h, r, out_w).transpose(2, 1, 0, 3).reshape(r, h, c * out_w)
            # then along y, region by region: (r, out_h, H) @ (r, H, C*out_w)
            y[rows] = self.matmul(ay[rows], u).reshape(r, out_h, c, out_w).transpose(0, 2, 1, 3)
        return y, RoiContext(ay, ax, groups, tuple(x.shape))

    def roi_align_backward(self, dy, context):
        """dx for roi_align (the regions' coordinates get no gradient, as in Faster R-CNN's approximate joint
        training)."""
        xp = self.xp
        n, c, h, w = context.x_shape
        out_h = dy.shape[2]
        dx = xp.zeros(context.x_shape, dtype=dy.dtype)
        out_w = dy.shape[3]
        for b, rows in context.groups:
            r = len(rows)
            g = dy[rows].transpose(0, 2, 1, 3).reshape(r, out_h, c * out_w)
            du = self.matmul(context.ay[rows].transpose(0, 2, 1), g)  # (r, H, C*out_w)
            du = du.reshape(r, h, c, out_w).transpose(2, 1, 0, 3).reshape(c * h, r * out_w)
            dx[b] = self.matmul(du, context.ax[rows].reshape(r * out_w, w)).reshape(c, h, w)
        return dx

    def window_gather(self, dy, arg, kh: int, kw: int, stride: int, pad: int = 0):
        """out[n, c, i, j] = dy[n, c, i*stride + a // KW - pad, j*stride + a % KW - pad] with a = arg[n, c, i, j]: each
        window's value at its arg-max (0 where that falls in the padding). max_pool_backward scatters to those
        places; this reads them back (max unpooling's backward)."""
        xp = self.xp
        n, c, oh, ow = arg.shape
        col = self.im2col(dy, kh, kw, stride, pad).reshape(n, kh * kw, c, oh, ow)
        return xp.take_along_axis(col, arg[:, None].astype(xp.intp), axis=1)[:, 0]


_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.int32)


def xnor_dot_reference(a_bits, w_bits, k: int):
    """(M, O) dot products of M rows of +-1 values packed as bits (uint8, 1 for +1, np.packbits' order) with
    O such rows, all of length k, on the host: a.w = k - 2 popcount(a XOR w) (padding bits agree: 0). A
    256-entry table counts each byte's bits."""
    a_bits, w_bits = np.asarray(a_bits, dtype=np.uint8), np.asarray(w_bits, dtype=np.uint8)
    out = np.empty((a_bits.shape[0], w_bits.shape[0]), dtype=np.int32)
    for o in range(w_bits.shape[0]):
        out[:, o] = _POPCOUNT[np.bitwise_xor(a_bits, w_bits[o])].sum(axis=1)
    return k - 2 * out


class Im2colContext:
    """What the reference convolution keeps between forward and backward: the patches, the input shape and
    the weights as rows (O, KH*KW*C), a copy backward's W^T dy reuses."""

    __slots__ = ("col6", "x_shape", "w_rows")

    def __init__(self, col6, x_shape, w_rows=None):
        self.col6, self.x_shape, self.w_rows = col6, tuple(x_shape), w_rows


class ConvReluContext:
    """What the reference conv2d_relu keeps: the convolution's context and the ReLU's."""

    __slots__ = ("conv", "relu")

    def __init__(self, conv, relu):
        self.conv, self.relu = conv, relu


class NormContext:
    """What batch_norm keeps for backward (and the statistics it used)."""

    __slots__ = ("xhat", "inv_std", "mean", "var", "relu_out", "batch_stats")

    def __init__(self, xhat, inv_std, mean, var, relu_out, batch_stats):
        self.xhat, self.inv_std, self.mean, self.var = xhat, inv_std, mean, var
        self.relu_out, self.batch_stats = relu_out, batch_stats


class RoiContext:
    """What roi_align keeps for backward: each region's interpolation rows, its regions grouped by image."""

    __slots__ = ("ay", "ax", "groups", "x_shape")

    def __init__(self, ay, ax, groups, x_shape):
        self.ay, self.ax, self.groups, self.x_shape = ay, ax, groups, x_shape


def _bilinear_rows(xp, start, length, bins: int, size: int, sampling: int, dtype):
    """(R, bins, size): for each region (starting at `start`, `length` long, in feature pixels, along one axis)
    and each of its bins, the weights its `sampling` points put on the map's pixels, averaged over the points."""
    r = start.shape[0]
    step = length / bins
    offsets = (xp.arange(bins, dtype=dtype)[:, None] + (xp.arange(sampling, dtype=dtype)[None, :] + 0.5) / sampling)
    p = start[:, None, None] + step[:, None, None] * offsets[None]  # (R, bins, sampling) sample positions
    valid = (p >= -1.0) & (p <= size)
    p = xp.clip(p, 0, None)
    low = xp.floor(p).astype(xp.int64)
    edge = low >= size - 1
    low = xp.where(edge, size - 1, low)
    frac = xp.where(edge, 0, p - low)
    high = xp.where(edge, size - 1, low + 1)
    pixels = xp.arange(size)
    weights = ((1 - frac)[..., None] * (low[..., None] == pixels) + frac[..., None] * (high[..., None] == pixels))
    return (weights * valid[..., None]).sum(axis=2).astype(dtype) / sampling if r else xp.zeros((0, bins, size), dtype)


class PoolContext:
    """What max-pooling keeps between forward and backward (the arg-max's dtype is the backend's own)."""

    __slots__ = ("arg", "x", "x_shape", "window")

    def __init__(self, arg, x, x_shape, window):
        self.arg, self.x, self.x_shape, self.window = arg, x, tuple(x_shape), window


def _valid_range(offset: int, pad: int, stride: int, out: int, size: int) -> tuple[int, int]:
    """Output positions [lo, hi) whose input pixel (pos*stride + offset - pad) lies inside [0, size)."""
    lo = max(0, -((offset - pad) // stride))  # ceil((pad - offset) / stride)
    hi = min(out, (size - 1 - offset + pad) // stride + 1)
    return lo, max(lo, hi)


def _w_rows(w):
    """(O, C, KH, KW) weights as (O, KH*KW*C), the order of im2col's rows."""
    return w.transpose(0, 2, 3, 1).reshape(w.shape[0], -1)


def _fits(buf, shape, dtype) -> bool:
    """Can `buf` be written as a fresh array of this shape and dtype?"""
    return tuple(buf.shape) == tuple(shape) and buf.dtype == dtype and buf.flags.c_contiguous


def im2col(xp, x, kh: int, kw: int, stride: int = 1, pad: int = 0, fill: float = 0.0, out=None):
    """Patches of NCHW images as a (N, KH, KW, C, OH, OW) array, with the array module `xp`: the reference
    every backend's own im2col is tested against.

    col[n, i, j, c, y, x] = x_padded[n, c, y*stride + i, x*stride + j]. It reshapes
    without a copy to (N, KH*KW*C, OH*OW), so a convolution is one batched matrix
    product with weights ordered (O, KH, KW, C); and each offset (i, j) is one
    contiguous block per image, which keeps the copies streaming. `fill` is the
    padding value (-inf for max-pooling). Padding is never materialised: each offset
    copies the part of the image it sees and fills the rest. `out`, when it has the
    right shape and dtype, is reused (a layer hands back last step's patches).
    """
    n, c, h, w = x.shape
    oh = Backend.conv_output_size(h, kh, stride, pad)
    ow = Backend.conv_output_size(w, kw, stride, pad)
    shape = (n, kh, kw, c, oh, ow)
    col = out if out is not None and _fits(out, shape, x.dtype) else xp.empty(shape, dtype=x.dtype)
    for i in range(kh):
        y0, y1 = _valid_range(i, pad, stride, oh, h)
        for j in range(kw):
            x0, x1 = _valid_range(j, pad, stride, ow, w)
            dst = col[:, i, j]
            if y0 > 0 or y1 < oh or x0 > 0 or x1 < ow:
                dst.fill(fill)
            if y0 < y1 and x0 < x1:
                dst[:, :, y0:y1, x0:x1] = x[:, :, y0 * stride + i - pad : (y1 - 1) * stride + i - pad + 1 : stride,
                                            x0 * stride + j - pad : (x1 - 1) * stride + j - pad + 1 : stride]
    return col

def col2im(xp, col, x_shape, kh: int, kw: int, stride: int = 1, pad: int = 0):
    """The adjoint of im2col: sums each patch entry of a (N, KH, KW, C, OH, OW) array back onto its pixel.

    Deterministic: a loop over the KH*KW offsets, each a dense strided add.
    """
    n, c, h, w = x_shape
    oh, ow = col.shape[4], col.shape[5]
    img = xp.zeros((n, c, h, w), dtype=col.dtype)
    for i in range(kh):
        y0, y1 = _valid_range(i, pad, stride, oh, h)
        for j in range(kw):
            x0, x1 = _valid_range(j, pad, stride, ow, w)
            if y0 < y1 and x0 < x1:
                img[:, :, y0 * stride + i - pad : (y1 - 1) * stride + i - pad + 1 : stride,
                    x0 * stride + j - pad : (x1 - 1) * stride + j - pad + 1 : stride] += col[:, i, j, :, y0:y1, x0:x1]
    return img
