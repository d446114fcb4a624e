#!/usr/bin/env bash
# The project's one-call GPU check, run from the repository root on a machine with an NVIDIA GPU and no internet:
#   bash benchmarks/gpu_check.sh            # writes everything under $OUT (default benchmarks/results/gpu)
# Prepare first, on the CPU machine: bash benchmarks/prepare_gpu_carry.sh, then bring data/ and wheelhouse/ along to the GPU machine.
# Stages are time-boxed so the whole check fits about 12 minutes of device time.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/results/gpu}
mkdir -p "$OUT"
export DEEPNET_DATA=${DEEPNET_DATA:-$PWD/data} DEEPNET_MNIST_MIRRORS=none PYTHONUNBUFFERED=1
log() { echo "== $(date -u +%H:%M:%S) $*" | tee -a "$OUT/gpu_check.log"; }

log "install (offline: wheelhouse/ carried in, no build isolation)"
python -m pip install -q --no-index --find-links wheelhouse setuptools wheel tqdm platformdirs threadpoolctl pytest \
  pillow matplotlib mpi4py mpich >>"$OUT/gpu_check.log" 2>&1
# deepnet itself; if even that fails, the checkout still imports (deepnet/__init__.py finds backends/)
python -m pip install -q --no-deps --no-build-isolation -e . >>"$OUT/gpu_check.log" 2>&1 || log "pip install -e failed"
nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1

log "deepnet info"
DEEPNET_BACKEND=gpu timeout 120 python -m deepnet info 2>&1 | tee "$OUT/info.txt"

log "the whole test suite with DEEPNET_BACKEND=gpu"
DEEPNET_BACKEND=gpu timeout 240 python -m pytest -q -ra --junitxml="$OUT/pytest.xml" >"$OUT/pytest.txt" 2>&1
tail -n 40 "$OUT/pytest.txt"

log "Figure 8.14: AlexNet forward by layer type, CPU and GPU side by side (batch 8)"
timeout 150 python benchmarks/layer_breakdown.py --backend cpu gpu --batch 8 --repeats 3 --out "$OUT" --tag cpu_gpu \
  2>&1 | tail -n 16
log "AlexNet forward on the GPU at batch 128"
timeout 90 python benchmarks/layer_breakdown.py --backend gpu --batch 128 --repeats 5 --out "$OUT" --tag gpu128 \
  2>&1 | tail -n 12

log "Figure 8.15: training time, deepnet and PyTorch, CPU and GPU"
timeout 200 python benchmarks/train_time.py --backend gpu cpu --batch 100 --alexnet-batch 8 --steps 5 --rounds 1 --out "$OUT" \
  --tag cpu_gpu 2>&1 | tail -n 20
timeout 120 python benchmarks/train_time.py --backend gpu --batch 1 10 100 1000 --alexnet-batch 128 --rounds 1 --out "$OUT" \
  --tag gpu_batches 2>&1 | tail -n 20

log "DeepConvNet on MNIST on the GPU (book settings, time-boxed)"
DEEPNET_BACKEND=gpu timeout 240 python -m deepnet train --out "$OUT/run-deepconvnet" --no-progress 2>&1 | tail -n 25
log "done"
