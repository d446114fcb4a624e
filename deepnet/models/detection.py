"""Object detection (the book's 8.4.1): Faster R-CNN (Ren et al., 2015), whose candidate regions are proposed
by a network sharing the classifier's convolutions.

    backbone: 3 stages of 2 x (conv3x3, ReLU) with widths w, 2w, 4w, a 2x2 max pooling after the first two:
              features at stride 4
    RPN:      conv3x3 and ReLU over the features, then per position and anchor (A of them: sizes x height/width
              ratios) an objectness logit (1x1 conv) and four box deltas against the anchor (1x1 conv)
    regions:  the anchors moved by their deltas, clipped, the best `pre_nms` by objectness, NMS at 0.7, the
              best `post_nms` kept
    head:     RoI Align (7x7 bins, 2x2 points a bin) of each region from the shared features, two fully
              connected layers with ReLU, then K class scores (class 0: background) and 4 box deltas per class

Training is the paper's approximate joint training: one loss,
    RPN: binary cross-entropy of objectness on 256 anchors an image (up to half positive: IoU >= 0.7 with an
         object, or an object's best anchor; negative: IoU < 0.3), smooth L1 of the positives' deltas
    head: softmax cross-entropy on 64 regions an image (up to a quarter foreground: IoU >= 0.5 with an object,
          the objects' own boxes added to the proposals), smooth L1 of the foreground's deltas for their class
summed, every term averaged over the sampled anchors or regions; the gradient does not flow through the
proposals' coordinates. Box arithmetic runs on the host (deepnet/boxes.py); the convolutions, RoI Align
(a backend operation) and the fully connected layers on the backend's device.

Labels, as the detection data sets give them (datasets/detection.py): (N, M, 5) rows (x1, y1, x2, y2, class),
class 0 for padding rows.
"""
from __future__ import annotations

import numpy as np

from .. import boxes as B
from ..backends import current
from ..layers import Affine, Convolution, Pooling, Relu, RoIAlign, runner, softmax
from ..layers.base import output_shape_of
from .describe import describe
from .model import Model

#: weights of the head's box deltas (Fast R-CNN's): the targets have about unit variance
HEAD_WEIGHTS = (10.0, 10.0, 5.0, 5.0)


def _smooth_l1(diff, beta: float):
    """(loss, d loss / d diff) elementwise: 0.5 d^2 / beta within beta, |d| - beta / 2 beyond."""
    xp = current().xp
    a = xp.abs(diff)
    inside = a < beta
    return xp.where(inside, 0.5 * diff * diff / beta, a - 0.5 * beta), xp.where(inside, diff / beta, xp.sign(diff))


def _bce(logits, labels):
    """(loss, d loss / d logits) of the binary cross-entropy of sigmoid(logits) against 0/1 labels."""
    xp = current().xp
    loss = xp.maximum(logits, 0) - logits * labels + xp.log1p(xp.exp(-xp.abs(logits)))
    return loss, 0.5 * (xp.tanh(0.5 * logits) + 1) - labels  # sigmoid without exp's overflow


class FasterRCNN(Model):
    """Faster R-CNN for `num_classes` classes counting the background (11 for the digits)."""

    #: the trainer and the commands tell a detector by this (its labels are boxes, its output detections)
    task = "detect"

    def __init__(self, input_shape=(1, 64, 64), num_classes: int = 11, width: int = 16,
                 anchor_sizes=(8, 16, 32, 64), anchor_ratios=(1.0, 2.0, 4.0), roi_size: int = 7, hidden: int = 256,
                 dtype=None):
        c, h, w = input_shape
        if h % 4 or w % 4:
            raise ValueError(f"FasterRCNN needs input sides that are multiples of 4 (two poolings); got {h}x{w}")
        if num_classes < 2:
            raise ValueError(f"FasterRCNN needs the background and at least one class; got num_classes={num_classes}")
        self.stride, self.roi_size = 4, int(roi_size)
        self.anchor_sizes, self.anchor_ratios = tuple(anchor_sizes), tuple(anchor_ratios)
        a = len(self.anchor_sizes) * len(self.anchor_ratios)
        widths = (width, 2 * width, 4 * width)
        conv = lambda i, o, k=3: Convolution(i, o, k, pad=k // 2, dtype=dtype)  # noqa: E731
        backbone, ch = [], c
        for s, o in enumerate(widths, start=1):
            backbone += [(f"conv{s}a", conv(ch, o)), (f"relu{s}a", Relu()), (f"conv{s}b", conv(o, o)),
                         (f"relu{s}b", Relu())]
            if s < len(widths):
                backbone.append((f"pool{s}", Pooling(2)))
            ch = o
        rpn = [("rpn_conv", conv(ch, ch)), ("rpn_relu", Relu())]
        # the outputs start small (Faster R-CNN's initialisation: std 0.01, 0.001 for the head's boxes)
        rpn_out = [("rpn_score", Convolution(ch, a, 1, weight_init=0.01, dtype=dtype)),
                   ("rpn_delta", Convolution(ch, 4 * a, 1, weight_init=0.01, dtype=dtype))]
        head = [("fc1", Affine(ch * self.roi_size ** 2, hidden, dtype=dtype)), ("fc1_relu", Relu()),
                ("fc2", Affine(hidden, hidden, dtype=dtype)), ("fc2_relu", Relu())]
        out = [("cls", Affine(hidden, num_classes, 0.01, dtype=dtype)),
               ("box", Affine(hidden, 4 * num_classes, 0.001, dtype=dtype))]
        super().__init__(backbone + rpn + rpn_out + head + out, input_shape=input_shape)
        self.backbone = [layer for name, layer in backbone]
        self.rpn = [layer for name, layer in rpn]
        self.head = [layer for name, layer in head]
        self.roi_align = RoIAlign(self.roi_size, 1.0 / self.stride)
        self.num_anchors = a
        self.anchors = B.anchors(h // 4, w // 4, self.stride, self.anchor_sizes, self.anchor_ratios)
        # sampling and proposal settings (the paper's, scaled to small images)
        self.rpn_batch, self.rpn_positive, self.rpn_high, self.rpn_low = 256, 0.5, 0.7, 0.3
        self.roi_batch, self.roi_foreground, self.roi_high = 64, 0.25, 0.5
        self.pre_nms, self.post_nms, self.rpn_nms = {True: 600, False: 300}, {True: 150, False: 100}, 0.7
        self._last = None

    def branch_inputs(self) -> dict:
        """{layer: the shape of one input} for the layers that do not read the previous layer's output: the
        RPN's two outputs read its trunk, the head reads one region's RoI Align features (`describe` uses it)."""
        feat = output_shape_of(self.backbone, self.input_shape)
        trunk = output_shape_of(self.rpn, feat)
        hidden = (self.layers["fc2"].W.shape[1],)
        return {"rpn_conv": feat, "rpn_score": trunk, "rpn_delta": trunk,
                "fc1": (feat[0] * self.roi_size ** 2,), "cls": hidden, "box": hidden}

    def summary(self) -> str:
        return describe(self)

    # --- the shared pass ----------------------------------------------------------------------------------
    def _rpn(self, x, train: bool):
        """(features, objectness (N, HWA), deltas (N, HWA, 4)) on the device, in the anchors' order."""
        feat = runner.forward(self.backbone, self.checked_input(x), train, fuse=self.fuse)
        r = runner.forward(self.rpn, feat, train, fuse=self.fuse)
        n, _, fh, fw = r.shape
        score = self.layers["rpn_score"].forward(r, train)
        delta = self.layers["rpn_delta"].forward(r, train)
        obj = score.transpose(0, 2, 3, 1).reshape(n, -1)
        deltas = delta.reshape(n, self.num_anchors, 4, fh, fw).transpose(0, 3, 4, 1, 2).reshape(n, -1, 4)
        return feat, obj, deltas, (fh, fw)

    def _proposals(self, obj, deltas, train: bool) -> list[np.ndarray]:
        """Each image's regions (k, 4) from the RPN's outputs (host arrays)."""
        h, w = self.input_shape[1:]
        out = []
        for o, d in zip(obj, deltas):
            boxes = B.clip(B.decode(d, self.anchors), h, w)
            ok = np.flatnonzero(((boxes[:, 2] - boxes[:, 0]) >= 1) & ((boxes[:, 3] - boxes[:, 1]) >= 1))
            best = ok[np.argsort(-o[ok], kind="stable")[: self.pre_nms[train]]]
            keep = B.nms(boxes[best], o[best], self.rpn_nms, limit=self.post_nms[train])
            out.append(boxes[best[keep]])
        return out

    def _head(self, feat, regions: list[np.ndarray], train: bool):
        """(class scores (R, K), deltas (R, 4K)) for each image's regions, in order."""
        bk = current()
        rois = np.concatenate([np.column_stack([np.full(len(r), i, np.float64), r]) for i, r in enumerate(regions)])
        pooled = self.roi_align.forward(feat, bk.to_device(rois.astype(feat.dtype)))
        hidden = runner.forward(self.head, pooled.reshape(len(rois), -1), train, fuse=self.fuse)
        return self.layers["cls"].forward(hidden, train), self.layers["box"].forward(hidden, train)

    # --- training ---------------------------------------------------------------------------------------
    def loss(self, x, t, train: bool = True):
        """The sum of the RPN's and the head's classification and box losses, a device scalar; kept for
        backward. Sampling draws from the backend's host generator in training, from a fixed one otherwise."""
        bk = current()
        xp = bk.xp
        rng = bk.rng.host if train else np.random.default_rng(0)
        truth = self._check_boxes(t)
        feat, obj, deltas, fshape = self._rpn(x, train)
        obj_h, deltas_h = bk.to_numpy(obj).astype(np.float64), bk.to_numpy(deltas).astype(np.float64)

        # RPN: sampled anchors' objectness and the positives' deltas
        labels, targets = self._anchor_targets(truth, rng)
        sampled = labels >= 0
        count = max(int(sampled.sum()), 1)
        lab = bk.to_device(np.where(sampled, labels, 0).astype(obj.dtype))
        mask = bk.to_device(sampled.astype(obj.dtype))
        cls_loss, d_obj = _bce(obj, lab)
        pos = bk.to_device((labels == 1).astype(obj.dtype))[..., None]
        box_loss, d_delta = _smooth_l1(deltas - bk.to_device(targets.astype(obj.dtype)), 1.0 / 9)
        rpn_loss = ((cls_loss * mask).sum() + (box_loss * pos).sum()) / count

        # head: proposals (with the objects' own boxes in training), sampled, classified and regressed
        regions = self._proposals(obj_h, deltas_h, train)
        regions, classes, reg_targets = self._region_targets(regions, truth, rng)
        scores, box = self._head(feat, regions, train)
        r = len(classes)
        k = scores.shape[1]
        probs = softmax(scores.astype(xp.float32) if scores.dtype.itemsize < 4 else scores)
        cls_t = bk.to_device(classes)
        head_cls = -xp.log(xp.take_along_axis(probs, cls_t[:, None], axis=1) + 1e-12).sum() / r
        fg = np.flatnonzero(classes > 0)
        cols = (4 * classes[fg][:, None] + np.arange(4)).ravel()
        rows = np.repeat(fg, 4)
        diff = box[bk.to_device(rows), bk.to_device(cols)] - bk.to_device(reg_targets[fg].ravel().astype(box.dtype))
        head_box_terms, d_head_box = _smooth_l1(diff, 1.0)
        head_loss = head_cls + head_box_terms.sum() / r

        self._last = dict(feat_shape=feat.shape, d_obj=d_obj * mask / count, d_delta=d_delta * pos / count,
                          fshape=fshape, probs=probs, cls_t=cls_t, rows=rows, cols=cols, d_head_box=d_head_box / r,
                          r=r, k=k, box_shape=box.shape, score_dtype=scores.dtype)
        return (rpn_loss + head_loss).astype(feat.dtype)

    def backward(self, dout=1.0, input_grad: bool = True):
        if self._last is None:
            raise RuntimeError("FasterRCNN.backward was called before FasterRCNN.loss: there is nothing to "
                               "differentiate yet")
        bk = current()
        xp = bk.xp
        s = self._last
        n = s["feat_shape"][0]
        fh, fw = s["fshape"]
        a = self.num_anchors
        # head
        d_scores = s["probs"].copy()
        d_scores[xp.arange(s["r"]), s["cls_t"]] -= 1
        d_scores = (d_scores * (dout / s["r"])).astype(s["score_dtype"])
        d_box = xp.zeros(s["box_shape"], dtype=s["score_dtype"])
        if len(s["rows"]):
            d_box[bk.to_device(s["rows"]), bk.to_device(s["cols"])] = (s["d_head_box"] * dout).astype(d_box.dtype)
        dh = self.layers["cls"].backward(d_scores) + self.layers["box"].backward(d_box)
        dpooled = runner.backward(self.head, dh)
        dfeat = self.roi_align.backward(dpooled.reshape(-1, s["feat_shape"][1], self.roi_size, self.roi_size))
        # RPN
        dtype = dfeat.dtype
        d_score = (s["d_obj"] * dout).astype(dtype).reshape(n, fh, fw, a).transpose(0, 3, 1, 2)
        d_delta = (s["d_delta"] * dout).astype(dtype).reshape(n, fh, fw, a, 4).transpose(0, 3, 4, 1, 2)
        d_delta = d_delta.reshape(n, 4 * a, fh, fw)
        dr = self.layers["rpn_score"].backward(xp.ascontiguousarray(d_score)) + \
            self.layers["rpn_delta"].backward(xp.ascontiguousarray(d_delta))
        dfeat = dfeat + runner.backward(self.rpn, dr)
        return runner.backward(self.backbone, dfeat, input_grad)

    def step_correct(self, t):
        """(sampled regions classified right, sampled regions) in the last loss's pass: the running accuracy
        the trainer shows."""
        s = self._last
        return (s["probs"].argmax(axis=1) == s["cls_t"]).sum(), s["r"]

    def _anchor_targets(self, truth, rng):
        """(labels (N, HWA): 1 positive, 0 negative, -1 not sampled; deltas (N, HWA, 4) for the positives)."""
        n, m = len(truth), len(self.anchors)
        labels = np.full((n, m), -1, np.int64)
        targets = np.zeros((n, m, 4))
        for i, gt in enumerate(truth):
            lab = labels[i]
            if len(gt) == 0:
                lab[:] = 0
            else:
                overlaps = B.iou(self.anchors, gt[:, :4])
                best = overlaps.argmax(axis=1)
                top = overlaps.max(axis=1)
                lab[top < self.rpn_low] = 0
                lab[top >= self.rpn_high] = 1
                # each object's best anchors are positive, whatever their IoU (ties included)
                col_best = overlaps.max(axis=0)
                lab[np.flatnonzero(((overlaps == col_best) & (col_best > 0)).any(axis=1))] = 1
                posi = np.flatnonzero(lab == 1)
                targets[i, posi] = B.encode(gt[best[posi], :4], self.anchors[posi])
            _subsample(lab, 1, int(self.rpn_batch * self.rpn_positive), rng)
            _subsample(lab, 0, self.rpn_batch - int((lab == 1).sum()), rng)
        return labels, targets

    def _region_targets(self, regions, truth, rng):
        """(regions sampled per image, their classes (R,), their class's box targets (R, 4))."""
        kept, classes, targets = [], [], []
        for props, gt in zip(regions, truth):
            props = np.concatenate([props, gt[:, :4]]) if len(gt) else props
            if len(props) == 0:  # nothing proposed and nothing to find: one region of background
                props = np.array([[0.0, 0.0, float(self.input_shape[2]), float(self.input_shape[1])]])
            if len(gt):
                overlaps = B.iou(props, gt[:, :4])
                best, top = overlaps.argmax(axis=1), overlaps.max(axis=1)
            else:
                best, top = np.zeros(len(props), np.int64), np.zeros(len(props))
            fg, bg = np.flatnonzero(top >= self.roi_high), np.flatnonzero(top < self.roi_high)
            nfg = min(len(fg), int(self.roi_batch * self.roi_foreground))
            fg = rng.choice(fg, nfg, replace=False) if nfg < len(fg) else fg
            nbg = min(len(bg), self.roi_batch - len(fg))
            bg = rng.choice(bg, nbg, replace=False) if nbg < len(bg) else bg
            pick = np.concatenate([fg, bg]).astype(np.int64)
            cls = np.zeros(len(pick), np.int64)
            tgt = np.zeros((len(pick), 4))
            if len(fg):
                cls[: len(fg)] = gt[best[fg], 4].astype(np.int64)
                tgt[: len(fg)] = B.encode(gt[best[fg], :4], props[fg], HEAD_WEIGHTS)
            kept.append(props[pick])
            classes.append(cls)
            targets.append(tgt)
        return kept, np.concatenate(classes), np.concatenate(targets)

    # --- inference --------------------------------------------------------------------------------------
    def forward(self, x, train: bool = False):
        raise TypeError("FasterRCNN finds objects: use model.detect(x), or model.loss(x, boxes) to train")

    def detect(self, x, score_threshold: float = 0.05, nms: float = 0.5, max_detections: int = 100,
               batch_size: int = 100) -> list[np.ndarray]:
        """One (k, 6) host array per image, rows (x1, y1, x2, y2, score, class), best first: each region's
        class scores (softmax) and that class's box, those of `score_threshold` and above, NMS per class at
        IoU `nms`, the best `max_detections` kept."""
        if not 0.0 <= float(score_threshold) <= 1.0:
            raise ValueError(f"the score threshold must lie in [0, 1]; got {score_threshold}")
        if not 0.0 < float(nms) <= 1.0:
            raise ValueError(f"the NMS IoU threshold must lie in (0, 1]; got {nms}")
        bk = current()
        h, w = self.input_shape[1:]
        out = []
        for i in range(0, len(x), batch_size):
            feat, obj, deltas, _ = self._rpn(x[i : i + batch_size], False)
            regions = self._proposals(bk.to_numpy(obj).astype(np.float64), bk.to_numpy(deltas).astype(np.float64),
                                      False)
            regions = [r if len(r) else np.array([[0.0, 0.0, float(w), float(h)]]) for r in regions]
            scores, box = self._head(feat, regions, False)
            probs = bk.to_numpy(softmax(scores.astype(bk.xp.float32))).astype(np.float64)
            box = bk.to_numpy(box).astype(np.float64)
            start = 0
            for props in regions:
                p, b = probs[start : start + len(props)], box[start : start + len(props)]
                start += len(props)
                out.append(self._detections(props, p, b, score_threshold, nms, max_detections))
        return out

    def _detections(self, props, probs, box, score_threshold, nms, max_detections):
        h, w = self.input_shape[1:]
        k = probs.shape[1]
        region, cls = np.nonzero(probs[:, 1:] >= score_threshold)
        cls = cls + 1
        if len(region) == 0:
            return np.zeros((0, 6))
        deltas = box.reshape(len(props), k, 4)[region, cls]
        found = B.clip(B.decode(deltas, props[region], HEAD_WEIGHTS), h, w)
        score = probs[region, cls]
        ok = np.flatnonzero(((found[:, 2] - found[:, 0]) > 0) & ((found[:, 3] - found[:, 1]) > 0))
        keep = ok[B.batched_nms(found[ok], score[ok], cls[ok], nms)][:max_detections]
        return np.column_stack([found[keep], score[keep], cls[keep]])

    def evaluate(self, x, t, batch_size: int = 100) -> tuple[float, float]:
        """(loss, hit rate): the loss in inference mode, and hits / (objects + false alarms) counting detections
        of score >= 0.5, a hit being one matching an unmatched object of its class at IoU >= 0.5 (1.0 for perfect
        detection). The COCO evaluator's AP is `deepnet eval`'s and the benchmark's (pycocotools)."""
        truth = self._check_boxes(t)
        loss = 0.0
        for i in range(0, len(x), batch_size):
            xb = x[i : i + batch_size]
            loss += current().item(self.loss(xb, t[i : i + batch_size], train=False)) * len(xb)
        found = self.detect(x, score_threshold=0.5, batch_size=batch_size)
        hits, alarms = B.match_counts(found, truth)
        objects = sum(len(g) for g in truth)
        return loss / len(x), hits / max(objects + alarms, 1)

    # --- checks -----------------------------------------------------------------------------------------
    def _check_boxes(self, t) -> list[np.ndarray]:
        """Each image's objects (k, 5) on the host from (N, M, 5) labels."""
        t = current().to_numpy(t)
        if t.ndim != 3 or t.shape[2] != 5:
            raise ValueError(f"FasterRCNN expects labels (N, M, 5) of rows (x1, y1, x2, y2, class); got shape "
                             f"{tuple(t.shape)}")
        k = self.num_classes
        out = []
        for rows in t.astype(np.float64):
            rows = rows[rows[:, 4] > 0]
            if (rows[:, 4] >= k).any() or (rows[:, 4] != np.round(rows[:, 4])).any():
                raise ValueError(f"FasterRCNN: object classes must be whole numbers in 1..{k - 1}")
            out.append(rows[((rows[:, 2] - rows[:, 0]) > 0) & ((rows[:, 3] - rows[:, 1]) > 0)])
        return out

    @property
    def num_classes(self) -> int:
        return int(self.layers["cls"].W.shape[1])


def _subsample(labels, value: int, limit: int, rng) -> None:
    """Keep at most `limit` entries equal to `value`, chosen at random; the rest become -1 (not sampled)."""
    where = np.flatnonzero(labels == value)
    if len(where) > limit:
        labels[rng.choice(where, len(where) - max(limit, 0), replace=False)] = -1
