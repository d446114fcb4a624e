#!/usr/bin/env python
"""Figure 8.14: the share of a network's forward (and backward) time that each layer type takes.

    python benchmarks/layer_breakdown.py --backend cpu            # AlexNet forward, batch 8, on the CPU
    python benchmarks/layer_breakdown.py --backend cpu gpu --batch 32 --train
    python benchmarks/layer_breakdown.py --model deepconvnet --batch 100

Every layer is timed on its own after a warm-up, as the median of --repeats passes; with --train, so is the
optimizer's update (Adam, lr 0.001, as train_time.py), in the group "update". On the GPU
each layer is timed with CUDA events and the device is synchronised around it (perf_counter alone
would time only the kernel launches). Writes a table to the terminal, and JSON and a PNG (one pie
per backend, side by side) under benchmarks/results/.
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

BOOK_SHARE = {"CPU": 89.0, "GPU": 95.0}  # convolution's share of AlexNet's forward time in the book


def build(model_name: str, dtype):
    from deepnet import models

    if model_name not in ("alexnet", "deepconvnet"):
        raise SystemExit(f"unknown model {model_name!r}; choose alexnet or deepconvnet")
    model = models.create(model_name, dtype=dtype)
    return model, model.input_shape, model.num_classes


def time_layers(bk, model_name, batch, repeats, warmup, train, dtype):
    """{layer name: {'type', 'group', 'forward': [s...], 'backward': [s...]}} for one backend."""
    from deepnet import backends
    from deepnet.layers import runner
    from deepnet.optimizers import Adam

    with backends.use(bk):
        bk.rng.seed(0)
        model, shape, classes = build(model_name, dtype)
        x = bk.rng.uniform((batch,) + shape)
        t = bk.rng.integers(0, classes, (batch,))
        rows = {name: {"type": type(l).__name__, "group": C.group_of(l), "forward": [], "backward": []}
                for name, l in model.layers.items()}
        rows["loss"] = {"type": "SoftmaxWithLoss", "group": "softmax/loss", "forward": [], "backward": []}
        rows["update"] = {"type": "Adam", "group": "update", "forward": [], "backward": []}
        opt = Adam(lr=1e-3)
        # each step as the model runs it (deepnet/layers/runner.py): a convolution and its ReLU fused are one
        # step, timed under the convolution's name
        names = {id(layer): name for name, layer in model.layers.items()}
        layers = list(model.layers.values())
        for rep in range(warmup + repeats):
            keep = rep >= warmup

            def timed(phase, layer, run, h, keep=keep):
                bk.synchronize()
                with bk.timer() as tm:
                    out = run(h)
                if keep:
                    rows[names[id(layer)]][phase].append(tm.seconds)
                return out

            h = runner.forward(layers, x, train, fuse=model.fuse,
                               step=lambda group, run, h: timed("forward", group[0], run, h))
            if not train:
                continue
            bk.synchronize()
            with bk.timer() as tm:
                model.loss_layer.forward(h, t)
                d = model.loss_layer.backward()
            if keep:
                rows["loss"]["forward"].append(tm.seconds)
            runner.backward(layers, d, step=lambda layer, run, d: timed("backward", layer, run, d))
            bk.synchronize()
            with bk.timer() as tm:
                opt.update(model.trainable_params(), model.trainable_grads())
                bk.synchronize()
            if keep:
                rows["update"]["forward"].append(tm.seconds)
        if not train:
            del rows["loss"], rows["update"]
        return rows


def summarise(rows) -> dict:
    """Milliseconds and percentage share per layer type, from per-layer median times."""
    ms = defaultdict(float)
    for r in rows.values():
        for phase in ("forward", "backward"):
            if r[phase]:
                ms[r["group"]] += 1000 * C.median(r[phase])
    total = sum(ms.values())
    return {"total_ms": total,
            "groups": {g: {"ms": ms[g], "share": 100 * ms[g] / total if total else 0.0} for g in C.GROUPS if g in ms}}


def plot(results, path, title):
    plt = C.pyplot()

    colors = dict(zip(C.GROUPS, plt.cm.tab10.colors))
    fig, axes = plt.subplots(1, len(results), figsize=(5.2 * len(results), 5.2), squeeze=False)
    for ax, res in zip(axes[0], results):
        groups = res["summary"]["groups"]
        names = [g for g in C.GROUPS if g in groups and groups[g]["share"] >= 0.05]
        shares = [groups[g]["share"] for g in names]
        wedges, _ = ax.pie(shares, colors=[colors[g] for g in names], startangle=90, counterclock=False,
                           wedgeprops=dict(width=0.45, edgecolor="white"))
        ax.legend(wedges, [f"{g}  {s:.1f}%" for g, s in zip(names, shares)], loc="upper center",
                  bbox_to_anchor=(0.5, 0.02), ncol=2, fontsize=9, frameon=False)
        conv = groups.get("conv", {}).get("share", 0.0)
        device = res["device"] if res["device"].startswith(res["label"]) else f"{res['label']}: {res['device']}"
        ax.set_title(f"{device}\n{res['summary']['total_ms']:.0f} ms per pass", fontsize=9)
        book = BOOK_SHARE.get(res["label"])
        ax.text(0, 0, f"conv\n{conv:.0f}%" + (f"\n(book {book:.0f}%)" if book else ""), ha="center", va="center",
                fontsize=12, fontweight="bold")
    fig.suptitle(title, fontsize=11)
    C.save_png(fig, path)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="alexnet", choices=["alexnet", "deepconvnet"])
    p.add_argument("--backend", nargs="+", default=["cpu"], choices=["cpu", "gpu"])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--dtype", default="float32", choices=["float32", "float64", "float16"])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--train", action="store_true", help="time backward passes too")
    C.output_options(p, smoke="CI mode: batch 1, one repeat, no warm-up")
    args = p.parse_args(argv)
    if args.smoke:
        args.batch, args.repeats, args.warmup = 1, 1, 0

    bks = C.open_backends(args.backend, args.dtype)
    results = []
    for bk in bks:
        rows = time_layers(bk, args.model, args.batch, args.repeats, args.warmup, args.train, args.dtype)
        results.append({"backend": bk.name, "label": C.label(bk), "device": bk.device_name,
                        "summary": summarise(rows),
                        "layers": {n: {"type": r["type"], "group": r["group"],
                                       "forward_ms": 1000 * C.median(r["forward"]) if r["forward"] else None,
                                       "backward_ms": 1000 * C.median(r["backward"]) if r["backward"] else None}
                                   for n, r in rows.items()}})

    phase = "forward + backward" if args.train else "forward"
    print(f"\n{args.model} {phase}, batch {args.batch}, {args.dtype}, median of {args.repeats}")
    print(f"{'layer type':<14}" + "".join(f"{r['label'] + ' ms':>12}{'share':>8}" for r in results))
    for g in C.GROUPS:
        if any(g in r["summary"]["groups"] for r in results):
            cells = ""
            for r in results:
                s = r["summary"]["groups"].get(g, {"ms": 0.0, "share": 0.0})
                cells += f"{s['ms']:>12.2f}{s['share']:>7.1f}%"
            print(f"{g:<14}{cells}")
    print(f"{'total':<14}" + "".join(f"{r['summary']['total_ms']:>12.2f}{'':>8}" for r in results))
    for r in results:
        conv = r["summary"]["groups"].get("conv", {}).get("share", 0.0)
        book = BOOK_SHARE.get(r["label"])
        print(f"convolution's share on the {r['label']}: {conv:.1f}%" + (f" (book: {book:.0f}%)" if book else ""))

    out = Path(args.out)
    name = f"layer_breakdown_{args.model}{'_train' if args.train else ''}{('_' + args.tag) if args.tag else ''}"
    payload = {"benchmark": "layer_breakdown", "figure": "8.14", "model": args.model, "phase": phase,
               "batch": args.batch, "dtype": args.dtype, "repeats": args.repeats, "warmup": args.warmup,
               "timestamp": C.stamp(), "machine": C.machine(bks), "results": results,
               "book_conv_share": BOOK_SHARE}
    C.write_results(out, name, payload,
                    lambda png: plot(results, png, f"{args.model} {phase} time by layer type (batch {args.batch}, "
                                                   f"{args.dtype}) - cf. the book's Figure 8.14"))
    return payload


if __name__ == "__main__":
    main()
