"""The exact CUDA source CuPy generates for deepnet's kernels, and NVIDIA's compiler (NVRTC) run on it,
with no GPU and no driver: NVRTC is a compiler library.

CuPy builds an ElementwiseKernel's source from its parameters, operation, name and preamble, and the
arguments' kinds (array or scalar, dtype, ndim, contiguity, 32- or 64-bit indexing). This module asks
CuPy's own code generator (cupy._core._kernel._get_elementwise_kernel_code) for the source a launch from
backends/cuda/backend.py produces, and compiles it with the options CuPy uses, for an architecture given
explicitly (CuPy's public compile_using_nvrtc asks the driver for it, which needs a GPU).

These are CuPy internals, pinned by the `gpu-check` extra to CuPy 14; if they move, the tests fail
loudly (with DEEPNET_REQUIRE_NVRTC=1, as CI sets it) instead of skipping.
"""
from __future__ import annotations

import io
import os

import numpy as np

# What the CuPy backend passes for each parameter of each kernel: the ndim of every raw array.
RAW_NDIM = {"img": 4, "col": 6, "dout": 4, "arg": 4, "g": 1, "xc": 3, "inv_std": 1, "gamma": 1, "beta": 1, "dy": 3,
            "xhat": 3, "y": 4, "prod": 4, "b": 1, "mean": 1, "var": 1, "running_mean": 1, "running_var": 1, "dbeta": 1,
            "dgamma": 1,
            **{f"{a}{k}": 1 for a in "pgmv" for k in range(16)}}  # adam_multi's slots: flattened parameters
ARG_KIND_NDARRAY, ARG_KIND_INDEXER, ARG_KIND_SCALAR = 1, 2, 3  # cupy/_core/_kernel.pxd's _ArgKind


def required() -> bool:
    return os.environ.get("DEEPNET_REQUIRE_NVRTC", "") not in ("", "0")


def import_cupy_internals():
    """(cupy, _kernel, _scalar, _carray, core, compiler); ImportError with the reason if unavailable."""
    import cupy
    from cupy._core import _carray, _kernel, _scalar, core
    from cupy.cuda import compiler

    return cupy, _kernel, _scalar, _carray, core, compiler


def kernel_source(name: str, dtype, index_32: bool = True) -> tuple[str, str]:
    """(entry point, CUDA source without CuPy's header includes) for kernel `name` in `dtype`, as the CuPy
    backend launches it: raw input arrays C-contiguous, outputs contiguous (reduced to one dimension)."""
    from deepnet.backends.cuda import kernels as cupy_kernels

    cupy, _kernel, _scalar, _carray, _, _ = import_cupy_internals()
    dtype = np.dtype(dtype)
    k = cupy_kernels.build(cupy, name, dtype)  # a real ElementwiseKernel: no device touched
    outs = {p.name for p in k.out_params}
    infos = []
    for p in k.in_params + k.out_params:
        pdtype = dtype if p.ctype == "T" else np.dtype(p.dtype)
        if p.raw:
            infos.append(_kernel._ArgInfo(ARG_KIND_NDARRAY, cupy.ndarray, pdtype, RAW_NDIM[p.name], True, index_32))
        elif p.name in outs:
            infos.append(_kernel._ArgInfo(ARG_KIND_NDARRAY, cupy.ndarray, pdtype, 1, True, index_32))
        else:
            infos.append(_kernel._ArgInfo(ARG_KIND_SCALAR, _scalar.CScalar, pdtype, 0, True, True))
    infos.append(_kernel._ArgInfo(ARG_KIND_INDEXER, _carray.Indexer, None, 1, True, index_32))
    type_map = _kernel._TypeMap((("T", dtype),))
    code = _kernel._get_elementwise_kernel_code(tuple(infos), type_map, k.params, k.operation, k.name, k.preamble)
    return k.name, code


def compile_cubin(source: str, arch: int) -> tuple[bytes, str]:
    """(cubin, compiler log with ptxas's register and spill report) for sm_`arch`, CuPy's options."""
    _, _, _, _, core, compiler = import_cupy_internals()
    headers = "".join(f"#include <{h}>\n" for h in core._cupy_header_list)
    options = core.assemble_cupy_compiler_options(()) + (
        "-ftz=true", f"--gpu-architecture=sm_{arch}", "--device-as-default-execution-space", "-Xptxas=-v")
    prog = compiler._NVRTCProgram(headers + source, "deepnet_kernel.cu", (), (), method="cubin")
    log = io.StringIO()
    cubin, _ = prog.compile(options, log)
    return cubin, log.getvalue()


def compile_ptx(source: str, arch: int) -> str:
    _, _, _, _, core, compiler = import_cupy_internals()
    headers = "".join(f"#include <{h}>\n" for h in core._cupy_header_list)
    options = core.assemble_cupy_compiler_options(()) + (
        "-ftz=true", f"--gpu-architecture=compute_{arch}", "--device-as-default-execution-space")
    prog = compiler._NVRTCProgram(headers + source, "deepnet_kernel.cu", (), (), method="ptx")
    ptx, _ = prog.compile(options, io.StringIO())
    return ptx.decode() if isinstance(ptx, bytes) else ptx
