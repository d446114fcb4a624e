"""`deepnet detect`: a trained detector (`--model fasterrcnn`) finds the digits in test scenes or a user's
images, printing each box with its class and score and drawing them."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import datasets, plots, tasks
from ..boxes import match_counts
from ..errors import InvalidValue
from ..images import load_scene
from ..loading import load_model
from .arguments import check_output, scenes_or_images

SHOWN = 64  # scenes drawn in the picture; every detection is printed


def check_thresholds(score: float, nms: float) -> None:
    if not 0.0 <= score <= 1.0:
        raise InvalidValue(f"--score must lie in [0, 1] (a class probability); got {score}")
    if not 0.0 < nms <= 1.0:
        raise InvalidValue(f"--nms must lie in (0, 1] (the IoU above which a weaker box is dropped); got {nms}")


def load_detector(run):
    model, meta = load_model(run)
    tasks.DETECT.require(model, meta["path"])
    return model, meta


def detect(run, images=(), count: int = 8, score: float = 0.5, nms: float = 0.5, out="detections.png",
           data_dir=None, log=print) -> dict:
    """Detections in the first `count` test scenes of the run's data set (beside the true boxes), or in the
    given images (grey or colour, resized to the model's input, dark-on-light inverted; boxes reported in the
    image's own pixels); with `out`, a picture of them."""
    check_thresholds(score, nms)
    if not 1 <= count <= 1000:
        raise InvalidValue(f"--count must be from 1 to 1,000; got {count}")
    if out:
        check_output(out, run, *images)
    model, meta = load_detector(run)
    classes = datasets.loaders.CLASS_NAMES["mnist_boxes"]
    h, w = model.input_shape[1:]
    if images:
        loaded = [load_scene(p, (h, w), min(model.anchor_sizes)) for p in images]
        x = np.stack([a for a, _ in loaded])
        scales = [s for _, s in loaded]
        truth, names = None, [str(p) for p in images]
    else:
        test = datasets.loaders.detection_test_scenes(meta["dataset"], count, source_dir=data_dir)
        x, scales = test.x, [(1.0, 1.0)] * len(test.x)
        truth, names = datasets.detection.objects(test.y), [f"test scene {i}" for i in range(len(test.x))]
    found = model.detect(datasets.to_model_input(x, model.dtype), score_threshold=score, nms=nms)
    hits = objects = 0
    for i, (name, det) in enumerate(zip(names, found)):
        sx, sy = scales[i]
        shown = det.copy()
        shown[:, [0, 2]] *= sx
        shown[:, [1, 3]] *= sy
        parts = [f"{classes[int(c)]} {s:.2f} at ({x1:.0f}, {y1:.0f}, {x2:.0f}, {y2:.0f})"
                 for x1, y1, x2, y2, s, c in shown]
        line = f"{name}: " + ("; ".join(parts) if parts else "no digits found")
        if truth is not None:
            got, _ = match_counts([det], [truth[i]])
            hits, objects = hits + got, objects + len(truth[i])
            line += f"   (truth: {' '.join(classes[int(c)] for c in truth[i][:, 4]) or 'none'}; {got} found)"
        log(line)
    if truth is not None:
        log(f"{hits} of {objects} digits found (IoU >= 0.5, right class, score >= {score:g})")
    if out:
        plots.detections(x[:SHOWN], None if truth is None else truth[:SHOWN], found[:SHOWN], Path(out), classes,
                         titles=names[:SHOWN])
        log(f"Picture: {out}" + (f" (the first {SHOWN} of {len(x)})" if len(x) > SHOWN else ""))
    return {"detections": found, "hits": hits, "objects": objects}


NAME = "detect"
HELP = ("a trained detector (--model fasterrcnn) finds digits in test scenes or your images: boxes, classes and "
        "scores, printed and drawn")


def add_arguments(p) -> None:
    scenes_or_images(p, "fasterrcnn", "PNG/JPEG images (default: the first --count test scenes of the run's data "
                                      "set)", "test scenes (default 8)", 8, "detections.png")
    p.add_argument("--score", type=float, default=0.5, help="the least class probability shown (default 0.5)")
    p.add_argument("--nms", type=float, default=0.5, help="NMS IoU threshold per class (default 0.5)")


def run(args) -> int:
    detect(args.weights, args.images, count=args.count, score=args.score, nms=args.nms, out=args.out,
           data_dir=args.data_dir)
    return 0
