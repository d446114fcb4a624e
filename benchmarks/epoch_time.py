#!/usr/bin/env python
"""End to end: one MNIST epoch of `deepnet train` against the same epoch in a plain PyTorch loop.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/epoch_time.py            # 3 rounds
    python benchmarks/epoch_time.py --rounds 1 --limit 2000                                   # quick look

deepnet's side is the user's command, `deepnet train --recipe book --epochs 1` (DeepConvNet, Adam 0.001,
batch 100, no augmentation, the test set scored after the epoch), run as a fresh process. PyTorch's side
is the loop a PyTorch user writes for the same job, also a fresh process: the same MNIST arrays (deepnet's
verified cache) as float tensors in [0, 1], the same architecture, He initialisation, Adam 0.001, batch
100, a fresh permutation, dropout in training mode, then the test set scored in batches of 1,000. Both use
every usable core. Reported per side: the epoch's own seconds (training plus the test pass, as deepnet's
history records them) and the whole command's wall time (start-up, imports and data loading included);
the sides alternate, the order flipped each round; medians and min-max over rounds.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402


def torch_epoch(limit: int, seed: int) -> dict:
    """The PyTorch loop, in this (fresh) process."""
    import torch

    from deepnet import datasets
    from train_time import he_init, torch_model

    torch.set_num_threads(C.usable_cores())
    torch.manual_seed(seed)
    data = datasets.load("mnist")
    xs = data.train.x[:limit] if limit else data.train.x
    ys = data.train.y[:limit] if limit else data.train.y
    start = time.perf_counter()
    x = torch.from_numpy(xs).float().div_(255.0).reshape(len(xs), 1, 28, 28)
    t = torch.from_numpy(ys.astype("int64"))
    xt = torch.from_numpy(data.test.x).float().div_(255.0).reshape(-1, 1, 28, 28)
    tt = torch.from_numpy(data.test.y.astype("int64"))
    model = torch_model(torch, "deepconvnet")
    he_init(torch, model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    order = torch.randperm(len(x))
    for s in range(0, len(x), 100):
        idx = order[s : s + 100]
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x[idx]), t[idx]).backward()
        opt.step()
    model.eval()
    correct = 0
    with torch.inference_mode():
        for s in range(0, len(xt), 1000):
            correct += int((model(xt[s : s + 1000]).argmax(1) == tt[s : s + 1000]).sum())
    return {"epoch_s": time.perf_counter() - start, "test_acc": correct / len(xt)}


def run_deepnet(args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        options = ["--recipe", "book", "--epochs", "1", "--seed", args.seed]
        options += ["--limit", args.limit] if args.limit else []
        t0 = time.perf_counter()
        record = C.deepnet_train(options, Path(tmp, "run"), timeout=3600)[0]
        wall = time.perf_counter() - t0
    return {"epoch_s": record["seconds"], "wall_s": wall, "test_acc": record["test_acc"]}


def run_torch(args) -> dict:
    t0 = time.perf_counter()
    res = C.run_fresh([__file__, "--torch-worker", str(args.limit), str(args.seed)], timeout=3600)
    res["wall_s"] = time.perf_counter() - t0
    return res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--limit", type=int, default=0, help="training images (0: all 60,000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(C.RESULTS))
    p.add_argument("--torch-worker", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.torch_worker:
        C.emit(torch_epoch(int(args.torch_worker[0]), int(args.torch_worker[1])))
        return None
    sides = {"deepnet": run_deepnet}
    if C.torch_importable() is None:
        sides["pytorch"] = run_torch
    else:
        print("PyTorch is not importable: deepnet's side only")
    results = {k: [] for k in sides}
    for rnd in range(args.rounds):
        for name in (list(sides) if rnd % 2 == 0 else list(sides)[::-1]):
            res = sides[name](args)
            results[name].append(res)
            print(f"round {rnd + 1}: {name:<8} epoch {res['epoch_s']:6.1f} s, command {res['wall_s']:6.1f} s, "
                  f"test accuracy {100 * res['test_acc']:.2f}%", flush=True)
    rows = {}
    for name, rs in results.items():
        e, w = [q["epoch_s"] for q in rs], [q["wall_s"] for q in rs]
        rows[name] = {"epoch_s": C.median(e), "epoch_s_min": min(e), "epoch_s_max": max(e), "wall_s": C.median(w),
                      "wall_s_min": min(w), "wall_s_max": max(w), "rounds": rs}
    print()
    for name, r in rows.items():
        print(f"{name:<8} epoch {r['epoch_s']:.1f} s ({r['epoch_s_min']:.1f}-{r['epoch_s_max']:.1f}), whole command "
              f"{r['wall_s']:.1f} s ({r['wall_s_min']:.1f}-{r['wall_s_max']:.1f})")
    ratio = None
    if "pytorch" in rows:
        ratio = rows["deepnet"]["epoch_s"] / rows["pytorch"]["epoch_s"]
        print(f"deepnet's epoch takes {ratio:.2f}x PyTorch's (target: at most 0.9x)")
    name = "epoch_time" + (f"_limit{args.limit}" if args.limit else "")
    C.write_json(Path(args.out) / f"{name}.json", {
        "benchmark": "epoch_time", "method": __doc__.split("\n\n", 2)[2].strip(), "rounds": args.rounds,
        "limit": args.limit or 60000, "seed": args.seed, "rows": rows, "deepnet_over_pytorch_epoch": ratio,
        "timestamp": C.stamp(), "machine": C.machine()})
    print(f"wrote {Path(args.out) / f'{name}.json'}")
    return rows


if __name__ == "__main__":
    main()
