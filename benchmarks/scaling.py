#!/usr/bin/env python
"""Data-parallel scaling: throughput at 1 and 2 MPI ranks, all-reduce cost, and a model for N ranks.

    python benchmarks/scaling.py                 # DeepConvNet, 100 images per rank, 1 and 2 ranks
    python benchmarks/scaling.py --ranks 1 2 4

Each rank runs on one thread (DEEPNET_THREADS=1, one BLAS thread), so N ranks use N cores (on a 2-core
machine, 2 ranks is the honest limit). Every configuration runs under `mpiexec -n N` as its own job. The
model: a step at N ranks costs the measured compute plus a ring all-reduce of the gradient buffer,
    t_allreduce(N) = 2 (N - 1) / N * bytes / bandwidth + 2 (N - 1) * latency,
with bandwidth and latency fitted from the all-reduces measured at 2 ranks (a large and a tiny
buffer); speed-up(N) = N * t_compute / (t_compute + t_allreduce(N)) at a fixed per-rank batch.
The book reports 56x for 100 GPUs.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402


def worker(args):
    import numpy as np

    from deepnet import models
    from deepnet.backends import current
    from deepnet.distributed import Communicator
    from deepnet.optimizers import Adam

    comm = Communicator()
    bk = current()
    bk.rng.seed(0)
    model, opt = models.create(args.model), Adam()
    x = bk.rng.uniform((args.batch, 1, 28, 28))
    t = bk.rng.integers(0, 10, (args.batch,))
    compute, reduce_, total = [], [], []
    marks = {}

    def reduce(grads):  # the training step's gradient hook, timed apart from the compute around it
        comm.barrier()  # waiting for a slower rank is not all-reduce time
        marks["t1"] = time.perf_counter()
        if comm.size > 1:
            comm.reduce_gradients(grads, 1.0 / comm.size)
        marks["t2"] = time.perf_counter()

    for i in range(args.warmup + args.steps):
        comm.barrier()
        t0 = time.perf_counter()
        model.train_step(x, t, opt, before_update=reduce)
        t3 = time.perf_counter()
        t1, t2 = marks["t1"], marks["t2"]
        if i >= args.warmup:
            compute.append(t1 - t0 + t3 - t2)  # includes the barrier wait: the slowest rank sets the pace
            reduce_.append(t2 - t1)
            total.append(t3 - t0)
    # a tiny all-reduce, for the latency term of the model
    tiny = np.zeros(1, np.float32)
    out = np.empty_like(tiny)
    lat = []
    for _ in range(50):
        t0 = time.perf_counter()
        comm.comm.Allreduce(tiny, out, op=comm.MPI.SUM)
        lat.append(time.perf_counter() - t0)
    grad_bytes = sum(int(g.nbytes) for g in model.trainable_grads().values())
    res = {"ranks": comm.size, "compute_s": float(np.median(compute)), "allreduce_s": float(np.median(reduce_)),
           "step_s": float(np.median(total)), "grad_bytes": grad_bytes, "tiny_allreduce_s": float(np.median(lat))}
    worst = comm.comm.gather(res, root=0)
    if comm.rank == 0:
        # the slowest rank sets the pace
        res["step_s"] = max(r["step_s"] for r in worst)
        res["compute_s"] = max(r["compute_s"] for r in worst)
        C.emit(res)


def run(n, args) -> dict:
    mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
    if mpiexec is None:
        raise SystemExit("no mpiexec: pip install 'deepnet[distributed]'")
    env = dict(OPENBLAS_NUM_THREADS="1", DEEPNET_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", DEEPNET_BACKEND="cpu")
    args_ = [__file__, "--worker", "--model", args.model, "--batch", str(args.batch), "--steps", str(args.steps),
             "--warmup", str(args.warmup)]
    try:
        return C.run_fresh(args_, env=env, timeout=1800, launcher=[mpiexec, "-n", str(n)])
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None


def model_speedup(compute_s, bandwidth, latency, grad_bytes, n):
    ar = 0.0 if n == 1 else 2 * (n - 1) / n * grad_bytes / bandwidth + 2 * (n - 1) * latency
    return n * compute_s / (compute_s + ar), ar


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    p.add_argument("--model", default="deepconvnet")
    p.add_argument("--batch", type=int, default=100, help="images per rank per step")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--out", default=str(C.RESULTS))
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args)

    rows = []
    for n in args.ranks:
        r = run(n, args)
        r["images_per_s"] = n * args.batch / r["step_s"]
        rows.append(r)
        print(f"{n} rank(s): step {1000 * r['step_s']:.1f} ms (compute {1000 * r['compute_s']:.1f} ms, all-reduce "
              f"{1000 * r['allreduce_s']:.2f} ms of {r['grad_bytes'] / 1e6:.2f} MB), {r['images_per_s']:.0f} images/s",
              flush=True)
    base = rows[0]
    for r in rows:
        r["speedup"] = r["images_per_s"] / base["images_per_s"]
    multi = [r for r in rows if r["ranks"] > 1]
    model = None
    if multi:
        m = multi[0]
        n = m["ranks"]
        latency = m["tiny_allreduce_s"] / (2 * (n - 1))
        bandwidth = 2 * (n - 1) / n * m["grad_bytes"] / max(m["allreduce_s"] - 2 * (n - 1) * latency, 1e-9)
        model = {"bandwidth_bytes_per_s": bandwidth, "latency_s": latency, "compute_s": base["compute_s"],
                 "predicted": []}
        for n_pred in (1, 2, 4, 8, 16, 32, 64, 100, 256):
            s, ar = model_speedup(base["compute_s"], bandwidth, latency, base["grad_bytes"], n_pred)
            model["predicted"].append({"ranks": n_pred, "speedup": s, "allreduce_s": ar})
        print(f"\nfitted from {n} ranks: all-reduce bandwidth {bandwidth / 1e9:.2f} GB/s, latency "
              f"{1e6 * latency:.1f} us; predicted speed-up at a fixed {args.batch} images per rank:")
        for q in model["predicted"]:
            print(f"  {q['ranks']:>4} ranks: {q['speedup']:6.1f}x" + ("   (book: 56x on 100 GPUs)"
                                                                       if q["ranks"] == 100 else ""))
    payload = {"benchmark": "scaling", "model": args.model, "batch_per_rank": args.batch, "steps": args.steps,
               "timestamp": C.stamp(), "machine": C.machine(), "rows": rows, "model_of_n_ranks": model,
               "book": {"gpus": 100, "speedup": 56}}
    print(f"wrote {C.write_json(Path(args.out) / 'scaling.json', payload)}")
    return payload


if __name__ == "__main__":
    main()
