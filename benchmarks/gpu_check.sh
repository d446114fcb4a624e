#!/usr/bin/env bash
# The project's GPU check, for a machine with an NVIDIA GPU and no internet (data and wheels brought along):
#
#   bash benchmarks/prepare_gpu_carry.sh          # first, on a machine with internet: data/ and wheelhouse/
#   bash benchmarks/gpu_check.sh correctness      # then on the GPU machine, one stage per command,
#   bash benchmarks/gpu_check.sh figures          # correctness first; each stage finishes within 8 minutes
#   bash benchmarks/gpu_check.sh train            # (the timeouts below add up to less)
#
# Each stage writes its results under $OUT/STAGE/ and packs them into $OUT/STAGE.tar.gz beside its log
# $OUT/STAGE.log: two files a stage, so the three stages return at most six files. Back on the project's
# machine, `bash benchmarks/gpu_unpack.sh DIR` unpacks the archives found in DIR into benchmarks/results/gpu/.
#
#   correctness  deepnet info; the GPU-marked tests (every kernel and layer against NumPy, the CuPy API
#                calls, the kernels' launched source equal to the source compiled without a GPU); every
#                registered backend against the CPU backend
#   figures      Figure 8.14 (AlexNet forward time by layer type, CPU and GPU) and Figure 8.15 (training
#                time, deepnet and PyTorch, CPU and GPU, fresh process per library, alternating rounds)
#   train        DeepConvNet on MNIST on the GPU with the default recipe, time-boxed, then its evaluation
set -uo pipefail
cd "$(dirname "$0")/.."
stage=${1:?usage: gpu_check.sh correctness|figures|train}
OUT=${OUT:-benchmarks/results/gpu}
dir=$OUT/$stage
mkdir -p "$dir"
logfile=$OUT/$stage.log
: >"$logfile"
export DEEPNET_DATA=${DEEPNET_DATA:-$PWD/data} DEEPNET_MNIST_MIRRORS=none PYTHONUNBUFFERED=1
log() { echo "== $(date -u +%H:%M:%S) $*" | tee -a "$logfile"; }
run() {  # run SECONDS NAME COMMAND...: output to $dir/NAME.txt and the log's tail, never past SECONDS
  local seconds=$1 name=$2; shift 2
  log "$name (at most ${seconds}s): $*"
  timeout "$seconds" "$@" >"$dir/$name.txt" 2>&1
  local rc=$?
  tail -n 25 "$dir/$name.txt" | tee -a "$logfile"
  log "$name: exit $rc$([ $rc = 124 ] && echo ' (timed out)')"
}

log "stage $stage; install deepnet offline (the image has its other dependencies; wheelhouse/ brings the rest)"
timeout 40 python -m pip install -q --no-index --find-links wheelhouse platformdirs nvidia-cudnn-frontend \
  >>"$logfile" 2>&1 || log "a carried wheel is missing (platformdirs, nvidia-cudnn-frontend); going on without"
timeout 40 python -m pip install -q --no-deps --no-build-isolation -e . >>"$logfile" 2>&1 \
  || log "pip install -e failed; the checkout imports without it"
nvidia-smi >"$dir/nvidia-smi.txt" 2>&1

case $stage in
correctness)  # at most 80 + 20 + 240 + 60 s = 6.7 minutes
  run 20 info env DEEPNET_BACKEND=gpu python -m deepnet info
  run 240 gpu_tests env DEEPNET_BACKEND=gpu python -m pytest -q -ra -m gpu -p no:cacheprovider \
    --junitxml="$dir/gpu_tests.xml"
  run 60 every_backend python -m pytest -q -ra -p no:cacheprovider tests/test_every_backend.py tests/test_cuda_compile.py
  ;;
figures)  # at most 80 + 80 + 50 + 150 + 80 s = 7.3 minutes
  run 80 fig814 python benchmarks/layer_breakdown.py --backend cpu gpu --batch 8 --repeats 3 --out "$dir" --tag cpu_gpu
  run 50 fig814_b128 python benchmarks/layer_breakdown.py --backend gpu --batch 128 --repeats 5 --out "$dir" --tag gpu128
  run 150 fig815 python benchmarks/train_time.py --device gpu cpu --batch 100 --alexnet-batch 8 --rounds 2 \
    --steps 20 --out "$dir" --tag cpu_gpu
  run 80 fig815_batches python benchmarks/train_time.py --device gpu --batch 1 10 100 1000 --alexnet-batch 128 \
    --rounds 1 --steps 20 --out "$dir" --tag gpu_batches
  ;;
train)  # at most 80 + 320 + 60 s = 7.7 minutes
  run 320 train env DEEPNET_BACKEND=gpu python -m deepnet train --out "$dir/run" --overwrite --no-progress
  run 60 eval env DEEPNET_BACKEND=gpu python -m deepnet eval "$dir/run" --dtype float16
  rm -f "$dir"/run/*.npz  # weights stay behind: the archive carries the history, curves and log
  ;;
*)
  echo "unknown stage $stage; stages: correctness figures train" >&2
  exit 2
  ;;
esac
log "packing $dir into $OUT/$stage.tar.gz"
tar -czf "$OUT/$stage.tar.gz" -C "$OUT" "$stage" && rm -rf "$dir"
log "done"
