#!/usr/bin/env bash
# The project's GPU check, for a machine with an NVIDIA GPU and no internet (data and wheels brought along):
#
#   bash benchmarks/prepare_gpu_carry.sh          # first, on a machine with internet: data/ and wheelhouse/
#   bash benchmarks/gpu_check.sh correctness      # then on the GPU machine, one stage per command,
#   bash benchmarks/gpu_check.sh figures          # correctness first; the two fit about 12 minutes of device
#   bash benchmarks/gpu_check.sh apps             # time with the machine's starts; apps is optional
#   bash benchmarks/gpu_check.sh --dry-run STAGE  # the mechanics on the strict CuPy stand-in, no GPU (CI runs it)
#
# GPU_CHECK_ONLY="NAME ..." runs only the steps named (the others are logged as not run).
#
# Each stage writes its results under $OUT/STAGE/ and packs them into $OUT/STAGE.tar.gz after every step (a
# stage cut short still returns what it measured), beside its log $OUT/STAGE.log: two files a stage, six for
# the three. Back on the project's machine, `bash benchmarks/gpu_unpack.sh DIR` unpacks them into
# benchmarks/results/gpu/.
#
#   correctness  the device answers (else the stage fails at once: exit 3); deepnet info; the GPU-marked tests
#                (every kernel and layer against NumPy), each at most 60 s, and the stage fails if any was skipped
#                for want of a GPU; every registered backend against the CPU backend
#   figures      Figure 8.14 (AlexNet forward time by layer type, CPU and GPU) and Figure 8.15 (training time,
#                deepnet and PyTorch, CPU and GPU, a fresh process per library, alternating rounds; written
#                after every process)
#   apps         a few steps of every application on the GPU (NIC, Faster R-CNN, DCGAN, DQN, float16 training),
#                the roofline, and the per-layer training breakdown
#
# Caps (every step's `run` seconds, the probe's and the installs'): correctness 5.7 min, figures 5.8 min, apps 7.2
# min; expected device time, not yet measured on a device: correctness 2-3 min, figures 4-5 min, apps 3-4 min,
# each plus the machine's start (1-2 min), so correctness and figures fit about 12 minutes in two calls.
set -uo pipefail
cd "$(dirname "$0")/.."
dry=0
if [ "${1:-}" = --dry-run ]; then dry=1; shift; fi
stage=${1:?usage: gpu_check.sh [--dry-run] correctness|figures|apps}
case $stage in correctness|figures|apps) ;; *)
  echo "unknown stage $stage; stages: correctness figures apps" >&2; exit 2 ;;
esac
OUT=${OUT:-benchmarks/results/gpu}
dir=$OUT/$stage
mkdir -p "$dir"
logfile=$OUT/$stage.log
: >"$logfile"
export PYTHONUNBUFFERED=1 DEEPNET_TEST_TIMEOUT=60
# the GPU machine has no internet: MNIST comes from the carried data/ (the dry run uses this machine's cache)
[ $dry = 1 ] || export DEEPNET_DATA=${DEEPNET_DATA:-$PWD/data} DEEPNET_MNIST_MIRRORS=none
log() { echo "== $(date -u +%H:%M:%S) $*" | tee -a "$logfile"; }
pack() { tar -czf "$OUT/$stage.tar.gz" --exclude='*.npz' -C "$OUT" "$stage"; }  # weights stay behind
failed=0
run() {  # run SECONDS NAME COMMAND...: output to $dir/NAME.txt and the log's tail, never past SECONDS; packed after
  local seconds=$1 name=$2; shift 2
  if [ -n "${GPU_CHECK_ONLY:-}" ] && [[ " $GPU_CHECK_ONLY " != *" $name "* ]]; then
    log "$name: not run (GPU_CHECK_ONLY=$GPU_CHECK_ONLY)"
    return 0
  fi
  log "$name (at most ${seconds}s): $*"
  timeout "$seconds" "$@" >"$dir/$name.txt" 2>&1
  local rc=$?
  tail -n 25 "$dir/$name.txt" | tee -a "$logfile"
  log "$name: exit $rc$([ $rc = 124 ] && echo ' (timed out)')"
  [ $rc = 0 ] || failed=1
  pack
  return 0
}

if [ $dry = 1 ]; then
  # the strict CuPy stand-in answers as the GPU (tests/strict_cupy.py, through tests/standin_site): every step's
  # mechanics run, on tiny sizes; nothing here is a GPU measurement, and the log says so
  export DEEPNET_STRICT_STANDIN=1 PYTHONPATH=$PWD/tests/standin_site${PYTHONPATH:+:$PYTHONPATH}
  log "DRY RUN on the strict CuPy stand-in (NumPy): mechanics only, no GPU result"
  LIMIT=64 STEPS=2 WARMUP=1 ROUNDS=1 REPEATS=1 FRAMES=300 GPU_TESTS="tests/backends/test_gpu.py -k kernel"
  BATCHES=2 ALEX=2 SMOKE=--smoke HALF="--model simpleconvnet --dtype float16"
elif [ -n "${GPU_CHECK_NO_INSTALL:-}" ]; then
  log "stage $stage; installs skipped (GPU_CHECK_NO_INSTALL)"
else
  log "stage $stage; install deepnet offline (the image has its other dependencies; wheelhouse/ brings the rest)"
  timeout 40 python -m pip install -q --no-index --find-links wheelhouse platformdirs nvidia-cudnn-frontend \
    >>"$logfile" 2>&1 || log "a carried wheel is missing (platformdirs, nvidia-cudnn-frontend); going on without"
  timeout 40 python -m pip install -q --no-deps --no-build-isolation -e . >>"$logfile" 2>&1 \
    || log "pip install -e failed; the checkout imports without it"
fi
if [ $dry = 0 ]; then
  nvidia-smi >"$dir/nvidia-smi.txt" 2>&1
  LIMIT=2000 STEPS=10 WARMUP=3 ROUNDS=2 REPEATS=3 FRAMES=20000 GPU_TESTS="-m gpu"
  BATCHES="1 10 100 1000" ALEX=8 SMOKE= HALF="--dtype float16"
fi

# no stage measures anything unless a CUDA device answers through CuPy
if ! timeout 30 env DEEPNET_BACKEND=gpu python -c "from deepnet import backends; print(backends.create('gpu'))" \
    >"$dir/device.txt" 2>&1; then
  cat "$dir/device.txt" | tee -a "$logfile"
  log "no CUDA device answered: stage $stage measured nothing (exit 3)"
  pack
  exit 3
fi
log "device: $(tail -n 1 "$dir/device.txt")"

case $stage in
correctness)  # caps 20 + 180 + 30 s, and the installs' 80 and the probe's 30
  run 20 info env DEEPNET_BACKEND=gpu python -m deepnet info
  # shellcheck disable=SC2086
  run 180 gpu_tests env DEEPNET_BACKEND=gpu python -m pytest -q -rs -p no:cacheprovider $GPU_TESTS \
    --junitxml="$dir/gpu_tests.xml"
  if grep -q "no GPU" "$dir/gpu_tests.txt" || ! grep -qE "[0-9]+ passed" "$dir/gpu_tests.txt"; then
    log "GPU tests skipped for want of a GPU, or none passed: correctness FAILS"
    failed=1
  fi
  run 30 every_backend python -m pytest -q -ra -p no:cacheprovider tests/backends/test_every_backend.py
  ;;
figures)  # caps 50 + 30 + 120 + 40 s, and the installs' 80 and the probe's 30
  run 50 fig814 python benchmarks/layer_breakdown.py --backend cpu gpu --batch "$ALEX" --repeats "$REPEATS" \
    --out "$dir" --tag cpu_gpu
  run 30 fig814_b128 python benchmarks/layer_breakdown.py --backend gpu --batch $([ $dry = 1 ] && echo 2 || echo 128) \
    --repeats "$REPEATS" --out "$dir" --tag gpu128
  run 120 fig815 python benchmarks/train_time.py --device gpu cpu --batch $([ $dry = 1 ] && echo 2 || echo 100) \
    --alexnet-batch "$ALEX" --resnet-batch --rounds "$ROUNDS" --steps "$STEPS" --warmup "$WARMUP" --out "$dir" \
    --tag cpu_gpu
  # shellcheck disable=SC2086
  run 40 fig815_batches python benchmarks/train_time.py --device gpu --batch $BATCHES --alexnet-batch \
    --resnet-batch --rounds 1 --steps "$STEPS" --warmup "$WARMUP" --no-torch --out "$dir" --tag gpu_batches
  ;;
apps)  # caps 50 x 3 + 40 + 50 + 30 + 50 s, and the installs' 80 and the probe's 30
  gpu="env DEEPNET_BACKEND=gpu python -m deepnet"
  # shellcheck disable=SC2086
  {
  run 50 train_float16 $gpu train --limit "$LIMIT" --epochs 1 $HALF --out "$dir/f16" --overwrite \
    --no-plots --no-progress
  run 50 nic $gpu train --model nic --dataset mnist-captions --limit "$LIMIT" --epochs 1 --batch-size 32 \
    --no-test-eval --out "$dir/nic" --overwrite --no-plots --no-progress
  run 50 fasterrcnn $gpu train --model fasterrcnn --dataset mnist-boxes --limit $((LIMIT / 8)) --epochs 1 \
    --batch-size 8 --no-test-eval --out "$dir/frcnn" --overwrite --no-plots --no-progress
  run 40 gan $gpu gan --limit "$LIMIT" --epochs 1 --out "$dir/gan" --overwrite --no-progress
  run 50 dqn $gpu dqn --frames "$FRAMES" --replay-start $((FRAMES / 10)) --eval-every "$FRAMES" --eval-episodes 2 \
    --out "$dir/dqn" --overwrite --no-progress
  }
  run 30 roofline env DEEPNET_BACKEND=gpu python benchmarks/roofline.py --backend gpu $SMOKE --out "$dir"
  run 50 breakdown_train python benchmarks/layer_breakdown.py --model deepconvnet --backend gpu --train \
    --batch $([ $dry = 1 ] && echo 2 || echo 100) --repeats "$REPEATS" --out "$dir" --tag gpu_train
  ;;
esac
log "stage $stage done$([ $failed = 1 ] && echo ', with failures (see above)')"
exit $failed
