"""The CUDA backend (`gpu`): CuPy on an NVIDIA GPU, with deepnet's own CUDA kernels.

    backend.py   the backend class and its registration (CuPy is imported only when it opens)
    kernels.py   the CUDA kernels (patches, pooling, Adam, batch norm, bias+ReLU, dropout's numbers), as source
                 CuPy compiles with NVRTC
    cudnn.py     the optional cuDNN convolution (DEEPNET_CONV=cudnn)
    nccl.py      the gradient all-reduce between GPUs (NCCL)
"""
from . import backend  # noqa: F401  (registers the backend)
