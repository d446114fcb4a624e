"""Box arithmetic for detection, on the host in NumPy (a few thousand boxes an image; the convolutions and
RoI Align stay on the backend's device). Boxes are rows (x1, y1, x2, y2) in pixels, x2 and y2 one past the
last column and row, so a box's width is x2 - x1.

Degenerate boxes (zero or negative width or height) overlap nothing, themselves included: their IoU with
any box is 0, as in the COCO evaluator (pycocotools' bbIou skips a pair whose intersection has no positive
width or height).
"""
from __future__ import annotations

import math

import numpy as np

#: the largest log-scale a decoded width or height may take (Faster R-CNN's clamp: exp of it is 62.5x)
MAX_LOG_SCALE = math.log(1000.0 / 16)


def area(boxes) -> np.ndarray:
    b = np.asarray(boxes, np.float64)
    return np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)


def iou(a, b) -> np.ndarray:
    """(len(a), len(b)) intersection over union of two sets of boxes (0 for degenerate boxes)."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    overlap = (iw > 0) & (ih > 0)
    inter = np.where(overlap, iw * ih, 0.0)
    union = (a[:, 2] - a[:, 0])[:, None] * (a[:, 3] - a[:, 1])[:, None] + \
        ((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]))[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(overlap, inter / np.where(overlap, union, 1.0), 0.0)


def encode(boxes, references, weights=(1.0, 1.0, 1.0, 1.0)) -> np.ndarray:
    """Faster R-CNN's regression targets of `boxes` against `references` (anchors or proposals), row by row:
    (wx (x - xr) / wr, wy (y - yr) / hr, ww log(w / wr), wh log(h / hr)) with (x, y) the centres."""
    b, r = np.asarray(boxes, np.float64), np.asarray(references, np.float64)
    bw, bh = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    rw, rh = r[:, 2] - r[:, 0], r[:, 3] - r[:, 1]
    if (bw <= 0).any() or (bh <= 0).any() or (rw <= 0).any() or (rh <= 0).any():
        raise ValueError("encode needs boxes with positive width and height")
    wx, wy, ww, wh = weights
    return np.stack([wx * ((b[:, 0] + bw / 2) - (r[:, 0] + rw / 2)) / rw,
                     wy * ((b[:, 1] + bh / 2) - (r[:, 1] + rh / 2)) / rh,
                     ww * np.log(bw / rw), wh * np.log(bh / rh)], axis=1)


def decode(deltas, references, weights=(1.0, 1.0, 1.0, 1.0)) -> np.ndarray:
    """The boxes that `deltas` (encode's form) describe against `references`; the scales are clamped to
    MAX_LOG_SCALE so that a wild prediction cannot overflow."""
    d, r = np.asarray(deltas, np.float64), np.asarray(references, np.float64)
    wx, wy, ww, wh = weights
    rw, rh = r[:, 2] - r[:, 0], r[:, 3] - r[:, 1]
    cx = r[:, 0] + rw / 2 + d[:, 0] / wx * rw
    cy = r[:, 1] + rh / 2 + d[:, 1] / wy * rh
    w = rw * np.exp(np.minimum(d[:, 2] / ww, MAX_LOG_SCALE))
    h = rh * np.exp(np.minimum(d[:, 3] / wh, MAX_LOG_SCALE))
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)


def clip(boxes, height: int, width: int) -> np.ndarray:
    b = np.asarray(boxes, np.float64).copy()
    b[:, 0::2] = np.clip(b[:, 0::2], 0, width)
    b[:, 1::2] = np.clip(b[:, 1::2], 0, height)
    return b


def nms(boxes, scores, threshold: float, limit: int | None = None) -> np.ndarray:
    """Greedy non-maximum suppression: the indices of the boxes kept, best score first; a box is dropped when
    its IoU with a kept, better-scoring box exceeds `threshold` (in (0, 1]). With `limit`, stops once that many
    are kept (the same first `limit` indices, sooner)."""
    if not 0.0 < float(threshold) <= 1.0:
        raise ValueError(f"the NMS IoU threshold must lie in (0, 1]; got {threshold}")
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    x1, y1, x2, y2 = np.asarray(boxes, np.float64).reshape(-1, 4)[order].T
    areas = (x2 - x1) * (y2 - y1)
    keep = []
    suppressed = np.zeros(len(order), bool)
    limit = len(order) if limit is None else int(limit)
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(order[i])
        if len(keep) >= limit:
            break
        # iou() inlined against the boxes after this one: the loop runs once per kept box
        iw = np.minimum(x2[i], x2[i + 1 :]) - np.maximum(x1[i], x1[i + 1 :])
        ih = np.minimum(y2[i], y2[i + 1 :]) - np.maximum(y1[i], y1[i + 1 :])
        overlap = (iw > 0) & (ih > 0)
        inter = np.where(overlap, iw * ih, 0.0)
        union = np.where(overlap, areas[i] + areas[i + 1 :] - inter, 1.0)
        suppressed[i + 1 :] |= overlap & (inter > threshold * union)
    return np.asarray(keep, dtype=np.int64)


def batched_nms(boxes, scores, classes, threshold: float) -> np.ndarray:
    """nms within each class (boxes of different classes never suppress each other); indices, best first."""
    boxes, classes = np.asarray(boxes, np.float64), np.asarray(classes)
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    # shift each class's boxes apart so that no two classes overlap, then one pass suffices
    shift = (classes.astype(np.float64) * (np.abs(boxes).max() + 1.0))[:, None]
    return nms(boxes + shift, scores, threshold)


def anchors(height: int, width: int, stride: int, sizes, ratios) -> np.ndarray:
    """(height * width * A, 4) anchor boxes centred on each feature pixel (its centre in the image, stride
    pixels apart), A = len(sizes) * len(ratios), in the order (row, column, size, ratio); each of area size^2
    and height / width = ratio."""
    s = np.asarray(sizes, np.float64)[:, None]
    r = np.asarray(ratios, np.float64)[None, :]
    hw = np.stack([(s / np.sqrt(r)).ravel(), (s * np.sqrt(r)).ravel()], axis=1)  # (A, 2): width, height
    cy, cx = np.meshgrid((np.arange(height) + 0.5) * stride, (np.arange(width) + 0.5) * stride, indexing="ij")
    centres = np.stack([cx.ravel(), cy.ravel()], axis=1)[:, None]  # (HW, 1, 2)
    return np.concatenate([centres - hw / 2, centres + hw / 2], axis=2).reshape(-1, 4)


def match_counts(detections, truth, iou_threshold: float = 0.5) -> tuple[int, int]:
    """(hits, false alarms): detections taken best first, each matching the unmatched object of its class it
    overlaps most at IoU >= iou_threshold."""
    hits = alarms = 0
    for found, gt in zip(detections, truth):
        taken = np.zeros(len(gt), bool)
        overlaps = iou(found[:, :4], gt[:, :4]) if len(found) and len(gt) else np.zeros((len(found), len(gt)))
        for j in np.argsort(-found[:, 4], kind="stable") if len(found) else []:
            ok = (~taken) & (gt[:, 4] == found[j, 5]) & (overlaps[j] >= iou_threshold) if len(gt) else np.zeros(0, bool)
            if ok.any():
                taken[np.flatnonzero(ok)[overlaps[j][ok].argmax()]] = True
                hits += 1
            else:
                alarms += 1
    return hits, alarms
