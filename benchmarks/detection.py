#!/usr/bin/env python
"""Object detection's figures (the book's 8.4.1): Faster R-CNN and R-CNN on the test scenes of a detection set,
scored by the COCO evaluator (pycocotools: pip install 'deepnet[detection]').

    python benchmarks/detection.py --faster RUN [--rcnn-scenes 16000] [--out DIR] [--tag TAG]

RUN is a run of `deepnet train --model fasterrcnn --dataset mnist-boxes` (or mnist-clutter); its data set is
used. With --rcnn-scenes N, an R-CNN (deepnet/models/rcnn.py) is trained here on the first N training scenes
of the same set and scored beside it. For each: COCO AP@[.5:.95], AP@0.5, AP@0.75, AR@100, AP@0.5 and AP per
class, and images per second of the whole detection (proposals, crops or RoI Align, classification, NMS) over
the 1,000 test scenes in batches of 100, after a warm-up. Writes DATASET[TAG].json and pictures: the first eight
test scenes, and the eight with the most misses and false alarms (score >= 0.5).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402


def timed_detect(detect, x, warm):
    detect(x[:warm])
    start = time.perf_counter()
    found = detect(x)
    return found, len(x) / (time.perf_counter() - start)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--faster", required=True, help="a run directory of deepnet train --model fasterrcnn")
    p.add_argument("--rcnn-scenes", type=int, default=0, help="train an R-CNN on this many training scenes too")
    p.add_argument("--rcnn-epochs", type=int, default=3)
    p.add_argument("--out", default=str(C.RESULTS / "applications" / "detection"))
    p.add_argument("--tag", default="")
    args = p.parse_args(argv)
    import numpy as np

    from deepnet import coco, datasets, io, plots
    from deepnet.commands.detect import load_detector
    from deepnet.datasets.detection import objects
    from deepnet.models import rcnn
    from deepnet.boxes import match_counts

    model, meta = load_detector(args.faster)
    name = datasets.loaders.dataset_key(meta["dataset"])
    test = datasets.loaders.detection_test_scenes(name, 1000)
    truth = objects(test.y)
    classes = datasets.loaders.CLASS_NAMES[name]
    size = model.input_shape[1:]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    x = datasets.to_model_input(test.x, model.dtype)
    rows = {}

    def report(label, found, ips, extra):
        scores = coco.evaluate(found, test.y, size, classes)
        hits, alarms = match_counts([d[d[:, 4] >= 0.5] for d in found], truth)
        rows[label] = {**scores, "images_per_second": ips, "hits_at_score_0.5": hits, "false_alarms_at_score_0.5":
                       alarms, "objects": sum(len(t) for t in truth), **extra}
        print(f"{label}: {coco.describe(scores)}; {ips:,.0f} images/s; AP@0.5 per class " +
              ", ".join(f"{k} {v:.3f}" for k, v in scores["AP50_per_class"].items()))
        return found

    found = report("faster_rcnn", *timed_detect(lambda z: model.detect(z), x, 100),
                   {"run": str(meta["path"]), "epochs": meta.get("epoch"), "parameters": model.num_params()})
    if args.rcnn_scenes:
        data = datasets.load(name)
        r = rcnn.RCNN(input_shape=model.input_shape, num_classes=len(classes),
                      max_side=60.0 if size[0] > 64 else 40.0)
        start = time.perf_counter()
        info = rcnn.train(r, data.train.x[: args.rcnn_scenes], data.train.y[: args.rcnn_scenes],
                          epochs=args.rcnn_epochs)
        info["train_seconds"] = time.perf_counter() - start
        info["train_scenes"] = args.rcnn_scenes
        info["parameters"] = r.classifier.num_params()
        rfound = report("rcnn", *timed_detect(lambda z: r.detect(z), test.x, 100), info)
        r_pic = out / f"{name}{args.tag}_rcnn.png"
        plots.detections(test.x[:8], truth[:8], [d[d[:, 4] >= 0.5] for d in rfound[:8]], r_pic, classes,
                         titles=[f"R-CNN, test scene {i}" for i in range(8)])
    shown = [d[d[:, 4] >= 0.5] for d in found]
    plots.detections(test.x[:8], truth[:8], shown[:8], out / f"{name}{args.tag}_detections.png", classes,
                     titles=[f"test scene {i}" for i in range(8)])
    errors = np.array([len(t) + len(d) - 2 * match_counts([d], [t])[0] for d, t in zip(shown, truth)])
    worst = np.argsort(-errors, kind="stable")[:8]
    plots.detections(test.x[worst], [truth[i] for i in worst], [shown[i] for i in worst],
                     out / f"{name}{args.tag}_misses.png", classes,
                     titles=[f"test scene {i}: {errors[i]} wrong" for i in worst])
    io.write_json(out / f"{name}{args.tag}.json", {"dataset": name, "test_scenes": len(test.x), "results": rows,
                                                   "command": " ".join(["python", "benchmarks/detection.py",
                                                                        *(argv or sys.argv[1:])]),
                                                   "machine": C.machine()})
    print(f"Wrote {out / (name + args.tag + '.json')} and pictures")


if __name__ == "__main__":
    main()
