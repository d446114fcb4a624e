#!/usr/bin/env python
"""deepnet against itself: the same benchmark worker run from two source trees, to show a change keeps speed.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/before_after.py --before 8d9f7b8
    python benchmarks/before_after.py --before REV --after REV --model resnet20 --batch 64 --tag resnet

Each side is a git revision checked out into a temporary worktree (--after defaults to the working tree
this script sits in). Every measurement is `benchmarks/train_time.py --worker deepnet ...` of that side's
own tree, in a fresh process that imports that tree's deepnet (PYTHONPATH, no install); the sides take
turns and the order flips each round, so a slow spell of the machine hits both. Per process: the median
of --steps training and inference steps after --warmup, on MNIST batches drawn as the trainer draws
them, the same seed on both sides (train_time.py's method); across rounds the median, smallest and
largest. Results: results/before_after[_TAG].json.
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


def measure(tree: Path, model: str, batch: int, steps: int, warmup: int, dtype: str, seed: int) -> dict:
    env = {"PYTHONPATH": str(tree)}
    return C.run_fresh([tree / "benchmarks" / "train_time.py", "--worker", "deepnet", "cpu", model, batch, steps,
                        warmup, dtype, seed], env=env, timeout=1800)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--before", required=True, help="git revision of the 'before' side")
    p.add_argument("--after", default=None, help="git revision of the 'after' side (default: this working tree)")
    p.add_argument("--model", default="deepconvnet", help="a model train_time.py's worker builds (deepconvnet)")
    p.add_argument("--batch", type=int, nargs="+", default=[100, 10])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--dtype", default="float32")
    p.add_argument("--seed", type=int, default=0)
    C.output_options(p)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"before": checkout(args.before, Path(tmp) / "before")}
        trees["after"] = checkout(args.after, Path(tmp) / "after") if args.after else ROOT
        try:
            runs = {}
            for r in range(args.rounds):
                for batch in args.batch:
                    order = ["before", "after"] if r % 2 == 0 else ["after", "before"]
                    for side in order:
                        res = measure(trees[side], args.model, batch, args.steps, args.warmup, args.dtype, args.seed)
                        runs.setdefault((side, batch), []).append(res)
                        print(f"round {r + 1}/{args.rounds} {side:<6} batch {batch:>4}: train "
                              f"{1000 * res['train_step_s']:7.2f} ms, infer {1000 * res['infer_s']:7.2f} ms",
                              flush=True)
        finally:
            for side, tree in trees.items():
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
                     "blas": results[0]["blas"], "openblas_env": results[0]["openblas_env"]})
    print()
    for batch in args.batch:
        b, a = ({r["side"]: r for r in rows if r["batch"] == batch}[s] for s in ("before", "after"))
        print(f"{args.model} batch {batch}: training {b['train_images_per_s']:,.0f} -> {a['train_images_per_s']:,.0f} "
              f"img/s ({a['train_images_per_s'] / b['train_images_per_s']:.3f}x), inference "
              f"{b['infer_images_per_s']:,.0f} -> {a['infer_images_per_s']:,.0f} img/s "
              f"({a['infer_images_per_s'] / b['infer_images_per_s']:.3f}x)")
    payload = {"benchmark": "before_after", "before": args.before, "after": args.after or "working tree",
               "model": args.model, "command": " ".join(sys.argv), "steps": args.steps, "warmup": args.warmup,
               "rounds": args.rounds, "dtype": args.dtype, "timestamp": C.stamp(), "machine": C.machine(),
               "rows": rows, "method": __doc__.split("\n\n", 2)[2].strip()}
    C.write_results(Path(args.out), "before_after" + (f"_{args.tag}" if args.tag else ""), payload, None)
    return payload


if __name__ == "__main__":
    main()
