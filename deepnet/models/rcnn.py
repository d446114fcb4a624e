"""R-CNN (Girshick et al., 2014), as the book's 8.4.1 describes it: candidate regions from an image-processing
method, each warped to a CNN's input and classified (a background class among the classes), boxes refined by
regression, then non-maximum suppression. The baseline Faster R-CNN (detection.py) improves on.

    regions:    connected ink (pixels at least INK, 8-connected) grouped bottom-up as selective search does: the
                two nearest regions merge, and each merger is a candidate too, while the union stays digit-sized
    warping:    a square around each region (its longer side x CONTEXT, MNIST's framing of a 20-pixel digit in 28),
                resampled to 28x28 (the backend's RoI Align over the image itself)
    classifier: the book's DeepConvNet with K outputs (class 0: background), trained on the regions of the
                training scenes (IoU >= 0.5 with a digit: its class; below: background)
    boxes:      a ridge regressor per class from the classifier's last pooling features ("pool5") to the box deltas
                of the regions overlapping a digit by IoU >= 0.6 (R-CNN's)
"""
from __future__ import annotations

import numpy as np

from .. import boxes as B
from .. import optimizers
from ..backends import current
from ..datasets.scenes import INK
from ..layers import Pooling, runner, softmax
from .convnets import DeepConvNet

CONTEXT = 1.4          # a 28x28 MNIST image frames its 20-pixel digit with 4 pixels a side: side x 1.4
CROP = 28


def components(mask: np.ndarray) -> np.ndarray:
    """8-connected components of a boolean image: an int label per pixel, 0 off the mask and, on it, one
    positive label per component (1 + the largest flat index among its pixels). Labels spread as a neighbourhood
    maximum and jump along the label chain (label of the pixel my label names), so the passes needed grow
    with the logarithm of a component's extent, not the extent."""
    h, w = mask.shape
    lab = np.where(mask, np.arange(1, h * w + 1).reshape(h, w), 0)
    while True:
        p = np.pad(lab, 1)
        grown = np.max([p[i : i + h, j : j + w] for i in range(3) for j in range(3)], axis=0) * mask
        flat = np.concatenate([[0], grown.ravel()])
        jumped = np.where(mask, flat[grown], 0)
        if np.array_equal(jumped, lab):
            return lab
        lab = jumped


def propose(image: np.ndarray, max_side: float = 60.0, min_pixels: int = 3, limit: int = 60) -> np.ndarray:
    """Candidate boxes (k, 4) for one (H, W) uint8 image: the boxes of its connected ink (at least `min_pixels`
    pixels) and of every merger of the two nearest regions (gap between their boxes, then the smaller union)
    whose union has no side above `max_side`; at most `limit`, regions first."""
    lab = components(image >= INK)
    ids, counts = np.unique(lab[lab > 0], return_counts=True)
    regions = []
    for k in ids[counts >= min_pixels]:
        rows, cols = np.nonzero(lab == k)
        regions.append((cols.min(), rows.min(), cols.max() + 1.0, rows.max() + 1.0))
    regions = [np.array(r, np.float64) for r in regions]
    out = list(regions)
    while len(regions) > 1 and len(out) < limit:
        r = np.array(regions)
        union = np.concatenate([np.minimum(r[:, None, :2], r[None, :, :2]), np.maximum(r[:, None, 2:], r[None, :, 2:])],
                               axis=2)
        gap = np.hypot(np.clip(np.maximum(r[:, None, 0], r[None, :, 0]) - np.minimum(r[:, None, 2], r[None, :, 2]), 0,
                               None),
                       np.clip(np.maximum(r[:, None, 1], r[None, :, 1]) - np.minimum(r[:, None, 3], r[None, :, 3]), 0,
                               None))
        side = np.maximum(union[..., 2] - union[..., 0], union[..., 3] - union[..., 1])
        cost = gap + 1e-3 * side
        cost[(side > max_side) | np.eye(len(r), dtype=bool)] = np.inf
        i, j = np.unravel_index(np.argmin(cost), cost.shape)
        if not np.isfinite(cost[i, j]):
            break
        merged = union[i, j]
        regions = [x for k, x in enumerate(regions) if k not in (i, j)] + [merged]
        out.append(merged)
    if not out:
        return np.zeros((0, 4))
    out = np.unique(np.array(out), axis=0)
    return out[:limit]


def warp(images, regions: list[np.ndarray], dtype):
    """(R, 1, 28, 28) device crops: for each image's regions, a square of side max(w, h) x CONTEXT around the
    region's centre, resampled by RoI Align (pixels scaled to [0, 1])."""
    bk = current()
    rows = []
    for i, r in enumerate(regions):
        if len(r):
            c = (r[:, :2] + r[:, 2:]) / 2
            half = np.maximum(r[:, 2] - r[:, 0], r[:, 3] - r[:, 1])[:, None] * CONTEXT / 2
            rows.append(np.column_stack([np.full(len(r), i), c - half, c + half]))
    if not rows:
        return bk.xp.zeros((0, 1, CROP, CROP), dtype=dtype)
    rois = np.concatenate(rows)
    x = bk.to_device(np.asarray(images, np.float32).astype(dtype) / 255.0)
    return bk.roi_align(x, bk.to_device(rois.astype(dtype)), CROP, CROP, 1.0, 2)[0]


def labels_for(regions: np.ndarray, truth: np.ndarray, threshold: float = 0.5):
    """(class per region: the class of the digit it overlaps most if IoU >= threshold, else 0; best IoU; that
    digit's row)."""
    if len(truth) == 0 or len(regions) == 0:
        return np.zeros(len(regions), np.int64), np.zeros(len(regions)), np.zeros(len(regions), np.int64)
    overlaps = B.iou(regions, truth[:, :4])
    best, top = overlaps.argmax(axis=1), overlaps.max(axis=1)
    return np.where(top >= threshold, truth[best, 4], 0).astype(np.int64), top, best


class RCNN:
    """An R-CNN detector for images of `input_shape` with `num_classes` classes (background included)."""

    def __init__(self, input_shape=(1, 64, 64), num_classes: int = 11, max_side: float = 60.0, ridge: float = 10.0,
                 dtype=None):
        self.input_shape, self.num_classes = tuple(input_shape), int(num_classes)
        self.max_side, self.ridge = float(max_side), float(ridge)
        self.classifier = DeepConvNet(input_shape=(1, CROP, CROP), num_classes=self.num_classes, dtype=dtype)
        layers = list(self.classifier.layers.values())
        last_pool = max(i for i, layer in enumerate(layers) if isinstance(layer, Pooling))
        self.body, self.top = layers[: last_pool + 1], layers[last_pool + 1 :]
        self.regressor = None  # (K, features + 1, 4) once fitted

    # --- training ---------------------------------------------------------------------------------------
    def region_set(self, images, boxes, jitter: int = 0, seed: int = 0):
        """(regions per image, their classes (R,), IoU (R,), matched digit row (R,)) for training: proposals
        plus the digits' own boxes (and `jitter` shifted copies of each, for the regressor)."""
        rng = np.random.default_rng(seed)
        regions, classes, ious, matched = [], [], [], []
        for img, rows in zip(images, boxes):
            gt = rows[rows[:, 4] > 0].astype(np.float64)
            r = propose(img.reshape(img.shape[-2:]), self.max_side)
            extra = [gt[:, :4]]
            for _ in range(jitter):
                wh = np.column_stack([gt[:, 2] - gt[:, 0], gt[:, 3] - gt[:, 1]])
                extra.append(gt[:, :4] + np.tile(wh, 2) * rng.uniform(-0.12, 0.12, (len(gt), 4)))
            r = np.concatenate([r] + extra) if len(gt) else r
            cls, top, best = labels_for(r, gt)
            regions.append(r)
            classes.append(cls)
            ious.append(top)
            matched.append(gt[best, :4] if len(gt) else np.zeros((len(r), 4)))
        return regions, np.concatenate(classes), np.concatenate(ious), np.concatenate(matched)

    def fit_regressor(self, features: np.ndarray, regions: np.ndarray, classes: np.ndarray, ious: np.ndarray,
                      matched: np.ndarray) -> None:
        """R-CNN's class-specific ridge regression from the regions' features to the deltas of their digit."""
        d = features.shape[1]
        self.regressor = np.zeros((self.num_classes, d + 1, 4))
        x = np.column_stack([features, np.ones(len(features))])
        for k in range(1, self.num_classes):
            use = (classes == k) & (ious >= 0.6)
            if use.sum() < 2:
                continue
            y = B.encode(matched[use], regions[use])
            a = x[use].T @ x[use] + self.ridge * np.eye(d + 1)
            self.regressor[k] = np.linalg.solve(a, x[use].T @ y)

    def features_and_scores(self, crops, batch_size: int = 500):
        """(pool5 features (R, D) and class probabilities (R, K)) on the host."""
        bk = current()
        feats, probs = [], []
        for i in range(0, len(crops), batch_size):
            f = runner.forward(self.body, crops[i : i + batch_size], pool=True)
            logits = runner.forward(self.top, f.reshape(len(f), -1))
            feats.append(bk.to_numpy(f.reshape(len(f), -1)).astype(np.float64))
            probs.append(bk.to_numpy(softmax(logits.astype(bk.xp.float32))).astype(np.float64))
        if not feats:
            return np.zeros((0, 1)), np.zeros((0, self.num_classes))
        return np.concatenate(feats), np.concatenate(probs)

    # --- inference --------------------------------------------------------------------------------------
    def detect(self, images, score_threshold: float = 0.05, nms: float = 0.5, max_detections: int = 100,
               batch_size: int = 50) -> list[np.ndarray]:
        """Faster R-CNN's detect: (k, 6) rows (x1, y1, x2, y2, score, class) per image, best first."""
        if self.regressor is None:
            raise RuntimeError("R-CNN's box regressor has not been fitted (fit_regressor)")
        h, w = self.input_shape[1:]
        out = []
        for s in range(0, len(images), batch_size):
            chunk = images[s : s + batch_size]
            regions = [propose(img.reshape(img.shape[-2:]), self.max_side) for img in chunk]
            feats, probs = self.features_and_scores(warp(chunk, regions, self.classifier.dtype))
            start = 0
            for r in regions:
                f, p = feats[start : start + len(r)], probs[start : start + len(r)]
                start += len(r)
                out.append(self._detections(r, f, p, score_threshold, nms, max_detections, h, w))
        return out

    def _detections(self, regions, feats, probs, score_threshold, nms, max_detections, h, w):
        region, cls = np.nonzero(probs[:, 1:] >= score_threshold) if len(regions) else (np.zeros(0, int),) * 2
        cls = cls + 1
        if len(region) == 0:
            return np.zeros((0, 6))
        x = np.column_stack([feats[region], np.ones(len(region))])
        deltas = np.einsum("rd,rdk->rk", x, self.regressor[cls])
        found = B.clip(B.decode(deltas, regions[region]), h, w)
        score = probs[region, cls]
        ok = np.flatnonzero(((found[:, 2] - found[:, 0]) > 0) & ((found[:, 3] - found[:, 1]) > 0))
        keep = ok[B.batched_nms(found[ok], score[ok], cls[ok], nms)][:max_detections]
        return np.column_stack([found[keep], score[keep], cls[keep]])


def train(model: RCNN, images, boxes, epochs: int = 3, batch_size: int = 100, lr: float = 1e-3, jitter: int = 2,
          seed: int = 0, log=print) -> dict:
    """R-CNN's training on scenes (uint8 images (N, 1, H, W), boxes (N, M, 5)): the classifier on every region's
    warped crop (Adam, the learning rate a tenth in the last epoch), then the box regressors on its features.
    Returns counts and the classifier's last-epoch accuracy on the regions."""
    bk = current()
    bk.rng.seed(seed)
    regions, classes, ious, matched = model.region_set(images, boxes, jitter=jitter, seed=seed)
    dtype = model.classifier.dtype
    crops = bk.xp.concatenate([warp(images[i : i + 500], regions[i : i + 500], dtype)
                               for i in range(0, len(images), 500)])
    flat = np.concatenate(regions)
    t = bk.to_device(classes)
    opt = optimizers.create("adam", lr=lr)
    log(f"R-CNN: {len(flat):,} regions from {len(images):,} scenes ({100 * (classes > 0).mean():.1f}% digits), "
        f"{epochs} epochs of the classifier")
    acc = 0.0
    for epoch in range(epochs):
        opt.lr = lr if epoch < epochs - 1 or epochs == 1 else lr / 10
        order = bk.rng.permutation(len(flat))
        right = 0
        for s in range(0, len(flat), batch_size):
            idx = order[s : s + batch_size]
            model.classifier.train_step(crops[idx], t[idx], opt)
            right += int(model.classifier.step_correct(t[idx])[0])
        acc = right / len(flat)
        log(f"R-CNN classifier epoch {epoch + 1}/{epochs}: accuracy on the training regions {100 * acc:.2f}%")
    use = np.flatnonzero((classes > 0) & (ious >= 0.6))
    feats, _ = model.features_and_scores(crops[bk.to_device(use)])
    model.fit_regressor(feats, flat[use], classes[use], ious[use], matched[use])
    return {"regions": int(len(flat)), "digit_regions": int((classes > 0).sum()), "regressed": int(len(use)),
            "train_region_accuracy": acc}
