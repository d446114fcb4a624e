#!/usr/bin/env python
"""The chapter's case for skip connections: plain vs residual networks of increasing depth, same budget.

    python benchmarks/plain_vs_residual.py                       # depths 8 20 32, Fashion-MNIST, 120 steps
    python benchmarks/plain_vs_residual.py --dataset mnist --depths 8 20 32 44 --steps 300

Each network (ResNet of 6n+2 layers, and the same network without its shortcuts) trains from the
same seed on the same batches (Adam, lr 0.001, batch 100); the training loss is recorded every
--every steps (mean over those steps) and the test accuracy at the end. Writes JSON and a PNG of
the loss curves to benchmarks/results/.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402


def train(name, data, steps, every, batch, seed):
    from deepnet import datasets, models
    from deepnet.backends import current
    from deepnet.optimizers import Adam

    bk = current()
    bk.rng.seed(seed)
    model, opt = models.create(name, num_classes=len(data.classes)), Adam(lr=1e-3)
    order = np.random.default_rng(seed).permutation(len(data.train))[: steps * batch]  # the same batches for all
    curve, window, start = [], [], time.perf_counter()
    for s in range(steps):
        idx = order[s * batch : (s + 1) * batch]
        x = datasets.to_model_input(data.train.x[idx])
        loss = model.train_step(x, bk.to_device(data.train.y[idx]), opt)
        window.append(float(loss))
        if len(window) == every:
            curve.append({"step": s + 1, "loss": float(np.mean(window))})
            window = []
    acc = model.accuracy(datasets.to_model_input(data.test.x), bk.to_device(data.test.y), batch_size=500)
    return {"model": name, "params": model.num_params(), "curve": curve, "test_acc": acc,
            "seconds": time.perf_counter() - start}


def plot(results, path, title):
    plt = C.pyplot()

    fig, ax = plt.subplots(figsize=(8, 4.5))
    depths = sorted({int(r["model"].removeprefix("resnet").removeprefix("plain")) for r in results})
    shades = dict(zip(depths, np.linspace(0.45, 1.0, len(depths))))
    for r in results:
        d = int(r["model"].removeprefix("resnet").removeprefix("plain"))
        plain = r["model"].startswith("plain")
        color = plt.cm.Reds(shades[d]) if plain else plt.cm.Blues(shades[d])
        ax.plot([p["step"] for p in r["curve"]], [p["loss"] for p in r["curve"]], "--" if plain else "-",
                color=color, label=f"{'plain' if plain else 'residual'} {d} layers (test {100 * r['test_acc']:.1f}%)")
    ax.set(xlabel="training step (batch 100)", ylabel="training loss", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    C.save_png(fig, path)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="fashion_mnist")
    p.add_argument("--depths", type=int, nargs="+", default=[8, 20, 32])
    p.add_argument("--steps", type=int, default=120)
    p.add_argument("--every", type=int, default=10)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(C.RESULTS))
    args = p.parse_args(argv)
    from deepnet import datasets

    data = datasets.load(args.dataset)
    results = []
    for d in args.depths:
        for kind in ("plainnet", "resnet"):
            r = train(f"{kind}{d}", data, args.steps, args.every, args.batch, args.seed)
            results.append(r)
            print(f"{r['model']:<11} {r['params']:>9,} params: final training loss {r['curve'][-1]['loss']:.3f}, "
                  f"test accuracy {100 * r['test_acc']:.2f}% ({r['seconds']:.0f} s)", flush=True)
    out = Path(args.out)
    payload = {"benchmark": "plain_vs_residual", "dataset": args.dataset, "steps": args.steps, "batch": args.batch,
               "seed": args.seed, "timestamp": C.stamp(), "machine": C.machine(), "results": results}
    print(f"wrote {C.write_json(out / 'plain_vs_residual.json', payload)}")
    plot(results, out / "plain_vs_residual.png",
         f"plain vs residual, {args.dataset}, {args.steps} steps of batch {args.batch}")
    print(f"wrote {out / 'plain_vs_residual.png'}")


if __name__ == "__main__":
    main()
