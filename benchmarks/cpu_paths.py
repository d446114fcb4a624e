#!/usr/bin/env python
"""The CPU backend's code paths against each other: what each of the speed changes is worth.

    python benchmarks/cpu_paths.py                      # DeepConvNet, batch 100, 5 rounds
    python benchmarks/cpu_paths.py --batch 1000 --rounds 3
    python benchmarks/cpu_paths.py --smoke              # CI: batch 4, one round, two steps

Each variant runs in its own process (thread and BLAS settings are per process), and the variants
take turns for --rounds rounds, so a slow spell of a shared machine hits all of them; each figure
is the median round of a median of --steps training steps (forward, loss, backward, Adam).

  reference      whole-batch im2col and one batched product per layer (base.Backend.conv2d),
                 max-pooling on one thread, OpenBLAS threading the products (the code before
                 the chunked path, with DEEPNET_THREADS=1)
  chunked-1      convolution in cache-sized chunks, one thread (DEEPNET_THREADS=1)
  chunked        the default: chunks shared by one thread per core, BLAS on one thread
  chunked-numpy  the default without the Numba kernels (DEEPNET_NUMBA=0)
  unfused        the default, but each ReLU after a convolution as its own pass (Sequential.fuse = False)
  chunks-1mb     the default, but 1 MB of patches a chunk (the size before it followed the caches)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

VARIANTS = {
    "reference": {"DEEPNET_THREADS": "1"},
    "chunked-1": {"DEEPNET_THREADS": "1"},
    "chunked": {},
    "chunked-numpy": {"DEEPNET_NUMBA": "0"},
    "unfused": {},
    "chunks-1mb": {},
}


def worker(variant: str, model_name: str, batch: int, steps: int) -> dict:
    import time

    import numpy as np

    from deepnet import backends, models
    from deepnet.optimizers import Adam

    # "reference": the backend with the whole-batch convolution every backend inherits
    bk = backends.create("cpu-reference" if variant == "reference" else "cpu", dtype="float32")
    with backends.use(bk):
        bk.rng.seed(0)
        model = models.create(model_name)  # the model's own input shape and classes
        if variant == "unfused":
            model.fuse = False
        if variant == "chunks-1mb":
            bk.chunked_conv.chunk_bytes = 1 << 20
        shape, classes = model.input_shape, model.num_classes
        opt = Adam()
        x = bk.rng.uniform((batch,) + shape)
        t = bk.rng.integers(0, classes, (batch,))
        times = []
        for i in range(steps + 2):
            t0 = time.perf_counter()
            model.train_step(x, t, opt)
            if i >= 2:
                times.append(time.perf_counter() - t0)
    return {"step_s": float(np.median(times))}


def run_variant(variant, args) -> dict:
    return C.run_fresh([__file__, "--worker", variant, args.model, args.batch, args.steps], env=VARIANTS[variant])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="deepconvnet", choices=["deepconvnet", "alexnet"])
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    C.output_options(p, smoke="CI mode: a tiny run", worker=4)
    args = p.parse_args(argv)
    if args.worker:
        variant, model_name, batch, steps = args.worker
        C.emit(worker(variant, model_name, int(batch), int(steps)))
        return None
    if args.smoke:
        args.batch, args.steps, args.rounds = 4, 2, 1

    rounds = {v: [] for v in args.variants}
    for r in range(args.rounds):
        for v in args.variants:
            rounds[v].append(run_variant(v, args)["step_s"])
        print(f"round {r + 1}: " + ", ".join(f"{v} {1000 * rounds[v][-1]:.1f} ms" for v in args.variants), flush=True)
    base = args.variants[0]
    rows = []
    for v in args.variants:
        step = C.median(rounds[v])
        # the ratio per round, then its median: both sides of each ratio ran minutes apart at most
        speedup = C.median([b / s for b, s in zip(rounds[base], rounds[v])])
        rows.append({"variant": v, "env": VARIANTS[v], "step_s": step, "images_per_s": args.batch / step,
                     f"speedup_over_{base}": speedup, "rounds_s": rounds[v]})
        print(f"{v:<14} {1000 * step:8.1f} ms per step  {args.batch / step:8.0f} img/s  {speedup:5.2f}x {base}")
    payload = {"benchmark": "cpu_paths", "model": args.model, "batch": args.batch, "steps": args.steps,
               "rounds": args.rounds, "dtype": "float32", "timestamp": C.stamp(),
               "machine": C.machine(), "threads_by_variant": {v: VARIANTS[v].get("DEEPNET_THREADS", "default")
                                                              for v in args.variants},
               "rows": rows}
    name = (f"cpu_paths_{args.model}_b{args.batch}" + ("_smoke" if args.smoke else "")
            + (f"_{args.tag}" if args.tag else ""))
    C.write_results(args.out, name, payload)
    return payload


if __name__ == "__main__":
    main()
