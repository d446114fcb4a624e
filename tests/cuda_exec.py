"""The CUDA kernels of backends/cuda/kernels.py, executed on the CPU (no GPU, no CuPy needed).

Every kernel there runs one thread per output element and only gathers: no shared memory, barriers or
atomics, so each thread's result depends on its index alone. Running the kernel body once per index in a
plain loop therefore computes exactly what the GPU computes. This module turns a kernel's ElementwiseKernel
spec into such a loop in C++, binding the parameters as CuPy does:

- a `raw` array parameter is the whole array, indexed by the body (here through a bounds-checked view:
  an out-of-range index is counted and reported, never read);
- a non-raw array parameter is the element at the thread's index (`T &out = _raw_out[i]`);
- a non-raw input is a scalar of its type (`int32` -> int, `T` -> the array type): deepnet passes every
  input array as `raw`, and the executor refuses an array there rather than guess a broadcast.

T is float16 (GCC's `_Float16`), float32 or float64; the kernel's `ACC` typedef comes from the preamble
deepnet gives it. g++ compiles the file to a shared library, loaded with ctypes.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

CTYPES = {np.dtype(np.float16): "_Float16", np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
# no -ffast-math and no -march: IEEE arithmetic with no fused multiply-add, so results are the reference's bits
FLAGS = "-std=c++17 -O2 -shared -fPIC -Wall -Werror -Wno-unused-variable -Wno-unused-but-set-variable"
_CACHE = Path(tempfile.gettempdir()) / f"deepnet-cuda-exec-{os.getuid() if hasattr(os, 'getuid') else 0}"


def available() -> bool:
    return shutil.which("g++") is not None


def _params(text: str) -> list[tuple[bool, str, str]]:
    """(raw, type, name) for each parameter of an ElementwiseKernel parameter list."""
    out = []
    for p in text.split(","):
        words = p.split()
        raw = words[0] == "raw"
        out.append((raw, words[-2], words[-1]))
    return out


def cpp_source(spec: dict, dtype, acc: str) -> str:
    dtype = np.dtype(dtype)
    ins, outs = _params(spec["in_params"]), _params(spec["out_params"])
    out_names = {name for _, _, name in outs}
    ctype = {"T": "T", "int32": "int", "int64": "long long", "uint32": "unsigned int"}
    unpack, bind = [], []
    for k, (raw, typ, name) in enumerate(ins + outs):
        c = ctype[typ]
        const = "const " if name not in out_names else ""
        if raw:
            unpack.append(f"    Raw<{const}{c}> {name}{{({const}{c}*)ptrs[{k}], lens[{k}], &bad}};")
        elif name not in out_names:  # a non-raw input: a scalar (deepnet passes every input array raw)
            unpack.append(f"    const {c} {name} = ({c})scalars[{k}];")
        else:
            unpack.append(f"    {c}* _raw_{name} = ({c}*)ptrs[{k}];")
            unpack.append(f"    if (lens[{k}] != size) return -1;")
            bind.append(f"        {const}{c} &{name} = _raw_{name}[i];")
    return f"""#include <cmath>
#include <type_traits>
using std::sqrt;
typedef {CTYPES[dtype]} T;
typedef {acc} ACC;

template <typename V> struct Raw {{
    V* p; long long n; long long* bad;
    V& operator[](long long k) const {{
        static typename std::remove_const<V>::type dummy;
        if (k < 0 || k >= n) {{ ++*bad; dummy = 0; return dummy; }}
        return p[k];
    }}
}};

extern "C" long long run(long long size, void** ptrs, const long long* lens, const double* scalars) {{
    long long bad = 0;
{chr(10).join(unpack)}
    for (long long i = 0; i < size; ++i) {{
{chr(10).join(bind)}
{spec["operation"]}
    }}
    return bad;
}}
"""


class CpuKernel:
    """A kernel spec compiled for one dtype; call it with the arguments the CuPy backend passes."""

    def __init__(self, spec: dict, dtype, acc: str | None = None):
        self.spec, self.dtype = spec, np.dtype(dtype)
        acc = acc or ("double" if self.dtype.itemsize == 8 else "float")
        source = cpp_source(spec, self.dtype, acc)
        self.source = source
        _CACHE.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256((source + FLAGS).encode()).hexdigest()[:20]
        lib = _CACHE / f"{spec['name']}_{digest}.so"
        if not lib.exists():
            src = _CACHE / f"{spec['name']}_{digest}.cpp"
            src.write_text(source)
            tmp = lib.with_suffix(f".{os.getpid()}.tmp")
            r = subprocess.run(["g++", *FLAGS.split(), str(src), "-o", str(tmp)],
                               capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(f"g++ rejected {spec['name']} ({self.dtype}):\n{r.stderr}\n{source}")
            os.replace(tmp, lib)
        self._run = ctypes.CDLL(str(lib)).run
        self._run.restype = ctypes.c_longlong
        self.params = _params(spec["in_params"]) + _params(spec["out_params"])

    def __call__(self, *args, size=None):
        """Run over every index (`size` of them where every array is raw, as CuPy's size=); returns the outputs.
        Raises on a bad argument or an out-of-range read."""
        if len(args) != len(self.params):
            raise TypeError(f"{self.spec['name']} takes {len(self.params)} arguments, got {len(args)}")
        n = len(args)
        ptrs, lens, scalars = (ctypes.c_void_p * n)(), (ctypes.c_longlong * n)(), (ctypes.c_double * n)()
        given, size, keep = size, None, []
        for k, ((raw, typ, name), a) in enumerate(zip(self.params, args)):
            is_output = k >= len(self.params) - len(_params(self.spec["out_params"]))
            if isinstance(a, np.ndarray) and not raw and not is_output:
                raise TypeError(f"{name} is a scalar parameter; got an array")
            if isinstance(a, np.ndarray):
                want = self.dtype if typ == "T" else np.dtype(np.int32)
                if a.dtype != want or not a.flags.c_contiguous:
                    raise TypeError(f"{name}: expected a C-contiguous {want} array, got {a.dtype}")
                ptrs[k], lens[k] = a.ctypes.data, a.size
                keep.append(a)
                if not raw:
                    if size is not None and a.size != size:
                        raise ValueError(f"{name}: {a.size} elements, but the other non-raw arrays have {size}")
                    size = a.size
            else:
                if raw:
                    raise TypeError(f"{name} is a raw array parameter; got {type(a).__name__}")
                scalars[k] = float(a)
        if given is not None:
            if size is not None:
                raise ValueError("size= is for kernels whose arrays are all raw (CuPy refuses it otherwise)")
            size = given
        if size is None:
            raise ValueError("no non-raw array gives the launch size")
        bad = self._run(size, ptrs, lens, scalars)
        if bad < 0:
            raise ValueError("a non-raw array's size differs from the launch size")
        if bad:
            raise IndexError(f"{self.spec['name']}: {bad} reads or writes outside a raw array")
        outs = args[len(self.params) - len(_params(self.spec["out_params"])):]
        return outs[0] if len(outs) == 1 else tuple(outs)
