"""Every CUDA kernel has a GPU test. (Without a GPU, tests/backends/test_cuda_compile.py compiles each kernel with
NVIDIA's compiler and tests/backends/test_cuda_kernels_on_cpu.py executes each one on the CPU against NumPy.)"""
import re

from deepnet.backends.cuda import kernels as cupy_kernels


def test_every_kernel_has_a_gpu_test():
    text = open(__file__.replace("test_cupy_kernels.py", "test_gpu.py")).read()
    for name in cupy_kernels.KERNELS:
        assert re.search(rf"\b{name}\b", text), f"no GPU test mentions {name}"
