"""Convolution on the CPU in cache-sized chunks of images, spread over the cores.

The reference (base.Backend.conv2d) builds the patch array of the whole batch: for DeepConvNet's
second layer at batch 100 that is 45 MB written, read back by the product, kept until backward,
and matched by a 45 MB patch gradient. On a 2-core machine those passes through main memory, not
the arithmetic, were most of a training step (benchmarks/README.md). Here the batch is cut into
chunks whose patch array fits in the caches (1 to 8 MB: ChunkedConv.chunk_size); each chunk is
im2col, one GEMM and a bias add while its patches are still in cache, and backward rebuilds a
chunk's patches instead of keeping the batch's. The chunks are shared among threads, one per core, each running BLAS on
one thread; NumPy, BLAS and the Numba kernels release the GIL, so the cores work in parallel.

Patches are laid out (C, KH, KW, n, OH, OW): rows ordered like W.reshape(O, -1), the chunk's images
side by side in each row, so y = W col is a single (O, K) x (K, n*OH*OW) product per chunk, and so
is dW^T = col dy^T.

Determinism: chunks go to threads round-robin, each thread sums its own dW in chunk order, and
the per-thread sums are added in thread order, so a given batch size and thread count gives the
same bits every run. A different thread count (DEEPNET_THREADS) may change the last bits of dW.
No patch arrays are kept between forward and backward, which is faster than the whole-batch reference
and keeps peak memory low (benchmarks/cpu_paths.py; results/cpu_tuning.md).
"""
from __future__ import annotations

import functools
import math
import weakref

import numpy as np

from ..base import Backend, col2im, im2col
from . import tuning
from .threads import Workers

def default_chunk_bytes(threads: int, last_level_cache: int | None = None) -> int:
    llc = last_level_cache_bytes() if last_level_cache is None else last_level_cache
    if not llc:
        return tuning.MIN_CHUNK_BYTES
    return int(min(tuning.MAX_CHUNK_BYTES, max(tuning.MIN_CHUNK_BYTES, llc // (2 * max(1, threads)))))


@functools.cache
def last_level_cache_bytes() -> int | None:
    """The largest data cache Linux reports for CPU 0 (sysfs), or None where it says nothing."""
    import glob

    sizes = []
    for index in glob.glob("/sys/devices/system/cpu/cpu0/cache/index*"):
        try:
            with open(f"{index}/type") as f:
                if f.read().strip() == "Instruction":
                    continue
            with open(f"{index}/size") as f:
                text = f.read().strip().upper()
            unit = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
            sizes.append(int(text.rstrip("KMG")) * unit)
        except (OSError, ValueError):
            continue
    return max(sizes) if sizes else None


class ChunkedConv:
    """The chunked forward and backward, run on `workers` (backends/cpu/threads.py)."""

    def __init__(self, workers: Workers, chunk_bytes: int | None = None, kernels=None, blas=None,
                 winograd: bool = True, direct: bool = True):
        self.workers = workers
        # the direct 3x3 convolution for narrow layers on wide images (direct.py; compiled kernels only):
        # DEEPNET_DIRECT
        self.direct = direct
        # Winograd's F(2x2, 3x3) for the 3x3 stride-1 layers wide enough to gain (winograd.py; one-call chunks
        # only): DEEPNET_WINOGRAD
        self.winograd = winograd
        self.chunk_bytes = None if chunk_bytes is None else int(chunk_bytes)  # None: see chunk_size()
        self.kernels = kernels  # the compiled kernels (kernels.py), or None for the plain NumPy loops
        # (sgemm, dgemm) addresses of NumPy's BLAS (blas.addresses()): with the kernels, each chunk is one
        # compiled call (blas.conv_*_chunk); None: the steps called one by one from Python
        self.blas = blas if kernels is not None else None
        self._transforms = {}  # transformed(): (module, dtype, id(w)) -> (weak reference to w, u), oldest first

    def transformed(self, module, w, dtype):
        """module.weights(w, dtype), Winograd's transformed weights; kept for a read-only w that owns its data
        (Backend.derived's weights, folded or plain: inference) while w lives (when the weights change, Backend.derived
        drops its copy and the transform goes with it), up to tuning.TRANSFORMED_WEIGHTS_BYTES in all, the
        oldest dropped first."""
        if w.flags.writeable or w.base is not None:
            return module.weights(w, dtype)
        key = (module.__name__, np.dtype(dtype).str, id(w))
        hit = self._transforms.get(key)
        if hit is not None and hit[0]() is w:
            return hit[1]
        u = module.weights(w, dtype)
        transforms = self._transforms

        def forget(ref, key=key):
            if key in transforms and transforms[key][0] is ref:
                del transforms[key]

        self._transforms[key] = (weakref.ref(w, forget), u)
        while sum(v[1].nbytes for v in self._transforms.values()) > tuning.TRANSFORMED_WEIGHTS_BYTES:
            del self._transforms[next(iter(self._transforms))]
        return u

    def chunk_size(self) -> int:
        """Bytes of patches per chunk: chunk_bytes if set; with one-call chunks (blas.py) tuning.MIN_CHUNK_BYTES,
        about half a core's L2 cache; else default_chunk_bytes (tuning.py has the measurements)."""
        if self.chunk_bytes:
            return self.chunk_bytes
        return tuning.MIN_CHUNK_BYTES if self.blas is not None else default_chunk_bytes(self.workers.threads)

    def _blas_address(self, *arrays) -> int | None:
        """The BLAS product's address for one-call chunks of these arrays, or None for the step-by-step loop."""
        if self.blas is None or not all(self.kernels.usable(a) and a.dtype == arrays[0].dtype for a in arrays):
            return None
        return self.blas[0] if arrays[0].dtype == np.float32 else self.blas[1]

    def _uses_winograd(self, c_in: int, c_out: int, kh: int, kw: int, stride: int, address, n: int, oh: int,
                       ow: int, dx=False):
        """Which Winograd module runs a 3x3 stride-1 convolution from c_in to c_out channels, n images of (oh, ow)
        outputs, or None: with the one-call chunks, F(4x4, 3x3) (winograd4.py) from tuning.WINOGRAD4_MIN_CHANNELS
        (C_in C_out, or for the input gradient, dx, WINOGRAD4_DX_MIN_CHANNELS) to WINOGRAD4_MAX_CHANNELS; else
        F(2x2, 3x3) (winograd.py) from WINOGRAD_MIN_CHANNELS (or WINOGRAD_DX_MIN_CHANNELS) up; each with
        tuning.WINOGRAD4_THREAD_TILES or WINOGRAD_THREAD_TILES tiles of its own for each thread."""
        if not (self.winograd and address is not None and kh == kw == 3 and stride == 1):
            return None
        from . import winograd, winograd4

        channels = c_in * c_out
        for module, least, most, per_thread in (
                (winograd4, tuning.WINOGRAD4_DX_MIN_CHANNELS if dx else tuning.WINOGRAD4_MIN_CHANNELS,
                 tuning.WINOGRAD4_MAX_CHANNELS, tuning.WINOGRAD4_THREAD_TILES),
                (winograd, tuning.WINOGRAD_DX_MIN_CHANNELS if dx else tuning.WINOGRAD_MIN_CHANNELS, channels,
                 tuning.WINOGRAD_THREAD_TILES)):
            th, tw = module.tiles(oh, ow)
            if least <= channels <= most and n * th * tw >= self.workers.threads * per_thread:
                return module
        return None

    def _uses_winograd_weights(self, c_in: int, c_out: int, kh: int, kw: int, stride: int, address, n: int,
                               oh: int, ow: int) -> bool:
        """Whether the weight gradient of a 3x3 stride-1 convolution from c_in to c_out channels, n images of (oh,
        ow) outputs, runs by Winograd's F(3x3, 4x4) (winograd4.py): with the one-call chunks, from
        tuning.WINOGRAD4_DW_MIN_CHANNELS to WINOGRAD4_DW_MAX_CHANNELS (C_in C_out), with
        WINOGRAD4_THREAD_TILES tiles (4x4) for each thread, the outputs at least WINOGRAD4_DW_MIN_FILL of
        the tiles' positions."""
        from .winograd4 import tiles

        th, tw = tiles(oh, ow)
        return (self.winograd and address is not None and kh == kw == 3 and stride == 1
                and tuning.WINOGRAD4_DW_MIN_CHANNELS <= c_in * c_out <= tuning.WINOGRAD4_DW_MAX_CHANNELS
                and n * th * tw >= self.workers.threads * tuning.WINOGRAD4_THREAD_TILES
                and oh * ow >= tuning.WINOGRAD4_DW_MIN_FILL * th * tw * 16)

    def _uses_direct(self, job: str, c_in: int, c_out: int, kh: int, kw: int, stride: int, ow: int,
                     *arrays) -> bool:
        """Whether a pass of a convolution from c_in to c_out channels with (., ow) outputs runs as direct.py's:
        3x3, stride 1, with the compiled kernels for these arrays, and within the job's gates in tuning.py: the
        forward up to DIRECT_MAX_CHANNELS (C_in C_out), the input gradient (job "dx", called with the channels
        it runs from and to) up to DIRECT_DX_MAX_CHANNELS, both at least DIRECT_MIN_WIDTH wide; the weight
        gradient ("dw") up to DIRECT_DW_MAX_CHANNELS at least DIRECT_DW_MIN_WIDTH wide."""
        most, narrowest = {"forward": (tuning.DIRECT_MAX_CHANNELS, tuning.DIRECT_MIN_WIDTH),
                           "dx": (tuning.DIRECT_DX_MAX_CHANNELS, tuning.DIRECT_MIN_WIDTH),
                           "dw": (tuning.DIRECT_DW_MAX_CHANNELS, tuning.DIRECT_DW_MIN_WIDTH)}[job]
        return (self.direct and self.kernels is not None and kh == kw == 3 and stride == 1
                and c_in * c_out <= most and ow >= narrowest
                and all(self.kernels.usable(a) and a.dtype == arrays[0].dtype for a in arrays))

    @staticmethod
    def winograd4_first_above() -> int:
        """The channels (C_in C_out) above which a forward pass that F(4x4, 3x3) and the direct convolution could
        both run goes to F(4x4, 3x3): tuning.DIRECT_OVER_WINOGRAD4_CHANNELS for the sums the direct block holds in
        registers on this processor (direct_block.SUMS; Numba needed)."""
        from .direct_block import SUMS

        return tuning.DIRECT_OVER_WINOGRAD4_CHANNELS[SUMS]

    def _winograd_first(self, module, channels: int) -> bool:
        """Whether a forward pass of `channels` (C_in C_out) that both could run goes to F(4x4, 3x3) (module, from
        _uses_winograd) rather than the direct convolution: above winograd4_first_above()."""
        from . import winograd4

        return module is winograd4 and channels > self.winograd4_first_above()

    def _run(self, work, n: int, per_image: int, macs: int) -> list:
        """work(k, chunks) over cache-sized chunks of the batch (chunk_size() bytes at per_image each): _share."""
        return self._share(work, n, self.chunk_size() // max(1, per_image), macs)

    def _share(self, work, n: int, images: int, macs: int, then=None) -> list:
        """work(k, chunks) over chunks of at most `images` images: split among the threads when the pass has
        at least tuning.SPLIT_WORK multiply-adds, else all on the calling thread. With `then`, each thread that
        ran work(k, ...) runs then(k) after it, in the same task: a second pass whose threads claim their share
        (_direct_work), so that one hand-off serves both and the thread that finished first takes more of it."""
        if then is not None:
            first = work

            def work(k, chunks):
                part = first(k, chunks)
                then(k)
                return part

        if not self._splits(macs):
            return [work(0, self.workers.chunks(n, images))]
        return self.workers.run(work, self.workers.balanced_chunks(n, images))

    def _splits(self, macs: int) -> bool:
        """Whether a pass of `macs` multiply-adds is shared among the threads: from tuning.SPLIT_WORK, with more
        than one thread."""
        return macs >= tuning.SPLIT_WORK and self.workers.threads > 1

    # --- patches ------------------------------------------------------------
    def _im2col(self, x, kh, kw, stride, pad, oh, ow):
        n, c = x.shape[:2]
        shape = (c, kh, kw, n, oh, ow)
        col = self.workers.buffer("col", math.prod(shape), x.dtype).reshape(shape)
        if self.kernels is not None:
            h, w = x.shape[2:]
            xpad = self.workers.buffer("xpad", n * c * (h + 2 * pad) * (w + 2 * pad), x.dtype)
            return self.kernels.im2col_rows(x, kh, kw, stride, pad, x.dtype.type(0), col,
                                            xpad.reshape(n, c, h + 2 * pad, w + 2 * pad))
        # the reference im2col of the images seen channel-first gives exactly this layout
        return im2col(np, x.transpose(1, 0, 2, 3), kh, kw, stride, pad, out=col)

    def _col2im(self, dcol, stride, pad, dx):
        if self.kernels is not None:
            n, c, h, w = dx.shape
            xpad = self.workers.buffer("xpad", n * c * (h + 2 * pad) * (w + 2 * pad), dx.dtype)
            self.kernels.col2im_rows(dcol, stride, pad, dx, xpad.reshape(n, c, h + 2 * pad, w + 2 * pad))
            return
        c, kh, kw = dcol.shape[:3]
        img = col2im(np, dcol, (c,) + (dx.shape[0],) + dx.shape[2:], kh, kw, stride, pad)
        dx[...] = img.transpose(1, 0, 2, 3)

    # --- the output pass and its mirror ------------------------------------
    def _output(self, prod, b, bias, relu, y):
        """y (n, O, P) = prod (O, n, P) transposed, plus the bias, rectified if relu: one pass over the chunk."""
        if self.kernels is not None and self.kernels.usable(prod) and y.flags.c_contiguous:
            self.kernels.bias_out(prod, b, relu, y)
            return
        np.add(prod.transpose(1, 0, 2), bias, out=y)
        if relu:
            np.maximum(y, 0, out=y)

    def _dout_rows(self, dy, y, out):
        """out (O, n, P) = dy (n, O, P) transposed, zeroed where a fused ReLU's output y was not positive."""
        if self.kernels is not None and self.kernels.usable(dy) and (y is None or self.kernels.usable(y)):
            self.kernels.dout_rows(dy, dy if y is None else y, y is not None, out)
            return
        np.copyto(out, dy.transpose(1, 0, 2))
        if y is not None:
            np.multiply(out, y.transpose(1, 0, 2) > 0, out=out)

    # --- forward and backward ----------------------------------------------
    def can_pool(self, x, w, b) -> bool:
        """Whether forward(..., pool=True) runs for these arrays (one-call chunks only)."""
        return self._blas_address(x, w.reshape(len(w), -1), b) is not None

    def forward(self, x, w, b, stride, pad, relu=False, pool=False, residual=None):
        """y = W * x + b for NCHW x and (O, C, KH, KW) w; y = max(W * x + b, 0) with relu (a fused ReLU);
        with pool (inference, can_pool only), the 2x2/2 max-pooling of max(W * x + b, 0); with a residual
        (inference: y's shape, contiguous, x's dtype), y = max(W * x + b + residual, 0), the sum inside the
        output pass of the direct and Winograd paths (a residual block's sum and ReLU), else a pass after."""
        n, c, h, wd = x.shape
        o, _, kh, kw = w.shape
        oh = Backend.conv_output_size(h, kh, stride, pad)
        ow = Backend.conv_output_size(wd, kw, stride, pad)
        p = oh * ow
        wmat = w.reshape(o, -1)
        y = np.empty((n, o, oh // 2, ow // 2) if pool else (n, o, oh, ow), dtype=x.dtype)
        y3 = y.reshape(n, o, -1)
        address = self._blas_address(x, wmat, b)
        if pool and address is None:
            raise ValueError("ChunkedConv.forward(pool=True) needs the one-call chunks (see can_pool)")
        module = self._uses_winograd(c, o, kh, kw, stride, address, n, oh, ow)
        if (self._uses_direct("forward", c, o, kh, kw, stride, ow, x, w, b)
                and not self._winograd_first(module, c * o)):
            return self._direct(x, None, np.ascontiguousarray(w), b, pad, relu, pool, y, residual)
        if module is not None:
            return self._winograd(module, address, x, None, self.transformed(module, w, x.dtype), b, pad, relu,
                                  pool, y, residual)
        relu = relu and residual is None  # the ReLU after the residual's sum (below)
        # the chunk routine, chosen once for the pass: one compiled call a chunk, or the steps from Python
        if address is not None:
            from .blas import conv_forward_chunk, conv_relu_pool_chunk

            def chunk(s, e):
                m = e - s
                col = self.workers.buffer("col", c * kh * kw * m * p, x.dtype).reshape(c, kh, kw, m, oh, ow)
                xpad = self.workers.buffer("xpad", m * c * (h + 2 * pad) * (wd + 2 * pad), x.dtype)
                prod = self.workers.buffer("prod", o * m * p, x.dtype).reshape(o, m, p)
                xpad = xpad.reshape(m, c, h + 2 * pad, wd + 2 * pad)
                if pool:
                    conv_relu_pool_chunk(address, x[s:e], x.dtype.type(0), wmat, b, kh, kw, stride, pad, ow, col,
                                         xpad, prod, y[s:e])
                else:
                    conv_forward_chunk(address, x[s:e], x.dtype.type(0), wmat, b, kh, kw, stride, pad, relu, col,
                                       xpad, prod, y3[s:e])
        else:
            bias = b.reshape(1, o, 1)

            def chunk(s, e):
                col = self._im2col(x[s:e], kh, kw, stride, pad, oh, ow)
                prod = self.workers.buffer("prod", o * (e - s) * p, x.dtype).reshape(o, e - s, p)
                np.matmul(wmat, col.reshape(wmat.shape[1], -1), out=prod.reshape(o, -1))
                self._output(prod, b, bias, relu, y3[s:e])

        def work(_, chunks):
            for s, e in chunks:
                chunk(s, e)

        self._run(work, n, c * kh * kw * p * x.itemsize, o * c * kh * kw * n * p)
        if residual is not None:  # the sum and the ReLU in a pass of their own on this path
            np.add(y, residual, out=y)
            np.maximum(y, 0, out=y)  # a NaN passes, as in the ReLU layer
        return y

    def _direct(self, x, mask, w, bias, pad, relu, pool, y, residual=None):
        """y = the 3x3 stride-1 convolution of x (n, C, H, W) with w (O, C, 3, 3) by direct.py, plus bias,
        rectified with relu, pooled with pool, or with a residual (y's shape) y = max(that + residual, 0); x
        zeroed where mask is not positive unless mask is None. One call a thread, the images claimed one at a time
        (direct.conv_chunk): a thread that starts late or runs slower computes fewer of them."""
        self._claimed(*self._direct_work(x, mask, w, bias, pad, relu, pool, y, residual), x.shape[0])
        return y

    def _claimed(self, work, splits: bool, n: int) -> None:
        """A pass whose threads claim its n images (_direct_work): work(k) on each thread if it splits, else
        work(0) alone."""
        if splits:
            self.workers.each(work, n)
        else:
            work(0)

    def _direct_work(self, x, mask, w, bias, pad, relu, pool, y, residual=None):
        """(work, splits) for _direct: work(k), run on any number of threads at once, computes the images they
        have not claimed yet; splits, whether the pass is worth sharing."""
        from . import direct

        n, c, h, wd = x.shape
        o = w.shape[0]
        masked, added = mask is not None, residual is not None
        mask = x if mask is None else mask
        residual = y if residual is None else residual

        claims = np.zeros(1, np.int64)

        def work(_):
            xpad, acc = direct.scratch(self.workers.buffer, c, o, h, wd, pad, x.dtype)
            direct.conv_chunk(x, mask, masked, w, bias, pad, relu, pool, xpad, acc, y, residual, added, claims)

        return work, self._splits(o * c * 9 * n * h * wd)

    @staticmethod
    def _winograd_images(module, c: int, o: int, tiles: int, itemsize: int) -> int:
        """Images per chunk of a Winograd pass with `tiles` tiles an image: tuning.WINOGRAD_CHUNK_BYTES of
        transformed input and products (module.POSITIONS blocks of each), and at least WINOGRAD_MIN_TILES
        tiles."""
        per_image = module.POSITIONS * (c + o) * tiles * itemsize
        return max(tuning.WINOGRAD_CHUNK_BYTES // per_image, -(-tuning.WINOGRAD_MIN_TILES // tiles), 1)

    def _winograd(self, module, address, x, mask, u, bias, pad, relu, pool, y, residual=None):
        """y = the 3x3 stride-1 convolution of x (n, C, H, W) by module (winograd.py's F(2x2, 3x3) or
        winograd4.py's F(4x4, 3x3)) with u (module.weights), plus bias, rectified with relu, pooled with pool, or
        with a residual (y's shape) y = max(that + residual, 0); x zeroed where mask is not positive unless mask
        is None. Chunks of tuning.WINOGRAD_CHUNK_BYTES of transformed data, at least WINOGRAD_MIN_TILES
        tiles."""
        n, c, h, wd = x.shape
        o = y.shape[1]
        oh, ow = h + 2 * pad - 2, wd + 2 * pad - 2
        th, tw = module.tiles(oh, ow)
        bias_row = np.tile(bias, tw)
        masked, added = mask is not None, residual is not None
        mask = x if mask is None else mask
        residual = y if residual is None else residual
        images = self._winograd_images(module, c, o, th * tw, x.itemsize)

        def work(_, chunks):
            for s, e in chunks:
                scratch = module.scratch(self.workers.buffer, e - s, c, o, oh, ow, pool, x.dtype)
                module.conv_chunk(address, x[s:e], mask[s:e], masked, u, bias_row, pad, relu, pool, *scratch,
                                  y[s:e], residual[s:e], added)

        self._share(work, n, images, o * c * 9 * n * oh * ow)
        return y

    def backward(self, dy, x, w, stride, pad, need_dx=True, relu_out=None):
        """(dx, dW, db) for the forward above, rebuilding each chunk's patches from x (dx None if not needed), or
        with no patches where Winograd's or the direct convolution's gradients serve the layer. With relu_out,
        the output of a forward with a fused ReLU, dy is first masked where it was not positive."""
        n, c = x.shape[:2]
        o, _, kh, kw = w.shape
        oh, ow = dy.shape[2], dy.shape[3]
        p = oh * ow
        wmat = np.ascontiguousarray(w).reshape(o, -1)
        dy3 = dy.reshape(n, o, p)
        y3 = None if relu_out is None else relu_out.reshape(n, o, p)
        address = self._blas_address(x, wmat, dy, *(() if relu_out is None else (relu_out,)))
        h, wd = x.shape[2:]
        # dx by Winograd (winograd.py, winograd4.py) where it pays: the convolution of dy with the filters
        # turned and transposed, a pass of its own after the weight gradient's
        winograd_dx = self._uses_winograd(o, c, kh, kw, stride, address, n, h, wd, dx=True) if (
            need_dx and pad <= 2) else None
        # or by the direct convolution (direct.py), the same convolution, on the layers its gates let in; either
        # reads relu_out too, as the mask of dy
        masks = () if relu_out is None else (relu_out,)
        direct_dx = need_dx and pad <= 2 and self._uses_direct("dx", o, c, kh, kw, stride, wd, x, w, dy, *masks)
        direct_dw = self._uses_direct("dw", c, o, kh, kw, stride, ow, x, w, dy, *masks)
        winograd_dw = self._uses_winograd_weights(c, o, kh, kw, stride, address, n, oh, ow) and (
            not need_dx or pad <= 2)
        # dx alone by the direct convolution would leave im2col's patches to the weight gradient alone: one patch
        # pass for both was faster (16 x 32 channels on 14 x 14, batch 100: 7.5 against 8.8 ms)
        direct_dx = direct_dx and (winograd_dw or direct_dw)
        dx = np.empty(x.shape, dtype=x.dtype) if need_dx else None
        if winograd_dw:
            # no patches at all: dW by F(3x3, 4x4) (winograd4.py), dx by a fast path, F(4x4, 3x3) if none other
            from . import winograd4

            if need_dx and winograd_dx is None and not direct_dx:
                winograd_dx = winograd4
            then = self._direct_input_gradient(dy, w, relu_out, pad, dx)[0] if direct_dx else None
            dw, db = self._winograd_weights(address, dy, x, relu_out, pad, w.shape, then)
            if then is None:
                self._input_gradient(dy, w, relu_out, pad, address, False, winograd_dx, dx)
            return dx, dw, db
        if winograd_dx is not None or direct_dx:
            need_dx = False
        if not need_dx and direct_dw:
            # no patches at all: the weight gradient by direct.py too
            then = self._direct_input_gradient(dy, w, relu_out, pad, dx)[0] if direct_dx else None
            dw, db = self._direct_weights(dy, x, relu_out, pad, w.shape, then)
            if then is None:
                self._input_gradient(dy, w, relu_out, pad, address, False, winograd_dx, dx)
            return dx, dw, db
        # the chunk routine, chosen once for the pass; each adds its chunk's dW^T and db into the thread's own
        # dw_t and db. dW^T = col dy^T: BLAS ran this shape twice as fast as dy col^T (a long inner dimension)
        if address is not None:
            from .blas import conv_backward_chunk

            def chunk(s, e, dw_t, db):
                m = e - s
                col = self.workers.buffer("col", c * kh * kw * m * p, x.dtype).reshape(c, kh, kw, m, oh, ow)
                xpad = self.workers.buffer("xpad", m * c * (h + 2 * pad) * (wd + 2 * pad), x.dtype)
                dyc = self.workers.buffer("dy", o * m * p, x.dtype).reshape(o, m, p)
                dcol = self.workers.buffer("dcol", col.size if need_dx else 0, x.dtype).reshape(
                    col.shape if need_dx else (0,) * 6)
                conv_backward_chunk(address, x[s:e], x.dtype.type(0), wmat, dy3[s:e],
                                    dy3[s:e] if y3 is None else y3[s:e], y3 is not None, kh, kw, stride, pad,
                                    col, xpad.reshape(m, c, h + 2 * pad, wd + 2 * pad), dyc, dw_t, db, dcol,
                                    dx[s:e] if need_dx else _NO_DX[x.dtype.type])
        else:
            def chunk(s, e, dw_t, db):
                col = self._im2col(x[s:e], kh, kw, stride, pad, oh, ow)
                rows = col.reshape(wmat.shape[1], -1)
                dyc = self.workers.buffer("dy", o * (e - s) * p, x.dtype).reshape(o, e - s, p)
                self._dout_rows(dy3[s:e], None if y3 is None else y3[s:e], dyc)
                db += dyc.reshape(o, -1).sum(axis=1)  # while the chunk is in cache
                part = self.workers.buffer("dw_part", dw_t.size, x.dtype).reshape(dw_t.shape)
                np.matmul(rows, dyc.reshape(o, -1).T, out=part)
                dw_t += part
                if dx is None:
                    return
                dcol = self.workers.buffer("dcol", col.size, x.dtype).reshape(col.shape)
                np.matmul(wmat.T, dyc.reshape(o, -1), out=dcol.reshape(rows.shape))
                self._col2im(dcol, stride, pad, dx[s:e])

        # each thread's dW^T sum in its own block of sums (K, O), its bias gradient in its row of db_sums
        sums = np.empty((self.workers.threads, wmat.shape[1], o), dtype=x.dtype)
        db_sums = np.empty((self.workers.threads, o), dtype=x.dtype)

        def work(k, chunks):
            sums[k] = 0
            db_sums[k] = 0
            for s, e in chunks:
                chunk(s, e, sums[k], db_sums[k])

        used = len(self._run(work, n, c * kh * kw * p * x.itemsize, o * c * kh * kw * n * p * (2 if need_dx else 1)))
        dx = self._input_gradient(dy, w, relu_out, pad, address, direct_dx, winograd_dx, dx)
        return dx, self._summed_weights(sums[:used], w.shape), db_sums[:used].sum(axis=0)

    def _summed_weights(self, sums, shape):
        """dW (shape) = the threads' dW^T sums (threads, K, O) added in thread order, then transposed: one
        compiled pass (outputs.summed_transpose; NumPy's transposed copy took 33 us for 64 x 576)."""
        dw = np.empty(shape, sums.dtype)
        if self.kernels is not None and self.kernels.usable(sums):
            self.kernels.summed_transpose(sums, dw.reshape(shape[0], -1))
            return dw
        total = sums[0].copy()
        for part in sums[1:]:
            total += part
        dw.reshape(shape[0], -1)[...] = total.T
        return dw

    def _input_gradient(self, dy, w, relu_out, pad, address, direct, winograd, dx):
        """dx for a 3x3 stride-1 layer by the direct convolution or by the Winograd module `winograd`, as backward
        chose (else dx as it is): dy, masked by relu_out unless None, convolved with the filters turned 180
        degrees and transposed, padded 2 - pad."""
        if direct:
            self._claimed(*self._direct_input_gradient(dy, w, relu_out, pad, dx), dy.shape[0])
        elif winograd is not None:
            self._winograd(winograd, address, dy, relu_out, winograd.gradient_weights(w, dy.dtype),
                           np.zeros(w.shape[1], dy.dtype), 2 - pad, False, False, dx)
        return dx

    def _direct_input_gradient(self, dy, w, relu_out, pad, dx):
        """_direct_work's (work, splits) for _input_gradient's direct convolution: work(k) as _share's `then`, or
        the pair to _claimed for the pass alone."""
        turned = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
        return self._direct_work(dy, relu_out, turned, np.zeros(w.shape[1], dy.dtype), 2 - pad, False, False, dx)

    def _winograd_weights(self, address, dy, x, relu_out, pad, shape, then=None):
        """(dW, db) of a 3x3 stride-1 layer by Winograd's F(3x3, 4x4) (winograd4.py), dy masked by relu_out
        unless None: each thread sums its chunks' 36 products, the threads' sums are added, then transformed
        once (in float64). Chunks as _winograd's; `then` as _share's."""
        from . import winograd4

        n, c = x.shape[:2]
        o, oh, ow = dy.shape[1:]
        th, tw = winograd4.tiles(oh, ow)
        masked = relu_out is not None
        mask = relu_out if masked else dy
        images = self._winograd_images(winograd4, c, o, th * tw, x.itemsize)

        def work(_, chunks):
            mw = np.zeros((winograd4.POSITIONS, o, c), x.dtype)
            db = np.zeros(o)
            for s, e in chunks:
                scratch = winograd4.gradient_scratch(self.workers.buffer, e - s, c, o, oh, ow, x.dtype)
                winograd4.weight_gradient_chunk(address, x[s:e], dy[s:e], mask[s:e], masked, pad, mw, db, *scratch)
            return mw, db

        parts = self._share(work, n, images, o * c * 9 * n * oh * ow, then)
        mw, db = parts[0]
        for part_w, part_b in parts[1:]:
            mw += part_w
            db += part_b
        return winograd4.weights_of(mw, shape, x.dtype), db.astype(x.dtype)

    def _direct_weights(self, dy, x, relu_out, pad, shape, then=None):
        """(dW, db) of a 3x3 stride-1 layer by direct.weight_chunk: each thread sums its images into its own
        dW and db, added in thread order (a given thread count gives the same bits every run); `then` as
        _share's."""
        from . import direct

        n, c, h, wd = x.shape
        o = shape[0]
        masked = relu_out is not None
        mask = relu_out if masked else dy

        def work(_, chunks):
            xpad, dyw = direct.scratch(self.workers.buffer, c, o, h, wd, pad, x.dtype)
            dw, db = np.zeros(shape, x.dtype), np.zeros(o, x.dtype)
            for s, e in chunks:
                direct.weight_chunk(x[s:e], dy[s:e], mask[s:e], masked, pad, xpad, dyw, dw, db)
            return dw, db

        parts = self._share(work, n, -(-n // self.workers.threads), o * c * 9 * dy[0, 0].size * n, then)
        dw, db = parts[0]
        for part_w, part_b in parts[1:]:
            dw += part_w
            db += part_b
        return dw, db

    def transposed(self, x, w, b, stride, pad, oh, ow):
        """y (N, C_out, oh, ow) = the transposed convolution of x (N, C_in, H, W) with w (C_in, C_out, KH, KW):
        the data half of backward above with x as dy, chunk by chunk (each chunk's W^T x, col2im and bias
        while in cache)."""
        n, cin, h, wd = x.shape
        _, cout, kh, kw = w.shape
        p = h * wd
        wmat_t = np.ascontiguousarray(w.reshape(cin, -1).T)  # (C_out*KH*KW, C_in): the convolution's W^T
        x3 = x.reshape(n, cin, p)
        y = np.empty((n, cout, oh, ow), dtype=x.dtype)
        address = self._blas_address(x, wmat_t, b)
        if address is not None:
            from .blas import conv_transpose_chunk

            def chunk(s, e):
                m = e - s
                xc = self.workers.buffer("dy", cin * m * p, x.dtype).reshape(cin, m, p)
                dcol = self.workers.buffer("dcol", wmat_t.shape[0] * m * p, x.dtype).reshape(cout, kh, kw, m, h, wd)
                ypad = self.workers.buffer("xpad", m * cout * (oh + 2 * pad) * (ow + 2 * pad), x.dtype)
                conv_transpose_chunk(address, x3[s:e], wmat_t, b, stride, pad, xc, dcol, y[s:e],
                                     ypad.reshape(m, cout, oh + 2 * pad, ow + 2 * pad))
        else:
            def chunk(s, e):
                xc = self.workers.buffer("dy", cin * (e - s) * p, x.dtype).reshape(cin, e - s, p)
                self._dout_rows(x3[s:e], None, xc)
                dcol = self.workers.buffer("dcol", wmat_t.shape[0] * (e - s) * p, x.dtype)
                dcol = dcol.reshape(cout, kh, kw, e - s, h, wd)
                np.matmul(wmat_t, xc.reshape(cin, -1), out=dcol.reshape(wmat_t.shape[0], -1))
                self._col2im(dcol, stride, pad, y[s:e])
                y[s:e] += b.reshape(1, cout, 1, 1)

        def work(_, chunks):
            for s, e in chunks:
                chunk(s, e)

        self._run(work, n, cout * kh * kw * p * x.itemsize, cout * cin * kh * kw * n * p)
        return y


_NO_DX = {t: np.empty((0, 0, 0, 0), dtype=t) for t in (np.float32, np.float64)}  # "no input gradient"
