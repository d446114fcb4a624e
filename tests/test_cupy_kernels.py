"""The CUDA kernel sources compile as C++ (a syntax check that needs no GPU), in every precision."""
import re
import shutil
import subprocess

import pytest

from deepnet.backends import cupy_kernels

TYPES = {"int32": "int", "T": "T"}


def as_cpp(spec, t: str, acc: str) -> str:
    params = []
    for p in spec["in_params"].split(","):
        words = p.split()
        raw = words[0] == "raw"
        typ, name = TYPES[words[-2]], words[-1]
        params.append(f"const {typ}* {name}" if raw else f"const {typ} {name}")
    for p in spec["out_params"].split(","):
        typ, name = p.split()
        params.append(f"{TYPES[typ]}& {name}")
    return (f"typedef {t} T;\ntypedef {acc} ACC;\n"
            f"void kernel(long long i, {', '.join(params)}) {{\n{spec['operation']}\n}}\n")


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed")
@pytest.mark.parametrize("name", sorted(cupy_kernels.KERNELS))
@pytest.mark.parametrize("t,acc", [("float", "float"), ("double", "double")])
def test_kernel_source_compiles(tmp_path, name, t, acc):
    src = tmp_path / f"{name}.cpp"
    src.write_text(as_cpp(cupy_kernels.KERNELS[name], t, acc))
    r = subprocess.run(["g++", "-std=c++14", "-fsyntax-only", "-Wall", "-Werror", "-Wno-unused-variable", str(src)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_every_kernel_has_a_gpu_test():
    text = open(__file__.replace("test_cupy_kernels.py", "test_gpu.py")).read()
    for name in cupy_kernels.KERNELS:
        assert re.search(rf"\b{name}\b", text), f"no GPU test mentions {name}"
