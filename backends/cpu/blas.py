"""NumPy's own BLAS, called from compiled (Numba) code: a convolution chunk in one call without the GIL.

The chunked convolution (conv.py) does three things per chunk: im2col, a matrix product, the output
pass. Called one by one from Python, each gives up the GIL and takes it back; two threads doing so
wake each other up several times per chunk, and on a virtual machine each wake-up costs 40-100
microseconds. With the product called from inside the compiled kernel, a chunk is one call: one hand-off
instead of three (measured: benchmarks/results/cpu_tuning.md; benchmarks/README.md, "Threads that spin").

The product is the very routine np.matmul runs: the cblas_?gemm of the OpenBLAS that NumPy's wheels bundle
(64-bit integers, symbols scipy_cblas_sgemm64_ / dgemm64_), found through threadpoolctl. Any other BLAS
(MKL, Accelerate, a 32-bit-integer OpenBLAS) is not called from here: `addresses()` gives None and the
convolution keeps calling np.matmul.
"""
from __future__ import annotations

import ctypes
import functools
import os

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from . import vectors  # noqa: F401  (first: the vector width the kernels below are compiled for)
from .outputs import bias_out, bias_relu_pool_out, dout_rows, total
from .patches import col2im_rows, im2col_rows

# CBLAS's enumerations
ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112
#: the 64-bit-integer CBLAS products, as NumPy's bundled OpenBLAS names them (with and without its prefix)
SYMBOLS = (("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_"), ("cblas_sgemm64_", "cblas_dgemm64_"))


@functools.cache
def addresses() -> tuple[int, int] | None:
    """(sgemm, dgemm) addresses in NumPy's BLAS, or None where it is not a 64-bit-integer OpenBLAS."""
    try:
        from threadpoolctl import threadpool_info

        libs = [i for i in threadpool_info() if i.get("user_api") == "blas" and i.get("internal_api") == "openblas"]
    except Exception:  # threadpoolctl could not look: the np.matmul path is always there
        return None
    numpy_dir = os.path.dirname(os.path.dirname(np.__file__))
    for info in sorted(libs, key=lambda i: not str(i.get("filepath", "")).startswith(numpy_dir)):
        try:
            lib = ctypes.CDLL(info["filepath"])
        except OSError:
            continue
        for single, double in SYMBOLS:
            try:
                s, d = getattr(lib, single), getattr(lib, double)
            except AttributeError:
                continue
            return ctypes.cast(s, ctypes.c_void_p).value, ctypes.cast(d, ctypes.c_void_p).value
    return None


@intrinsic
def _gemm(typingctx, address, trans_a, trans_b, m, n, k, a, b, c, beta):
    """cblas_?gemm(RowMajor, trans_a, trans_b, m, n, k, 1, a, lda, b, ldb, beta, c, n) through a function
    address: C (m, n) = A (m, k) B (k, n) + beta C; with trans_a = TRANS, A^T in A's place (a then (k, m)),
    with trans_b = TRANS, B^T (b then (n, k)). Every array C-contiguous, all of one float dtype."""
    dtype = a.dtype
    sig = types.void(address, trans_a, trans_b, m, n, k, a, b, c, beta)

    def codegen(context, builder, signature, args):
        address, trans_a, trans_b, m, n, k, a, b, c, beta = args
        real = ir.FloatType() if dtype == types.float32 else ir.DoubleType()
        i32, i64 = ir.IntType(32), ir.IntType(64)
        fnty = ir.FunctionType(ir.VoidType(), [i32, i32, i32, i64, i64, i64, real, real.as_pointer(), i64,
                                               real.as_pointer(), i64, real, real.as_pointer(), i64])
        fn = builder.inttoptr(address, fnty.as_pointer())

        def data(value, aty):
            return builder.bitcast(context.make_array(aty)(context, builder, value).data, real.as_pointer())

        lda = builder.select(builder.icmp_signed("==", trans_a, i64(TRANS)), m, k)
        ldb = builder.select(builder.icmp_signed("==", trans_b, i64(TRANS)), k, n)
        beta = builder.fptrunc(beta, real) if dtype == types.float32 else beta
        builder.call(fn, [i32(ROW_MAJOR), builder.trunc(trans_a, i32), builder.trunc(trans_b, i32), m, n, k,
                          ir.Constant(real, 1.0), data(a, signature.args[6]), lda, data(b, signature.args[7]), ldb,
                          beta, data(c, signature.args[8]), n])
        return context.get_dummy_value()

    return sig, codegen


@numba.njit(cache=True, nogil=True)
def gemm(address, a, b, c, beta=0.0, trans_b=False, trans_a=False):
    """c = a @ b + beta c for C-contiguous 2-D arrays of one float dtype; a.T in a's place with trans_a, b.T in
    b's with trans_b."""
    m, k = (a.shape[1], a.shape[0]) if trans_a else (a.shape[0], a.shape[1])
    n = c.shape[1]
    _gemm(np.int64(address), np.int64(TRANS if trans_a else NO_TRANS), np.int64(TRANS if trans_b else NO_TRANS),
          np.int64(m), np.int64(n), np.int64(k), a, b, c, np.float64(beta))


# --- one chunk of the chunked convolution (conv.ChunkedConv), in one call ------------------------------
# The same steps, in the same layouts, as the Python loop in conv.py: patches (C, KH, KW, n, OH, OW),
# products (O, n, OH*OW), outputs (n, O, OH, OW).

@numba.njit(cache=True, nogil=True)
def _product(address, x, fill, wmat, kh, kw, stride, pad, col, xpad, prod):
    """prod (O, n, OH*OW) = W col, col the patches of the chunk's images x (n, C, H, W)."""
    im2col_rows(x, kh, kw, stride, pad, fill, col, xpad)
    o, k = wmat.shape
    gemm(address, wmat, col.reshape((k, col.size // k)), prod.reshape((o, prod.size // o)))


@numba.njit(cache=True, nogil=True)
def conv_forward_chunk(address, x, fill, wmat, b, kh, kw, stride, pad, relu, col, xpad, prod, y):
    """y = W col + b (rectified with relu) for the chunk's images x (n, C, H, W); col, xpad, prod are scratch."""
    _product(address, x, fill, wmat, kh, kw, stride, pad, col, xpad, prod)
    bias_out(prod, b, relu, y)


@numba.njit(cache=True, nogil=True)
def conv_relu_pool_chunk(address, x, fill, wmat, b, kh, kw, stride, pad, ow, col, xpad, prod, y):
    """y (n, O, OH//2, OW//2) = 2x2/2 max-pooling of max(W col + b, 0): inference's convolution, ReLU and
    pooling in one pass over the product (kernels.bias_relu_pool_out)."""
    _product(address, x, fill, wmat, kh, kw, stride, pad, col, xpad, prod)
    bias_relu_pool_out(prod, b, ow, y)


@numba.njit(cache=True, nogil=True)
def conv_backward_chunk(address, x, fill, wmat, dy, y, relu, kh, kw, stride, pad, col, xpad, dyc, dw_t, db,
                        dcol, dx):
    """Adds the chunk's dW^T = col dy^T into dw_t and its bias gradient into db; writes dx (n, C, H, W) from
    dcol = W^T dy (wmat = W (O, K), read transposed by the product: as fast here as a transposed copy, which
    cost 18 us a call) unless dx has no elements. dy (n, O, P) is first masked where y was not positive
    (relu)."""
    im2col_rows(x, kh, kw, stride, pad, fill, col, xpad)
    k, o = dw_t.shape
    dout_rows(dy, y, relu, dyc)
    d2 = dyc.reshape((o, dyc.size // o))
    for c in range(o):  # in double precision: a sum over up to a chunk's n * OH * OW values
        db[c] += total(d2[c])
    gemm(address, col.reshape((k, col.size // k)), d2, dw_t, 1.0, True)
    if dx.size:
        gemm(address, wmat, d2, dcol.reshape((k, dcol.size // k)), 0.0, False, True)
        col2im_rows(dcol, stride, pad, dx, xpad)


@numba.njit(cache=True, nogil=True)
def conv_transpose_chunk(address, x, wmat_t, b, stride, pad, xc, dcol, y, ypad):
    """y (n, C_out, OH, OW) = col2im(W^T x) + b for the chunk's images x (n, C_in, H, W): the data half of a
    convolution's backward (conv_backward_chunk's dx), x in dy's place. xc, dcol, ypad are scratch."""
    dout_rows(x, x, False, xc)
    k, cin = wmat_t.shape
    gemm(address, wmat_t, xc.reshape((cin, xc.size // cin)), dcol.reshape((k, dcol.size // k)))
    col2im_rows(dcol, stride, pad, y, ypad)
    n, cout = y.shape[0], y.shape[1]
    for i in range(n):
        for c in range(cout):
            y[i, c] += b[c]
