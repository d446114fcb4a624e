#!/usr/bin/env bash
# Prepares what benchmarks/gpu_check.sh needs on a GPU machine with no internet:
#   data/mnist.npz   the verified MNIST cache
#   wheelhouse/      wheels of the dependencies that machine's image lacks (it has NumPy, CuPy, PyTorch,
#                    matplotlib, pillow, numba, pytest, tqdm, threadpoolctl and the cuDNN runtime; not
#                    platformdirs, nor NVIDIA's cuDNN frontend for DEEPNET_CONV=cudnn)
# Then bring data/ and wheelhouse/ along to the GPU machine, beside the checkout (about 15 MiB in all).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${GPU_PYTHON_VERSION:-3.12}
mkdir -p data wheelhouse
DEEPNET_DATA=$PWD/data ${PYTHON:-python} -c "from deepnet.datasets import fetch_mnist; print(fetch_mnist()[1])"
${PYTHON:-python} -m pip download -q --only-binary=:all: --python-version "$PY" --platform manylinux2014_x86_64 \
  --platform manylinux_2_17_x86_64 --platform any -d wheelhouse platformdirs nvidia-cudnn-frontend
du -sh data wheelhouse
