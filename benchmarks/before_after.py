#!/usr/bin/env python
"""deepnet against itself: the same benchmark worker run from two source trees, to show a change keeps speed.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/before_after.py --before 8d9f7b8
    ... benchmarks/before_after.py --before REV --model resnet20 --batch 64 --tag resnet20
    ... benchmarks/before_after.py --before REV --model fcn --dataset mnist-scenes --batch 32 --tag fcn
    ... benchmarks/before_after.py --before REV --epoch 20000 --rounds 8 --tag engine

With --epoch N each side instead runs the user's command, `deepnet train --recipe book --epochs 1 --limit N
--no-progress --no-plots` (DeepConvNet on MNIST, the test set scored after the epoch), and the epoch's own
seconds from its history are compared: what the training loop around the steps costs.

Each side is a git revision checked out into a temporary worktree (--after defaults to the working tree
this script sits in). Every measurement runs in a fresh process that imports that side's deepnet
(PYTHONPATH, no install); the sides take turns and the order flips each round, so a slow spell of the
machine hits both. DeepConvNet on MNIST runs `benchmarks/train_time.py --worker deepnet ...` of that
side's own tree; any other model (--model, --dataset) runs this script's worker, which uses only what
both trees have (models.create, Model.train_step, Model.predict, datasets.load). Per process: the median
of --steps training and inference steps after --warmup, on batches drawn as the trainer draws them (a
permutation of the training set, consecutive slices, the same seed on both sides); across rounds the
median, smallest and largest. Results: results/before_after[_TAG].json.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def checkout(rev: str, into: Path) -> Path:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(into), rev], check=True)
    return into


def measure(tree: Path, model: str, dataset: str, batch: int, steps: int, warmup: int, dtype: str,
            seed: int) -> dict:
    env = {"PYTHONPATH": str(tree)}
    if model == "deepconvnet" and dataset == "mnist":
        return C.run_fresh([tree / "benchmarks" / "train_time.py", "--worker", "deepnet", "cpu", model, batch, steps,
                            warmup, dtype, seed], env=env, timeout=1800)
    return C.run_fresh([__file__, "--worker", model, dataset, batch, steps, warmup, dtype, seed], env=env,
                       timeout=1800)


def epoch_worker(limit: int, seed: int) -> dict:
    """One `deepnet train` epoch of this process's deepnet (PYTHONPATH), in a scratch run directory."""
    import json
    import time

    from deepnet.cli import main as deepnet

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        code = deepnet(["train", "--recipe", "book", "--epochs", "1", "--limit", str(limit), "--seed", str(seed),
                        "--no-progress", "--no-plots", "--out", str(Path(tmp) / "run")])
        wall = time.perf_counter() - start
        if code:
            raise SystemExit(code)
        history = json.loads((Path(tmp) / "run" / "history.json").read_text())["history"]
    return {"epoch_s": history[-1]["seconds"], "wall_s": wall, **C.kernels()}


def worker(model_name, dataset, batch, steps, warmup, dtype, seed) -> dict:
    """One side's training and inference step times, with only the API both trees share."""
    import time

    import numpy as np

    from deepnet import backends, datasets, models
    from deepnet.optimizers import Adam

    bk = backends.current()
    bk.rng.seed(seed)
    data = datasets.load(dataset)
    model = models.create(model_name, input_shape=data.train.x.shape[1:], num_classes=len(data.classes),
                          dtype=dtype)
    x_train, t_train = datasets.to_model_input(data.train.x, dtype), bk.to_device(data.train.y)
    x_test = datasets.to_model_input(data.test.x[: 4 * batch], dtype)
    order = np.random.default_rng(seed).permutation(len(t_train))
    opt = Adam(lr=0.001)

    def timed(fn, count):
        out = []
        for i in range(count):
            bk.synchronize()
            t0 = time.perf_counter()
            fn(i)
            bk.synchronize()
            out.append(time.perf_counter() - t0)
        return sorted(out[warmup:])[len(out[warmup:]) // 2]

    def train(i):
        idx = bk.to_device(order[i * batch % (len(order) - batch):][:batch])
        model.train_step(x_train[idx], t_train[idx], opt)

    def infer(i):
        model.predict(x_test[(i % 4) * batch : (i % 4 + 1) * batch], batch)

    return {"train_step_s": timed(train, warmup + steps), "infer_s": timed(infer, warmup + steps), **C.kernels()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--before", help="git revision of the 'before' side (required)")
    p.add_argument("--after", default=None, help="git revision of the 'after' side (default: this working tree)")
    p.add_argument("--model", default="deepconvnet", help="a --model of deepnet train (default deepconvnet)")
    p.add_argument("--dataset", default="mnist", help="a --dataset of deepnet train (default mnist)")
    p.add_argument("--batch", type=int, nargs="+", default=[100, 10])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--dtype", default="float32")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epoch", type=int, metavar="N", help="compare one `deepnet train` epoch on N images instead")
    p.add_argument("--epoch-worker", nargs=2, help=argparse.SUPPRESS)
    C.output_options(p, worker=7)
    args = p.parse_args(argv)
    if args.epoch_worker:
        C.emit(epoch_worker(int(args.epoch_worker[0]), int(args.epoch_worker[1])))
        return None
    if args.worker:
        model, dataset, batch, steps, warmup, dtype, seed = args.worker
        C.emit(worker(model, dataset, int(batch), int(steps), int(warmup), dtype, int(seed)))
        return None
    if not args.before:
        p.error("--before REV is required")
    if args.epoch:
        return compare_epochs(args)
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"before": checkout(args.before, Path(tmp) / "before")}
        trees["after"] = checkout(args.after, Path(tmp) / "after") if args.after else ROOT
        try:
            runs = {}
            for r in range(args.rounds):
                for batch in args.batch:
                    order = ["before", "after"] if r % 2 == 0 else ["after", "before"]
                    for side in order:
                        res = measure(trees[side], args.model, args.dataset, batch, args.steps, args.warmup,
                                      args.dtype, args.seed)
                        runs.setdefault((side, batch), []).append(res)
                        print(f"round {r + 1}/{args.rounds} {side:<6} batch {batch:>4}: train "
                              f"{1000 * res['train_step_s']:7.2f} ms, infer {1000 * res['infer_s']:7.2f} ms",
                              flush=True)
        finally:
            for tree in trees.values():
                if tree != ROOT:
                    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
    rows = []
    for (side, batch), results in runs.items():
        train = [r["train_step_s"] for r in results]
        infer = [r["infer_s"] for r in results]
        rows.append({"side": side, "batch": batch, "train_images_per_s": batch / C.median(train),
                     "infer_images_per_s": batch / C.median(infer),
                     "train_step_ms": [1000 * min(train), 1000 * C.median(train), 1000 * max(train)],
                     "infer_ms": [1000 * min(infer), 1000 * C.median(infer), 1000 * max(infer)],
                     **{k: results[0][k] for k in ("blas", "openblas_env") if k in results[0]}})
    print()
    for batch in args.batch:
        b, a = ({r["side"]: r for r in rows if r["batch"] == batch}[s] for s in ("before", "after"))
        print(f"{args.model} batch {batch}: training {b['train_images_per_s']:,.0f} -> {a['train_images_per_s']:,.0f} "
              f"img/s ({a['train_images_per_s'] / b['train_images_per_s']:.3f}x), inference "
              f"{b['infer_images_per_s']:,.0f} -> {a['infer_images_per_s']:,.0f} img/s "
              f"({a['infer_images_per_s'] / b['infer_images_per_s']:.3f}x)")
    payload = {"benchmark": "before_after", "before": args.before, "after": args.after or "working tree",
               "model": args.model, "dataset": args.dataset, "command": " ".join(sys.argv), "steps": args.steps,
               "warmup": args.warmup,
               "rounds": args.rounds, "dtype": args.dtype, "timestamp": C.stamp(), "machine": C.machine(),
               "rows": rows, "method": __doc__.split("\n\n", 2)[2].strip()}
    C.write_results(Path(args.out), "before_after" + (f"_{args.tag}" if args.tag else ""), payload, None)
    return payload


def compare_epochs(args) -> dict:
    """--epoch: the two sides' `deepnet train` epochs, alternating, each in a fresh process."""
    runs = {"before": [], "after": []}
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"before": checkout(args.before, Path(tmp) / "before")}
        trees["after"] = checkout(args.after, Path(tmp) / "after") if args.after else ROOT
        try:
            for r in range(args.rounds):
                for side in (["before", "after"] if r % 2 == 0 else ["after", "before"]):
                    res = C.run_fresh([__file__, "--epoch-worker", args.epoch, args.seed],
                                      env={"PYTHONPATH": str(trees[side])}, timeout=3600)
                    runs[side].append(res)
                    print(f"round {r + 1}/{args.rounds} {side:<6}: epoch {res['epoch_s']:6.2f} s, command "
                          f"{res['wall_s']:6.2f} s", flush=True)
        finally:
            for tree in trees.values():
                if tree != ROOT:
                    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
    rows = []
    for side, results in runs.items():
        ep, wall = [r["epoch_s"] for r in results], [r["wall_s"] for r in results]
        rows.append({"side": side, "epoch_s": [min(ep), C.median(ep), max(ep)],
                     "quartiles_epoch_s": C.quartiles(ep), "command_s": [min(wall), C.median(wall), max(wall)],
                     "blas": results[0]["blas"], "openblas_env": results[0]["openblas_env"]})
    b, a = rows
    print(f"\none epoch on {args.epoch:,} images: {b['epoch_s'][1]:.2f} s -> {a['epoch_s'][1]:.2f} s "
          f"({b['epoch_s'][1] / a['epoch_s'][1]:.3f}x speed)")
    payload = {"benchmark": "before_after_epoch", "before": args.before, "after": args.after or "working tree",
               "command": " ".join(sys.argv), "limit": args.epoch, "rounds": args.rounds, "timestamp": C.stamp(),
               "machine": C.machine(), "rows": rows, "method": __doc__.split("\n\n", 2)[2].strip()}
    C.write_results(Path(args.out), "before_after_epoch" + (f"_{args.tag}" if args.tag else ""), payload, None)
    return payload


if __name__ == "__main__":
    main()
