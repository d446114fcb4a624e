"""The CPU backend: NumPy on the host."""
from __future__ import annotations

import platform
import sys

import numpy as np

from ..base import Backend, NormContext, _fits
from . import strided_pooling, tuning
from .conv import ChunkedConv
from .threads import Workers, default_threads, usable_cores
from ..registry import register
from ..settings import direct, spin, switch, winograd




class NumpyBackend(Backend):
    xp = np
    name = "cpu"  # the name it registers under: what DEEPNET_BACKEND takes
    is_gpu = False

    def __init__(self, dtype=None, seed=None):
        super().__init__(dtype, seed)
        self.device_name = f"CPU ({cpu_model()})"
        # bad DEEPNET_THREADS, DEEPNET_NUMBA, DEEPNET_SPIN, DEEPNET_WINOGRAD or DEEPNET_DIRECT values stop here,
        # when the backend is made
        threads = default_threads()
        switch("DEEPNET_NUMBA", default=True)
        spin()
        self._winograd = winograd()
        self._direct = direct()
        cores = usable_cores()
        if threads > 2 * cores:
            print(f"deepnet: warning: DEEPNET_THREADS={threads} is far above the {cores} usable cores; "
                  f"the threads will take turns on them (slower, not faster)", file=sys.stderr)

    def to_device(self, a, dtype=None):
        if hasattr(a, "__cuda_array_interface__") and hasattr(a, "get"):
            a = a.get()  # a CuPy array handed to the CPU backend: copy it to the host
        return np.asarray(a, dtype=dtype)

    def matmul(self, a, b, out=None):
        # NumPy has no BLAS for float16 (about 0.5 GFLOP/s here): store and move
        # float16, but multiply in float32 and round the result, as tensor cores do.
        if a.dtype == np.float16 or b.dtype == np.float16:
            return np.matmul(a.astype(np.float32), b.astype(np.float32)).astype(np.float16)
        if a.ndim == 2 and b.ndim == 2 and a.dtype == b.dtype:
            shape = (a.shape[0], b.shape[1])
            if out is None or not _fits(out, shape, a.dtype):
                out = np.empty(shape, dtype=np.result_type(a, b))
            return self.workers.matmul(a, b, out)
        return super().matmul(a, b, out=out)

    def describe(self) -> dict:
        nk = _numba()
        conv = self.chunked_conv
        kernels = f"numba {nk.numba.__version__}" if nk is not None and nk.ENABLED else "plain NumPy"
        if nk is not None and nk.ENABLED and nk.vectors.wide():
            kernels += " (512-bit vectors preferred)"
        if conv.blas is not None:
            kernels += ", one-call convolution chunks (NumPy's BLAS called from them)"
            if conv.winograd:
                kernels += ", Winograd F(4x4, 3x3) and F(2x2, 3x3) for wide 3x3 convolutions"
        if conv.kernels is not None and conv.direct:
            from .direct_block import SUMS

            kernels += ", direct 3x3 convolution (its sums in registers) up to 64 x 64 channels"
            first = conv.winograd4_first_above()
            if conv.blas is not None and conv.winograd and first < tuning.DIRECT_MAX_CHANNELS:
                kernels += (f" (F(4x4, 3x3) first beyond {first} input x output channels where it applies:"
                            f" {SUMS} sums a block here)")
        return {**super().describe(), "threads": self.workers.threads, "kernels": kernels,
                "conv_chunk_bytes": conv.chunk_size()}

    def set_threads(self, n: int) -> None:
        self.workers.threads = max(1, int(n))

    @property
    def workers(self) -> Workers:
        """The backend's threads (backends/cpu/threads.py; DEEPNET_THREADS), made on first use."""
        workers = self.__dict__.get("_workers")
        if workers is None:
            workers = self._workers = Workers()
        return workers

    @property
    def chunked_conv(self) -> ChunkedConv:
        """The cache-chunked, multi-core convolution (backends/cpu/conv.py), made on first use."""
        conv = self.__dict__.get("_chunked_conv")
        if conv is None:
            nk = _numba()
            kernels = nk if nk is not None and nk.ENABLED else None
            blas = None
            if kernels is not None:  # NumPy's BLAS called from the compiled chunk kernels, where it can be
                from . import blas as numba_blas

                blas = numba_blas.addresses()
            conv = self._chunked_conv = ChunkedConv(self.workers, kernels=kernels, blas=blas,
                                                     winograd=self._winograd, direct=self._direct)
        return conv

    def conv2d(self, x, w, b, stride=1, pad=0, reuse=None):
        return self._conv2d(x, w, b, stride, pad, reuse, relu=False)

    def conv2d_relu(self, x, w, b, stride=1, pad=0, reuse=None):
        # the ReLU runs in the convolution's output pass, on each chunk while it is in cache; the output is
        # the context's mask for backward (the next layer keeps it alive anyway)
        return self._conv2d(x, w, b, stride, pad, reuse, relu=True)

    def conv2d_relu_pool(self, x, w, b, stride=1, pad=0):
        # the pooling inside the convolution's output pass, on each chunk while its product is in cache: the
        # convolution's output is never written (one-call chunks, float32/float64, blas.py)
        x = np.ascontiguousarray(x)
        if not self.chunked_conv.can_pool(x, w, b):
            return super().conv2d_relu_pool(x, w, b, stride, pad)
        return self.chunked_conv.forward(x, w, b, stride, pad, relu=True, pool=True)

    def derived(self, store, sources, make):
        # kept while every source equals the copy taken when it was made: comparing costs a read of the
        # sources, making (a batch norm folded into a convolution's weights) several passes and a new array;
        # the result is read-only, so that the convolution may keep what it derives from it in turn
        # (ChunkedConv.transformed: Winograd's transformed weights)
        kept = store.get("sources")
        if kept is not None and len(kept) == len(sources) and all(_equal(a, k) for a, k in zip(sources, kept)):
            return store["value"]
        copies = {id(a): np.array(a) for a in sources}
        # arrays of their own, so that read-only holds; a source returned as it is (a layer's weights kept for
        # inference) is its copy, one copy for both uses
        value = tuple(copies[id(a)] if id(a) in copies else np.array(a) for a in make())
        for a in (*copies.values(), *value):
            a.flags.writeable = False
        store["sources"], store["value"] = tuple(copies[id(a)] for a in sources), value
        return value

    def conv2d_add_relu(self, x, w, b, residual, stride=1, pad=0):
        # the sum and the ReLU inside the convolution's output pass where the layer runs by the direct
        # convolution or Winograd (conv.py), in a pass after it elsewhere
        shape = (x.shape[0], w.shape[0], self.conv_output_size(x.shape[2], w.shape[2], stride, pad),
                 self.conv_output_size(x.shape[3], w.shape[3], stride, pad))
        if tuple(residual.shape) != shape:  # checked before any kernel reads it
            raise ValueError(f"conv2d_add_relu: the convolution gives {shape} but the residual is "
                             f"{tuple(residual.shape)}")
        if x.dtype not in (np.float32, np.float64) or residual.dtype != x.dtype:
            return super().conv2d_add_relu(x, w, b, residual, stride, pad)
        return self.chunked_conv.forward(np.ascontiguousarray(x), w, b, stride, pad,
                                         residual=np.ascontiguousarray(residual))

    def _conv2d(self, x, w, b, stride, pad, reuse, relu):
        if x.dtype == np.float16:
            # NumPy has no float16 BLAS and emulates float16 arithmetic: convolve in float32 (every float16
            # value is exact there) and round the output once, as tensor cores accumulate in float32
            y, context = self._conv2d(x.astype(np.float32), w.astype(np.float32), b.astype(np.float32), stride,
                                      pad, reuse, relu)
            y16 = y.astype(np.float16)
            if relu:  # the mask backward reads: the output as the next layer sees it
                context.relu_out = y16
            return y16, context
        if x.dtype not in (np.float32, np.float64):
            run = super().conv2d_relu if relu else super().conv2d
            return run(x, w, b, stride, pad, reuse)
        x = np.ascontiguousarray(x)
        y = self.chunked_conv.forward(x, w, b, stride, pad, relu=relu)
        # the context is the input itself (a reference, not a copy): backward rebuilds the patches from it.
        # (Keeping the patches of training instead, 98 MB at batch 100, was measured no faster: they are
        # written to and read back from main memory, where rebuilding them stays in cache.)
        return y, ChunkedContext(x, relu_out=y if relu else None)

    def conv2d_backward(self, dy, w, context, stride=1, pad=0, need_dx=True):
        return self._conv2d_backward(dy, w, context, stride, pad, need_dx, relu=False)

    def conv2d_relu_backward(self, dy, w, context, stride=1, pad=0, need_dx=True):
        return self._conv2d_backward(dy, w, context, stride, pad, need_dx, relu=True)

    def _conv2d_backward(self, dy, w, context, stride, pad, need_dx, relu):
        if not isinstance(context, ChunkedContext):
            run = super().conv2d_relu_backward if relu else super().conv2d_backward
            return run(dy, w, context, stride, pad, need_dx)
        if dy.dtype == np.float16:  # float32 inside, as conv2d
            relu_out = None if context.relu_out is None else context.relu_out.astype(np.float32)
            grads = self.chunked_conv.backward(dy.astype(np.float32), context.x, w.astype(np.float32), stride, pad,
                                               need_dx, relu_out=relu_out)
            return tuple(None if g is None else g.astype(np.float16) for g in grads)
        return self.chunked_conv.backward(np.ascontiguousarray(dy), context.x, w, stride, pad, need_dx,
                                          relu_out=context.relu_out)

    def conv_transpose2d(self, x, w, b, stride, pad, out_h, out_w):
        # the chunked convolution's pieces: forward is its backward's data half, backward its forward (dx)
        # and its backward's weight half (dW), each chunk in cache and shared among the threads
        if x.dtype not in (np.float32, np.float64):
            return super().conv_transpose2d(x, w, b, stride, pad, out_h, out_w)
        x = np.ascontiguousarray(x)
        return self.chunked_conv.transposed(x, w, b, stride, pad, out_h, out_w), x

    def conv_transpose2d_backward(self, dy, w, context, stride, pad):
        if dy.dtype not in (np.float32, np.float64):
            return super().conv_transpose2d_backward(dy, w, context, stride, pad)
        dy, x = np.ascontiguousarray(dy), context
        dx = self.chunked_conv.forward(dy, w, np.zeros(w.shape[0], dy.dtype), stride, pad)
        _, dw, _ = self.chunked_conv.backward(x, dy, w, stride, pad, need_dx=False)  # x in dy's place
        return dx, dw, dy.sum(axis=(0, 2, 3))

    def xnor_dot(self, a_bits, w_bits, k):
        nk = _numba()
        if nk is None or not nk.ENABLED:
            return super().xnor_dot(a_bits, w_bits, k)
        # the packed rows as 64-bit words (zero bytes appended: they agree, XOR 0), one popcnt instruction
        # a word in the compiled loop instead of a table lookup a byte; the rows split among the threads
        a, w = _words(a_bits), _words(w_bits)
        out = np.empty((a.shape[0], w.shape[0]), dtype=np.int32)
        self._split_batch(lambda s, e: nk.xnor_dot(a[s:e], w, k, out[s:e]), out, size=len(out) * w.size)
        return out

    def batch_norm(self, x, gamma, beta, eps: float, relu: bool = False, mean=None, var=None, running=None):
        nk = _numba()
        if nk is None or not nk.usable(x) or x.ndim != 3:
            return super().batch_norm(x, gamma, beta, eps, relu, mean, var, running)
        n, c, p = x.shape
        batch_stats = mean is None
        dtype = x.dtype
        stats = np.empty(c, np.float64) if batch_stats else np.asarray(mean, np.float64)
        spread = np.empty(c, np.float64) if batch_stats else np.asarray(var, np.float64)
        inv_std = np.empty(c, np.float64)
        xhat, y = np.empty_like(x), np.empty_like(x)
        g, b = np.asarray(gamma, np.float64), np.asarray(beta, np.float64)
        # each channel's passes on one thread (its sums in one order), the channels shared among the threads
        self._split(lambda s, e: nk.batch_norm(x, g, b, float(eps), bool(relu), batch_stats, s, e, stats,
                                                        spread, inv_std, xhat, y), c, x.size * 3)
        context = NormContext(xhat, inv_std.astype(dtype), stats.astype(dtype), spread.astype(dtype),
                              y if relu else None, batch_stats)
        if running is not None and batch_stats:
            self._update_running(running, context.mean, context.var)
        return y, context

    def batch_norm_backward(self, dy, gamma, context):
        nk = _numba()
        if nk is None or not nk.usable(dy) or dy.ndim != 3 or dy.shape != context.xhat.shape:
            return super().batch_norm_backward(dy, gamma, context)
        c = dy.shape[1]
        dx = np.empty_like(dy)
        dgamma, dbeta = np.empty(c, np.float64), np.empty(c, np.float64)
        relu = context.relu_out is not None
        g, inv = np.asarray(gamma, np.float64), np.asarray(context.inv_std, np.float64)
        self._split(lambda s, e: nk.batch_norm_backward(
            dy, context.xhat, context.relu_out if relu else dy, relu, g, inv, context.batch_stats, s, e, dgamma,
            dbeta, dx), c, dy.size * 3)
        return dx, dgamma.astype(dy.dtype), dbeta.astype(dy.dtype)

    def lrn(self, x, size, alpha, beta, k):
        nk = _numba()
        if nk is None or not nk.usable(x) or x.ndim != 4:
            return super().lrn(x, size, alpha, beta, k)
        x3 = x.reshape(x.shape[0], x.shape[1], -1)
        scale, factor, y = np.empty_like(x), np.empty_like(x), np.empty_like(x)
        # one compiled pass an image (NumPy's took a dozen, and its float32 power was most of the layer's time),
        # the images shared among the threads
        self._split_batch(lambda s, e: nk.lrn(x3, int(size), float(alpha), float(beta), float(k), s, e,
                                              *(a.reshape(x3.shape) for a in (scale, factor, y))), x, x.size * size)
        return y, (x, scale, factor)

    def lrn_backward(self, dout, context, size, alpha, beta):
        nk = _numba()
        x, scale, factor = context
        if nk is None or not all(nk.usable(a) and a.dtype == dout.dtype and a.shape == dout.shape
                                 for a in (dout, x, scale, factor)):
            return super().lrn_backward(dout, context, size, alpha, beta)
        dx = np.empty_like(dout)
        flat = [a.reshape(x.shape[0], x.shape[1], -1) for a in (dout, x, scale, factor, dx)]
        self._split_batch(lambda s, e: nk.lrn_backward(*flat[:4], int(size), float(alpha), float(beta), s, e,
                                                       flat[4]), dout, dout.size * size)
        return dx

    def adam_step(self, p, g, m, v, lr_t, beta1, beta2, eps):
        nk = _numba()
        if nk is None or not _adam_ready(nk, p, g, m, v):
            return super().adam_step(p, g, m, v, lr_t, beta1, beta2, eps)
        t = p.dtype.type  # the reference's constants, rounded to the arrays' precision as NumPy rounds them
        flat = [a.reshape(-1) for a in (p, g, m, v)]
        # the vectorized pass costs about what an element-wise pass does an element: split from ELEMENT_WORK's
        # share of SPLIT_WORK (200,000 elements ran faster on one thread, 1 M on two: benchmarks/adam_step.py)
        self._split(lambda s, e: nk.adam_step(*flat, t(lr_t), t(1 - beta1), t(1 - beta2), t(eps), s, e), p.size,
                    p.size)

    def adam_steps(self, params, grads, ms, vs, lr_t, beta1, beta2, eps):
        nk = _numba()
        if nk is None:
            return super().adam_steps(params, grads, ms, vs, lr_t, beta1, beta2, eps)
        small: dict = {}  # dtype -> the flat (p, g, m, v) of parameters too small to split among the threads
        for quad in zip(params, grads, ms, vs):
            p = quad[0]
            if not self._splits(p.size, p.size) and _adam_ready(nk, *quad):
                small.setdefault(p.dtype, []).append([a.reshape(-1) for a in quad])
            else:
                self.adam_step(*quad, lr_t, beta1, beta2, eps)
        for dtype, quads in small.items():
            t = dtype.type  # the reference's constants, rounded to the arrays' precision as NumPy rounds them
            empty = [np.empty(0, dtype)] * 4
            for start in range(0, len(quads), nk.ADAM_SLOTS):
                chunk = quads[start:start + nk.ADAM_SLOTS]
                chunk += [empty] * (nk.ADAM_SLOTS - len(chunk))
                nk.adam_steps(*(tuple(a) for a in zip(*chunk)), t(lr_t), t(1 - beta1), t(1 - beta2), t(eps))

    def relu(self, x):
        nk = _numba()
        if nk is None or not nk.usable(x) or x.ndim == 0:
            return super().relu(x)
        y = np.empty_like(x)
        # one pass (NumPy's maximum plus a separate mask took two), the batch split among the threads
        self._split_batch(lambda s, e: nk.relu(x[s:e].reshape(-1), y[s:e].reshape(-1)), x)
        return y, y

    def add_into(self, a, b):
        # split among the threads (NumPy's add releases the GIL), with no new array: ResNet-20's sums of its
        # blocks' input gradients, each a new 4 MB array from one thread, were 4 ms of a 170 ms step at batch 64
        if a.shape != b.shape or a.ndim == 0 or not a.flags.c_contiguous:
            return super().add_into(a, b)
        self._split_batch(lambda s, e: np.add(a[s:e], b[s:e], out=a[s:e]), a)
        return a

    def add_relu(self, a, b):
        nk = _numba()
        if nk is None or not (nk.usable(a) and nk.usable(b)) or a.shape != b.shape or a.dtype != b.dtype \
                or a.ndim == 0:
            return super().add_relu(a, b)
        y = np.empty_like(a)
        # one pass where the sum and the ReLU took two, each writing a new array
        self._split_batch(lambda s, e: nk.add_relu(a[s:e].reshape(-1), b[s:e].reshape(-1), y[s:e].reshape(-1)), a)
        return y, y

    def relu_backward(self, dout, context):
        nk = _numba()
        if nk is None or not nk.usable(dout) or not nk.usable(context) or dout.shape != context.shape \
                or dout.ndim == 0:
            return super().relu_backward(dout, context)
        dx = np.empty_like(dout)
        self._split_batch(lambda s, e: nk.relu_backward(dout[s:e].reshape(-1), context[s:e].reshape(-1),
                                                        dx[s:e].reshape(-1)), dout)
        return dx

    def _split_batch(self, fn, a, size=None) -> None:
        """fn(start, stop) over the first axis of `a`: on the calling thread when small (`size` elements, a.size
        unless given, each weighing tuning.ELEMENT_WORK, below tuning.SPLIT_WORK), else split among the threads."""
        self._split(fn, a.shape[0], a.size if size is None else size)

    def _splits(self, size: int, n: int) -> bool:
        """Whether _split shares range(n), `size` elements of work, among the threads: from tuning.SPLIT_WORK (each
        element tuning.ELEMENT_WORK), with more than one thread and more than one item."""
        return size * tuning.ELEMENT_WORK >= tuning.SPLIT_WORK and self.workers.threads > 1 and n > 1

    def _split(self, fn, n: int, size: int) -> None:
        """fn(start, stop) over range(n) (a batch, or channels), as _split_batch says, `size` elements of work."""
        if not self._splits(size, n):
            fn(0, n)
            return

        def work(_, chunks):
            for s, e in chunks:
                fn(s, e)

        self.workers.run(work, self.workers.balanced_chunks(n, -(-n // self.workers.threads)))

    def im2col(self, x, kh, kw, stride=1, pad=0, fill=0.0, out=None):
        nk = _numba()
        if nk is None or not nk.usable(x):
            return super().im2col(x, kh, kw, stride, pad, fill, out)
        n, c, h, w = x.shape
        shape = (n, kh, kw, c, self.conv_output_size(h, kh, stride, pad), self.conv_output_size(w, kw, stride, pad))
        col = out if out is not None and _fits(out, shape, x.dtype) else np.empty(shape, dtype=x.dtype)
        # given the images channel-first, the kernel's (C, KH, KW, N, ...) rows are (N, KH, KW, C, ...)
        xpad = np.empty((c, n, h + 2 * pad, w + 2 * pad), dtype=x.dtype)
        return nk.im2col_rows(x.transpose(1, 0, 2, 3), kh, kw, stride, pad, x.dtype.type(fill), col, xpad)

    def col2im(self, col, x_shape, kh, kw, stride=1, pad=0):
        nk = _numba()
        if nk is None or not nk.usable(col):
            return super().col2im(col, x_shape, kh, kw, stride, pad)
        img = np.empty(x_shape, dtype=col.dtype)
        n, c, h, w = x_shape
        xpad = np.empty((c, n, h + 2 * pad, w + 2 * pad), dtype=col.dtype)
        nk.col2im_rows(col, stride, pad, img.transpose(1, 0, 2, 3), xpad)
        return img

    def max_pool(self, x, kh, kw, stride, pad=0, with_arg=True):
        # Each window offset (i, j) is one strided view of the (padded) image, so the max and the first
        # arg-max are KH*KW element-wise passes over the output, with no patch array; with Numba, the 2x2
        # stride-2 window runs unrolled in one pass instead. Either way the batch is split among the threads.
        n, c, h, w = x.shape
        y = np.empty((n, c, self.conv_output_size(h, kh, stride, pad), self.conv_output_size(w, kw, stride, pad)),
                     dtype=x.dtype)
        arg = np.empty(y.shape, dtype=np.int8 if kh * kw <= 127 else np.int32) if with_arg else None
        nk = _numba()
        compiled = nk is not None and nk.usable(x) and kh == kw == stride == 2 and pad == 0

        def images(s, e):
            if compiled:  # the common 2x2 window, unrolled (kernels.max_pool_2x2)
                nk.max_pool_2x2(x[s:e], y[s:e], y[s:e] if arg is None else arg[s:e], arg is not None)
            else:
                strided_pooling.max_pool(x[s:e], kh, kw, stride, pad, y[s:e], None if arg is None else arg[s:e])

        self._split_batch(images, x)
        return y, arg

    def max_pool_backward(self, dout, arg, x_shape, kh, kw, stride, pad=0):
        dx = np.empty(x_shape, dtype=dout.dtype)
        nk = _numba()
        dout = np.ascontiguousarray(dout)
        compiled = nk is not None and nk.usable(dout)
        unrolled = compiled and kh == kw == stride == 2 and pad == 0 and arg.flags.c_contiguous

        def images(s, e):
            if unrolled:  # the 2x2 window forward's mirror (kernels.max_pool_2x2_backward)
                nk.max_pool_2x2_backward(dout[s:e], arg[s:e], dx[s:e])
            elif compiled:
                nk.max_pool_backward(dout[s:e], arg[s:e], kh, kw, stride, pad, dx[s:e])
            else:
                strided_pooling.max_pool_backward(dout[s:e], arg[s:e], kh, kw, stride, pad, dx[s:e])

        self._split_batch(images, dx)
        return dx

    def to_numpy(self, a) -> np.ndarray:
        if hasattr(a, "__cuda_array_interface__") and hasattr(a, "get"):
            return a.get()
        return np.array(a, copy=True)


class NumpyReferenceBackend(NumpyBackend):
    """The CPU backend with the base backend's whole-batch convolution: im2col of the whole batch and one
    product per layer, OpenBLAS threading it (no cache-sized chunks, no Numba kernels in the convolution),
    and the base backend's transposed convolution, batch norm and Adam steps. It is the yardstick the chunked
    path is measured against (benchmarks/cpu_paths.py) and checked against (tests/backends/test_every_backend.py,
    tests/backends/test_fused.py, tests/training/test_optimizers.py)."""

    name = "cpu-reference"
    conv2d = Backend.conv2d
    conv2d_backward = Backend.conv2d_backward
    conv2d_relu = Backend.conv2d_relu
    conv2d_relu_backward = Backend.conv2d_relu_backward
    conv2d_relu_pool = Backend.conv2d_relu_pool
    conv_transpose2d = Backend.conv_transpose2d
    conv_transpose2d_backward = Backend.conv_transpose2d_backward
    batch_norm = Backend.batch_norm
    batch_norm_backward = Backend.batch_norm_backward
    adam_step = Backend.adam_step
    adam_steps = Backend.adam_steps


def _adam_ready(nk, p, g, m, v) -> bool:
    """Whether the compiled Adam pass takes (p, g, m, v): C-contiguous float32 or float64 arrays of one dtype and
    shape, with the compiled kernels on."""
    return nk.usable(p) and all(a.dtype == p.dtype and a.shape == p.shape and a.flags.c_contiguous for a in (g, m, v))


def _numpy_status() -> str:
    return f"numpy {np.__version__}"


register("cpu", lambda dtype=None, device=None, seed=None: NumpyBackend(dtype, seed), status=_numpy_status)
register("cpu-reference", lambda dtype=None, device=None, seed=None: NumpyReferenceBackend(dtype, seed),
         status=_numpy_status)


class ChunkedContext:
    """What the chunked convolution keeps between forward and backward: only the input (and, for a fused
    ReLU, the output, whose sign is the ReLU's mask)."""

    __slots__ = ("x", "relu_out")

    def __init__(self, x, relu_out=None):
        self.x, self.relu_out = x, relu_out


def _equal(a, b) -> bool:
    """Whether arrays a and b have one shape, one dtype and the same values (compiled where it can be)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    nk = _numba()
    if nk is not None and nk.usable(a) and nk.usable(b):  # float32 and float64 (Numba has no float16)
        return bool(nk.equal(a, b))
    return bool(np.array_equal(a, b))


def _words(bits) -> np.ndarray:
    """Rows of packed bytes as rows of uint64 words, zero-padded to a whole word."""
    bits = np.asarray(bits, dtype=np.uint8)
    m, nbytes = bits.shape
    words = np.zeros((m, -(-nbytes // 8) * 8), dtype=np.uint8)
    words[:, :nbytes] = bits
    return words.view(np.uint64)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


_NUMBA = []


def _numba():
    """The optional compiled kernels (pip install 'deepnet[fast]'), or None; imported once."""
    if not _NUMBA:
        try:
            from . import kernels as numba_kernels
        except ImportError:
            numba_kernels = None
        _NUMBA.append(numba_kernels)
    return _NUMBA[0]
