#!/usr/bin/env bash
# The main command's recipes over seeds: `deepnet train` (the default recipe) and `deepnet train --recipe book`
# for seeds 0-4, 20 epochs each, one after another. Resumable: run it again after a stop and each
# unfinished run continues from its last checkpoint; finished runs are skipped.
#
#   bash benchmarks/recipes/run.sh RECIPE [SEEDS...]        (RECIPE: default or book; SEEDS: default 0 1 2 3 4)
#
# Runs go to ${RUNS:-runs/recipes}/RECIPE-seedS; `python benchmarks/recipes/table.py` collects them into
# benchmarks/results/mnist_recipes/. DEEPNET_THREADS is left to the caller (the committed table says which).
set -u
recipe=${1:?usage: run.sh default|book [SEEDS...]}
shift
seeds=${*:-0 1 2 3 4}
runs=${RUNS:-runs/recipes}
deepnet=${DEEPNET:-deepnet}
mkdir -p "$runs"
for s in $seeds; do
  d=$runs/$recipe-seed$s
  [ -f "$d/done" ] && continue
  if [ -f "$d/config.json" ]; then
    $deepnet train --resume "$d" --no-progress >> "$d.log" 2>&1
  else
    $deepnet train --recipe "$recipe" --seed "$s" --out "$d" --no-progress > "$d.log" 2>&1
  fi && touch "$d/done"
done
