#!/usr/bin/env bash
# Unpack what benchmarks/gpu_check.sh brought back from the GPU machine into benchmarks/results/gpu/:
#   bash benchmarks/gpu_unpack.sh DIR      (DIR holds STAGE.tar.gz and STAGE.log files)
set -euo pipefail
src=${1:?usage: gpu_unpack.sh DIR}
cd "$(dirname "$0")/.."
dest=benchmarks/results/gpu
mkdir -p "$dest"
found=0
for archive in "$src"/*.tar.gz; do
  [ -e "$archive" ] || continue
  stage=$(basename "$archive" .tar.gz)
  # only the stage's own folder, no absolute paths or '..': the archive came from another machine
  if tar -tzf "$archive" | grep -qvE "^$stage(/|$)"; then
    echo "refusing $archive: it holds paths outside $stage/" >&2
    exit 2
  fi
  rm -rf "${dest:?}/$stage"
  tar -xzf "$archive" -C "$dest"
  [ -f "$src/$stage.log" ] && cp "$src/$stage.log" "$dest/$stage.log"
  echo "unpacked $stage into $dest/$stage"
  found=1
done
[ $found = 1 ] || { echo "no STAGE.tar.gz in $src" >&2; exit 2; }
