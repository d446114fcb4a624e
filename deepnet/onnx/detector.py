"""Faster R-CNN as one ONNX graph (the exporter, export.py, calls it): the whole `FasterRCNN.detect`, from
the image to the detections, with standard operators at opset 17.

    input   "input"       float32 (batch, C, H, W)
    output  "detections"  float32 (batch, max_detections, 6): rows (x1, y1, x2, y2, score, class), best first;
                          rows past an image's last detection are zeros (class 0, the background)

The graph follows `detect` step by step, each image's region lists padded to a fixed length so that the
batch stays rectangular (a padded entry has the score -inf and never survives):
    backbone, RPN           the chain exporter's Conv / Relu / MaxPool
    proposals               the anchors (a constant) moved by the deltas (Split, Exp, ...), clipped (Max, Min),
                            too-small boxes' objectness set to -inf (Where); TopK pre_nms; NonMaxSuppression at
                            rpn_nms with at most post_nms kept; the kept ones gathered best first (ScatterND, TopK)
    head                    RoiAlign (avg, half_pixel: torchvision's aligned=True, as deepnet's), the fully
                            connected layers (Gemm), Softmax
    detections              each region's box for every class decoded (Fast R-CNN's weights), clipped; scores
                            below the threshold or boxes of no area set to -inf; NonMaxSuppression per image
                            and class (its classes axis: each class sees only its own boxes); the best
                            max_detections of an image (TopK)
One difference from `detect`: an image whose every proposal is too small gets no detections here, where
`detect` falls back to one region covering the image. Box arithmetic runs in float32 here and in float64 in
`detect`, so a score or IoU within rounding of a threshold can fall on the other side.
"""
from __future__ import annotations

import functools

import numpy as np

from .. import boxes as B
from ..models.detection import HEAD_WEIGHTS

FLOAT_MIN = float(np.finfo(np.float32).min)  # NonMaxSuppression's score threshold: only -inf scores are below


def detector_graph(g, model, layers, score_threshold: float, nms: float, max_detections: int):
    """Add Faster R-CNN's nodes to the graph `g` (graph.Graph) reading "input"; `layers(g, list, x, prefix)`
    is the chain exporter. Returns the detections' tensor name and its shape after the batch."""
    h, w = model.input_shape[1:]
    num_classes, a = model.num_classes, model.num_anchors
    i64 = lambda *v: g.const(np.array(v, np.int64), "i64")  # noqa: E731
    f32 = functools.partial(_float, g)
    minus_inf = f32(-np.inf)

    # backbone and RPN, then objectness (N, HWA) and deltas (N, HWA, 4) in the anchors' order
    feat = layers(g, model.backbone, "input", "backbone.")
    trunk = layers(g, model.rpn, feat, "rpn.")
    fh, fw = h // model.stride, w // model.stride
    obj = layers(g, [model.layers["rpn_score"]], trunk, "rpn_score.")
    obj = g.node("Reshape", [g.node("Transpose", [obj], "obj_t", perm=[0, 2, 3, 1]), i64(0, -1)], "objectness")
    deltas = layers(g, [model.layers["rpn_delta"]], trunk, "rpn_delta.")
    deltas = g.node("Reshape", [deltas, i64(0, a, 4, fh, fw)], "deltas5")
    deltas = g.node("Transpose", [deltas], "deltas_t", perm=[0, 3, 4, 1, 2])
    deltas = g.node("Reshape", [deltas, i64(0, -1, 4)], "rpn_deltas")

    # proposals: decoded, clipped, the small ones out, the best pre_nms, NMS, the best post_nms kept
    boxes = _clip(g, _decode(g, deltas, g.const(model.anchors.astype(g.dtype), "anchors"), (1.0,) * 4), h, w)
    x1, y1, x2, y2 = _split4(g, boxes)
    big = g.node("And", [g.node("GreaterOrEqual", [g.node("Sub", [x2, x1]), f32(1.0)]),
                         g.node("GreaterOrEqual", [g.node("Sub", [y2, y1]), f32(1.0)])], "big")
    obj = g.node("Where", [g.node("Squeeze", [big, i64(2)]), obj, minus_inf], "obj_masked")
    pre = min(model.pre_nms[False], len(model.anchors))
    best, best_index = _topk(g, obj, pre, "pre_nms")
    best_boxes = g.node("GatherND", [boxes, g.node("Unsqueeze", [best_index, i64(2)])], "pre_boxes", batch_dims=1)
    selected = g.node("NonMaxSuppression", [best_boxes, g.node("Unsqueeze", [best, i64(1)]),
                                            i64(model.post_nms[False]), f32([model.rpn_nms]), f32([FLOAT_MIN])],
                      "rpn_nms")
    kept = _scatter_kept(g, best, selected, minus_inf)
    post = min(model.post_nms[False], pre)
    region_score, region_index = _topk(g, kept, post, "post_nms")
    regions = g.node("GatherND", [best_boxes, g.node("Unsqueeze", [region_index, i64(2)])], "regions", batch_dims=1)
    region_ok = g.node("Greater", [region_score, f32(FLOAT_MIN)], "region_ok")  # (N, P)

    # the head on every region of every image: (N * P) rows
    rois = g.node("Reshape", [regions, i64(-1, 4)], "rois")
    n = g.node("Gather", [g.node("Shape", ["input"], "input_shape"), i64(0)], "n", axis=0)
    image = g.node("Range", [g.const(np.array(0, np.int64), "zero"), g.node("Squeeze", [n], "n0"),
                             g.const(np.array(1, np.int64), "one")], "images")
    image = g.node("Expand", [g.node("Unsqueeze", [image, i64(1)]), g.node("Shape", [region_score])], "image_of")
    pooled = g.node("RoiAlign", [feat, rois, g.node("Reshape", [image, i64(-1)], "batch_indices")], "roi_align",
                    output_height=model.roi_size, output_width=model.roi_size, sampling_ratio=2,
                    spatial_scale=1.0 / model.stride, mode="avg", coordinate_transformation_mode="half_pixel")
    hidden = layers(g, model.head, pooled, "head.")
    probs = g.node("Softmax", [layers(g, [model.layers["cls"]], hidden, "cls.")], "probs", axis=1)
    box = layers(g, [model.layers["box"]], hidden, "box.")

    # each region's box and score for classes 1..K-1: (N * P, K - 1, 4) and (N * P, K - 1)
    k1 = num_classes - 1
    probs = g.node("Slice", [probs, i64(1), i64(num_classes), i64(1)], "class_probs")
    box = g.node("Slice", [g.node("Reshape", [box, i64(0, num_classes, 4)]), i64(1), i64(num_classes), i64(1)],
                 "class_deltas")
    found = _clip(g, _decode(g, box, g.node("Unsqueeze", [rois, i64(1)]), HEAD_WEIGHTS), h, w)
    x1, y1, x2, y2 = _split4(g, found)
    ok = g.node("And", [g.node("Greater", [g.node("Sub", [x2, x1]), f32(0.0)]),
                        g.node("Greater", [g.node("Sub", [y2, y1]), f32(0.0)])])
    ok = g.node("And", [g.node("Squeeze", [ok, i64(2)]), g.node("GreaterOrEqual", [probs, f32(score_threshold)])])
    ok = g.node("And", [ok, g.node("Reshape", [region_ok, i64(-1, 1)])], "detection_ok")
    score = g.node("Reshape", [g.node("Where", [ok, probs, minus_inf]), i64(-1, post * k1)], "scores")  # (N, PK)
    found = g.node("Reshape", [found, i64(-1, post * k1, 4)], "found")  # (N, PK, 4): region-major, then class
    # NMS per image and class: class c's scores row holds -inf except at its own boxes
    own = (np.arange(post * k1)[None, :] % k1 == np.arange(k1)[:, None])[None]  # (1, K-1, PK)
    by_class = g.node("Where", [g.const(own, "own_class"), g.node("Unsqueeze", [score, i64(1)]), minus_inf],
                      "by_class")
    selected = g.node("NonMaxSuppression", [found, by_class, i64(post * k1), f32([nms]), f32([FLOAT_MIN])],
                      "nms")
    kept = _scatter_kept(g, score, selected, minus_inf, scores3=by_class)
    top = min(int(max_detections), post * k1)
    top_score, top_index = _topk(g, kept, top, "detections")
    top_box = g.node("GatherND", [found, g.node("Unsqueeze", [top_index, i64(2)])], "top_boxes", batch_dims=1)
    cls = g.node("Add", [g.node("Mod", [top_index, i64(k1)]), i64(1)], "class_index")
    real = g.node("Greater", [top_score, f32(FLOAT_MIN)], "real")
    zero = f32(0.0)
    rows = [g.node("Where", [g.node("Unsqueeze", [real, i64(2)]), top_box, zero], "det_boxes"),
            g.node("Unsqueeze", [g.node("Where", [real, top_score, zero]), i64(2)], "det_scores"),
            g.node("Unsqueeze", [g.node("Where", [real, g.node("Cast", [cls], to=_float_type(g)), zero]), i64(2)],
                   "det_classes")]
    return g.node("Concat", rows, "detections_", axis=2), [top, 6]


def _float(g, value) -> str:
    """A constant of the graph's float type."""
    return g.const(np.array(value, g.dtype), "f")


def _float_type(g) -> int:
    return g.helper.np_dtype_to_tensor_dtype(g.dtype)


def _split4(g, boxes):
    outs = [g.name("coord") for _ in range(4)]
    g.nodes.append(g.helper.make_node("Split", [boxes], outs, name=outs[0], axis=-1))
    return outs


def _decode(g, deltas, references, weights):
    """boxes.decode as nodes: deltas and references (.., 4) broadcast against each other."""
    d0, d1, d2, d3 = _split4(g, deltas)
    r0, r1, r2, r3 = _split4(g, references)
    f32 = functools.partial(_float, g)
    wx, wy, ww, wh = weights
    rw, rh = g.node("Sub", [r2, r0], "rw"), g.node("Sub", [r3, r1], "rh")
    half = f32(0.5)
    cx = g.node("Add", [g.node("Add", [r0, g.node("Mul", [rw, half])]),
                        g.node("Mul", [g.node("Div", [d0, f32(wx)]), rw])], "cx")
    cy = g.node("Add", [g.node("Add", [r1, g.node("Mul", [rh, half])]),
                        g.node("Mul", [g.node("Div", [d1, f32(wy)]), rh])], "cy")
    limit = f32(B.MAX_LOG_SCALE)
    bw = g.node("Mul", [rw, g.node("Exp", [g.node("Min", [g.node("Div", [d2, f32(ww)]), limit])])], "bw")
    bh = g.node("Mul", [rh, g.node("Exp", [g.node("Min", [g.node("Div", [d3, f32(wh)]), limit])])], "bh")
    hw, hh = g.node("Mul", [bw, half]), g.node("Mul", [bh, half])
    return g.node("Concat", [g.node("Sub", [cx, hw]), g.node("Sub", [cy, hh]), g.node("Add", [cx, hw]),
                             g.node("Add", [cy, hh])], "decoded", axis=-1)


def _clip(g, boxes, h: int, w: int):
    return g.node("Min", [g.node("Max", [boxes, _float(g, 0.0)]), _float(g, [w, h, w, h])], "clipped")


def _topk(g, scores, k: int, base: str):
    """(values, indices) of each row's k largest, best first (ties: the lower index first, as a stable sort)."""
    values, indices = g.name(f"{base}_scores"), g.name(f"{base}_index")
    g.nodes.append(g.helper.make_node("TopK", [scores, g.const(np.array([k], np.int64), "k")], [values, indices],
                                      name=values, axis=1, largest=1, sorted=1))
    return values, indices


def _scatter_kept(g, scores, selected, minus_inf, scores3=None):
    """(N, M): the scores of the boxes NonMaxSuppression kept (its rows (image, class, box)), -inf elsewhere."""
    where = g.node("Gather", [selected, g.const(np.array([0, 2], np.int64), "image_box")], "kept_at", axis=1)
    values = g.node("GatherND", [scores3, selected] if scores3 is not None else [scores, where], "kept_scores")
    empty = g.node("Expand", [minus_inf, g.node("Shape", [scores])], "none_kept")
    return g.node("ScatterND", [empty, where, values], "kept")
