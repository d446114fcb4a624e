"""NVIDIA's compiler on the CUDA source CuPy generates for every kernel (tests/cuda_source.py), with no GPU:
every kernel x {float16, float32, float64} x {32-bit, 64-bit indexing}, for sm_80 (A100) and sm_90
(H100/H200), must give a cubin holding the kernel's entry point, with no register spills.

Skipped where CuPy or the NVRTC wheels are missing, unless DEEPNET_REQUIRE_NVRTC=1 (CI sets it, and
installs the `gpu-check` extra): then a missing piece, or CuPy internals that moved, fail the run."""
import re

import numpy as np
import pytest

from deepnet.backends.cuda import kernels as cupy_kernels

from .. import cuda_source

DTYPES = [np.float16, np.float32, np.float64]
ARCHS = [80, 90]


def _setup():
    try:
        cuda_source.import_cupy_internals()
        cuda_source.compile_ptx("extern \"C\" __global__ void probe() {}", 80)
    except Exception as exc:  # ImportError, a missing libnvrtc, internals that moved
        return f"{type(exc).__name__}: {exc}"
    return None


PROBLEM = _setup()


@pytest.fixture(autouse=True)
def nvrtc():
    if PROBLEM is not None:
        if cuda_source.required():
            pytest.fail(f"DEEPNET_REQUIRE_NVRTC is set but NVRTC cannot compile: {PROBLEM}")
        pytest.skip(f"NVRTC unavailable (pip install -e '.[gpu-check]'): {PROBLEM}")


@pytest.mark.parametrize("index_32", [True, False], ids=["idx32", "idx64"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", sorted(cupy_kernels.KERNELS))
def test_kernel_compiles_to_a_cubin_without_spills(name, dtype, index_32):
    entry, source = cuda_source.kernel_source(name, dtype, index_32)
    assert f'extern "C" __global__ void {entry}(' in source
    assert ("CIndexer<1, 1>" if index_32 else "CIndexer<1, 0>") in source
    for arch in ARCHS:
        cubin, log = cuda_source.compile_cubin(source, arch)
        assert cubin[:4] == b"\x7fELF", f"{entry} sm_{arch}: not an ELF cubin"
        assert entry.encode() in cubin, f"{entry} sm_{arch}: entry point missing from the cubin"
        assert f"Compiling entry function '{entry}' for 'sm_{arch}'" in log, log
        spills = re.findall(r"(\d+) bytes spill stores, (\d+) bytes spill loads", log)
        assert spills and all(s == ("0", "0") for s in spills), f"{entry} sm_{arch} spills registers:\n{log}"
        registers = [int(r) for r in re.findall(r"Used (\d+) registers", log)]
        assert registers and max(registers) <= 64, f"{entry} sm_{arch}: {registers} registers"


def test_nvrtc_rejects_what_gcc_would_accept():
    # the reason this test exists beside the CPU executor: device code has rules of its own
    _, source = cuda_source.kernel_source("im2col", np.float32)
    bad = source.replace("long long r = i;", "long long r = i; int vla[C]; vla[0] = 0; (void)vla;")
    with pytest.raises(Exception, match="(?i)constant|variable length|expression must have a constant value"):
        cuda_source.compile_cubin(bad, 90)


def test_float16_source_uses_cuda_half_type():
    _, source = cuda_source.kernel_source("max_pool", np.float16)
    assert "CArray<float16, 4, 1, 1> img" in source and "typedef float ACC;" in source
    ptx = cuda_source.compile_ptx(source, 90)
    assert ".visible .entry deepnet_max_pool_float" in ptx


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_a_real_launch_compiles_the_source_tested_here(gpu, dtype):
    """On a GPU: after real launches, each kernel's cached code is one of the sources compiled above, so
    the NVRTC tests and the CPU executor test what the GPU runs."""
    from deepnet import backends

    with backends.use(gpu):
        x = gpu.to_device(np.arange(2 * 3 * 7 * 6, dtype=dtype).reshape(2, 3, 7, 6) % 5)
        col = gpu.im2col(x, 3, 2, 2, 1)
        gpu.col2im(col, x.shape, 3, 2, 2, 1)
        y, arg = gpu.max_pool(x, 2, 2, 2, 0)
        gpu.max_pool_backward(y, arg, x.shape, 2, 2, 2, 0)
        gpu.synchronize()
    for name in cupy_kernels.KERNELS:
        kernel = gpu._kernel(name, np.dtype(dtype))
        codes = list(kernel.cached_codes.values())
        assert len(codes) == 1, f"{name}: {len(codes)} compiled variants"
        expected = {cuda_source.kernel_source(name, dtype, idx)[1] for idx in (True, False)}
        assert codes[0] in expected, f"{name} ({np.dtype(dtype).name}): the launched source differs:\n{codes[0]}"
