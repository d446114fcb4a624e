#!/bin/bash
# three augmented DeepConvNet runs, one after another; resumable (a killed run continues from last.npz)
cd "$(dirname "$0")/../../.."  # the repository root
for s in 0 1 2; do
  d=runs/aug-seed$s
  if [ -f $d/done ]; then continue; fi
  if [ -f $d/last.npz ]; then
    .venv/bin/deepnet train --resume $d >> runs/aug-seed$s.log 2>&1
  else
    .venv/bin/deepnet train --augment shift=2,rotate=10,scale=0.1 --schedule cosine --seed $s --out $d > runs/aug-seed$s.log 2>&1
  fi && touch $d/done
done
