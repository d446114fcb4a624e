"""Detections scored by the COCO evaluator (pycocotools' COCOeval, the `detection` extra): deepnet does not
compute average precision itself."""
from __future__ import annotations

import contextlib
import io as _io

import numpy as np

from .datasets.detection import coco_detections, coco_ground_truth
from .errors import MissingDependency


def evaluate(detections, boxes, size, classes=None) -> dict:
    """COCO box metrics of detections ((k, 6) rows x1, y1, x2, y2, score, class per scene) against the scenes'
    boxes ((N, M, 5)): AP (IoU .5:.95), AP50, AP75, AP by object size, AR@100, and AP50 per class (by name
    when `classes` names them). Values are COCOeval's (-1 where a category has no object)."""
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        raise MissingDependency("scoring detections needs pycocotools: pip install 'deepnet[detection]'") from None
    gt = COCO()
    gt.dataset = coco_ground_truth(np.asarray(boxes), size)
    results = coco_detections(detections)
    with contextlib.redirect_stdout(_io.StringIO()):  # COCO prints its progress; the summary is returned
        gt.createIndex()
        dt = gt.loadRes(results) if results else COCO()
        if not results:
            dt.dataset = {"images": gt.dataset["images"], "annotations": [], "categories": gt.dataset["categories"]}
            dt.createIndex()
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    s = ev.stats
    out = {"AP": s[0], "AP50": s[1], "AP75": s[2], "AP_small": s[3], "AP_medium": s[4], "AP_large": s[5],
           "AR100": s[8]}
    # precision (T IoUs, R recalls, K classes, A areas, M max-dets): AP50 per class, all areas, 100 detections
    precision = ev.eval["precision"][:, :, :, 0, -1]
    for key, rows in (("AP50_per_class", slice(0, 1)), ("AP_per_class", slice(None))):
        per_class = {}
        for k, cat in enumerate(ev.params.catIds):
            p = precision[rows, :, k]
            name = classes[cat] if classes is not None and cat < len(classes) else str(cat)
            per_class[name] = float(p[p > -1].mean()) if (p > -1).any() else -1.0
        out[key] = per_class
    return {k: (float(v) if not isinstance(v, dict) else v) for k, v in out.items()}


def describe(scores: dict) -> str:
    return (f"COCO AP@[.5:.95] {scores['AP']:.3f}, AP@0.5 {scores['AP50']:.3f}, AP@0.75 {scores['AP75']:.3f}, "
            f"AR@100 {scores['AR100']:.3f}")
