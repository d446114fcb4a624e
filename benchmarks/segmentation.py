#!/usr/bin/env python
"""SegNet beside FCN on the segmentation scenes (the book's 8.4.2 and 8.5.3): training-step time and inference
throughput, each model in its own fresh process, rounds alternating, medians with the spread; with run
directories, their mean IoU on the 1,000 test scenes.

    python benchmarks/segmentation.py [--rounds 5] [--steps 20] [--segnet RUN] [--fcn RUN] [--out DIR]

Both models train as `deepnet train --dataset mnist-scenes --batch-size 32` does: batch 32 of real scenes drawn
by the trainer's permutation, Adam, the same seed; inference in batches of 100 through Model.predict_labels.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

MODELS = ("fcn", "segnet")


def worker(name: str, steps: int) -> None:
    import numpy as np

    from deepnet import datasets, models, optimizers
    from deepnet.backends import current

    bk = current()
    bk.rng.seed(0)
    data = datasets.load("mnist-scenes")
    model = models.create(name, input_shape=(1, 64, 64), num_classes=len(data.classes))
    x = datasets.to_model_input(data.train.x)
    t = bk.to_device(data.train.y)
    opt = optimizers.create("adam", lr=1e-3)
    order = bk.rng.permutation(len(x))
    times = []
    for i in range(steps + 3):
        idx = order[i * 32 : (i + 1) * 32]
        start = time.perf_counter()
        model.train_step(x[idx], t[idx], opt)
        bk.synchronize()
        if i >= 3:  # the first steps allocate
            times.append(time.perf_counter() - start)
    xt = datasets.to_model_input(data.test.x[:500])
    model.predict_labels(xt[:100], batch_size=100)
    bk.synchronize()
    start = time.perf_counter()
    model.predict_labels(xt, batch_size=100)
    bk.synchronize()  # a GPU returns before its work is done: the clock stops when the device has finished
    infer = len(xt) / (time.perf_counter() - start)
    C.emit({"step_ms": 1000 * float(np.median(times)), "images_per_second": infer,
            "parameters": model.num_params()})


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--segnet", default=None, help="a run of deepnet train --model segnet --dataset mnist-scenes")
    p.add_argument("--fcn", default=None, help="a run of deepnet train --model fcn --dataset mnist-scenes")
    p.add_argument("--mean-iou", action="append", default=[], metavar="MODEL=VALUE",
                   help="a mean IoU measured elsewhere (a committed run), e.g. fcn=0.931")
    C.output_options(p, worker=2)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args.worker[0], int(args.worker[1]))
    rows = {m: [] for m in MODELS}
    for r in range(args.rounds):
        for m in (MODELS if r % 2 == 0 else MODELS[::-1]):
            rows[m].append(C.run_fresh([__file__, "--worker", m, args.steps]))
            print(f"round {r + 1} {m}: {rows[m][-1]['step_ms']:.1f} ms a step, "
                  f"{rows[m][-1]['images_per_second']:.0f} images/s", flush=True)
    result = {}
    for m in MODELS:
        steps = [x["step_ms"] for x in rows[m]]
        ips = [x["images_per_second"] for x in rows[m]]
        result[m] = {"parameters": rows[m][0]["parameters"], "train_step_ms_median": C.median(steps),
                     "train_step_ms_range": [min(steps), max(steps)], "inference_images_per_second_median":
                     C.median(ips), "inference_range": [min(ips), max(ips)]}
    for given in args.mean_iou:
        m, _, v = given.partition("=")
        result.setdefault(m, {})["mean_iou"] = float(v)
        result[m]["mean_iou_source"] = "given on the command line (a committed run)"
    for m, run in (("segnet", args.segnet), ("fcn", args.fcn)):
        if run:
            import numpy as np

            from deepnet import datasets
            from deepnet.backends import current
            from deepnet.datasets.scenes import iou
            from deepnet.loading import load_model

            model, _ = load_model(run)
            data = datasets.load("mnist-scenes")
            pred = current().to_numpy(model.predict_labels(datasets.to_model_input(data.test.x), batch_size=100))
            result[m]["mean_iou"] = float(np.nanmean(iou(pred, data.test.y, len(data.classes))))
            result[m]["mean_iou_source"] = str(run)
    for m in MODELS:
        r = result[m]
        print(f"{m}: {r['parameters']:,} parameters, {r['train_step_ms_median']:.1f} ms a training step of 32 "
              f"({r['train_step_ms_range'][0]:.1f}-{r['train_step_ms_range'][1]:.1f}), "
              f"{r['inference_images_per_second_median']:.0f} images/s inference"
              + (f", mean IoU {r['mean_iou']:.3f}" if "mean_iou" in r else ""))
    C.write_results(args.out, f"segnet_vs_fcn{args.tag}", {"results": result, "rounds": args.rounds,
                                                           "steps": args.steps, "machine": C.machine()})


if __name__ == "__main__":
    main()
