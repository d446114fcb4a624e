#!/usr/bin/env python
"""Mixed precision against float32 on the same seed and budget: does float16 training learn as well?

    python benchmarks/mixed_precision.py          # DeepConvNet, default recipe, seed 0, 3 epochs on 20,000 images
    python benchmarks/mixed_precision.py --epochs 20 --limit 0

Runs `deepnet train` twice in fresh processes, once with --dtype float32 and once with --dtype float16
(float32 master weights, dynamic loss scaling), on the CPU, with the same seed, recipe, data and epochs;
resumable (a finished run is kept, an unfinished one continues). Writes the per-epoch test accuracy of
both, their difference, and the loss-scale log to benchmarks/results/mixed_precision/. On the CPU this is a
check of correctness, not of speed: NumPy emulates float16 arithmetic.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402


def run(dtype, args, runs: Path) -> list[dict]:
    out = runs / dtype
    history = out / "history.json"
    done = json.loads(history.read_text())["history"] if history.is_file() else []
    if len(done) >= args.epochs:
        return done
    options = ["--dtype", dtype, "--seed", args.seed, "--epochs", args.epochs]
    options += ["--limit", args.limit] if args.limit else []
    with open(runs / f"{dtype}.log", "a") as log:
        return C.deepnet_train(options, out, log=log)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--limit", type=int, default=20000, help="training images (0: all 60,000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runs", default="runs/mixed_precision", help="where the two runs train (resumable)")
    p.add_argument("--out", default=str(C.RESULTS / "mixed_precision"))
    args = p.parse_args(argv)
    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    hist = {dt: run(dt, args, runs) for dt in ("float32", "float16")}
    rows = []
    for a, b in zip(hist["float32"], hist["float16"]):
        rows.append({"epoch": a["epoch"], "float32_test_acc": a["test_acc"], "float16_test_acc": b["test_acc"],
                     "difference_points": 100 * (b["test_acc"] - a["test_acc"]), "float32_seconds": a["seconds"],
                     "float16_seconds": b["seconds"], "loss_scale": b.get("loss_scale"),
                     "skipped_steps": b.get("skipped_steps")})
    last = rows[-1]
    lines = ["| epoch | float32 test acc | float16 (mixed) test acc | difference (points) | loss scale "
             "| skipped steps |",
             "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['epoch']} | {100 * r['float32_test_acc']:.2f}% | {100 * r['float16_test_acc']:.2f}% | "
              f"{r['difference_points']:+.2f} | {r['loss_scale']:g} | {r['skipped_steps']} |" for r in rows]
    lines += ["", f"After {last['epoch']} epochs: float32 {100 * last['float32_test_acc']:.2f}%, float16 "
              f"{100 * last['float16_test_acc']:.2f}% ({last['difference_points']:+.2f} points; the target is within "
              f"0.15). DeepConvNet, default recipe, seed {args.seed}, "
              f"{args.limit or 60000} training images, CPU (NumPy backend). Command: "
              f"`python benchmarks/mixed_precision.py --epochs {args.epochs} --limit {args.limit}`."]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.md").write_text("\n".join(lines) + "\n")
    C.write_json(out / "mixed_precision.json", {
        "benchmark": "mixed_precision", "epochs": args.epochs, "limit": args.limit, "seed": args.seed,
        "rows": rows, "within_0_15_points": abs(last["difference_points"]) <= 0.15, "timestamp": C.stamp(),
        "machine": C.machine()})
    print("\n".join(lines))


if __name__ == "__main__":
    main()
