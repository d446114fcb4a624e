"""The CPU backend (`cpu`, and `cpu-reference`): NumPy, with the convolution run in cache-sized chunks of the
batch on one thread per core and, with the `fast` extra, compiled (Numba) kernels.

    backend.py          the backend class: what it overrides of the reference, and its registration
    conv.py             the chunked convolution (forward, backward, the pooled inference pass)
    threads.py          the worker threads that share a pass among the cores, and the spinning crew
    tuning.py           when work is split among the threads, chunk sizes, the spin count
    strided_pooling.py  max-pooling in plain NumPy (strided views)
    blas.py             NumPy's own BLAS product, called from compiled code (one call a chunk)
    winograd.py         Winograd's F(2x2, 3x3) for the wide 3x3 stride-1 convolutions (forward and dx)
    winograd4.py        Winograd's F(4x4, 3x3) for the 64-channel layers' dx (and the 32- and 64-channel forward
                        where the direct convolution is off), F(3x3, 4x4) for their dW
    direct.py           the direct 3x3 stride-1 convolution (forward and dx of the layers up to 64 channels,
                        dW of the 16-channel ones)
    direct_block.py     its sums in registers, written in LLVM IR
    kernels.py          the compiled kernels (Numba), gathered from the modules of their jobs:
    patches.py, pooling.py, outputs.py, popcount.py, spin.py
    vectors.py          512-bit vectors for them on processors with AVX-512 (imported by each first)
"""
from . import backend  # noqa: F401  (registers the backends)
