"""Detection scenes (the book's 8.4.1): MNIST digits on a canvas with a box and a class for each, and the
COCO annotation format the standard evaluator (pycocotools) reads.

Labels are float32 arrays (N, MAX_OBJECTS, 5), one row (x1, y1, x2, y2, class) per object in pixels (x2 and y2
one past the last column and row, so COCO's width is x2 - x1), class = digit + 1, and rows of zeros (class 0,
"no object") after a scene's last object. A fixed-width array lets the trainer index batches of them like
any other labels.

Two sets:
- mnist-boxes: the segmentation scenes (scenes.py: 2-4 digits in the cells of a 64x64 canvas), each digit's box
  tight to its ink (pixels at least INK, the pixels segmentation labels as the digit);
- mnist-clutter: 128x128 canvases with 1-5 digits scaled to 14-56 pixels, placed anywhere with limited overlap,
  among fragments of other digits and pixel noise, so that finding connected ink is not a detector.
Test scenes use MNIST's test digits only.
"""
from __future__ import annotations

import numpy as np

from .scenes import CLASSES, INK, ink_box

CLUTTER_SIZE = 128
CLUTTER_DIGITS = (1, 5)
DIGIT_SIZES = (14, 56)          # the side a 28x28 MNIST digit is scaled to
MAX_OVERLAP = 0.15              # at most this share of a digit's box may be covered by another digit's box
FRAGMENTS = (2, 6)              # pieces of other digits scattered as clutter, per scene
NOISE = 24.0                    # the standard deviation of the pixel noise (uint8 levels)


def resize(image: np.ndarray, side: int) -> np.ndarray:
    """A square float image resized to side x side with a triangle (bilinear) filter that widens when shrinking,
    so thin strokes are averaged rather than skipped (as Pillow's BILINEAR does)."""
    w = _triangle_weights(image.shape[0], side)
    return w @ image.astype(np.float64) @ w.T


def _triangle_weights(n: int, m: int) -> np.ndarray:
    scale = n / m
    support = max(1.0, scale)
    centres = (np.arange(m) + 0.5) * scale - 0.5
    w = np.maximum(0.0, 1.0 - np.abs(np.arange(n)[None, :] - centres[:, None]) / support)
    return w / w.sum(axis=1, keepdims=True)


def overlap_share(box, others) -> float:
    """The largest share of `box`'s area covered by any of `others` (rows x1, y1, x2, y2), or of theirs by it."""
    if len(others) == 0:
        return 0.0
    o = np.asarray(others, np.float64)
    iw = np.clip(np.minimum(box[2], o[:, 2]) - np.maximum(box[0], o[:, 0]), 0, None)
    ih = np.clip(np.minimum(box[3], o[:, 3]) - np.maximum(box[1], o[:, 1]), 0, None)
    inter = iw * ih
    area = max((box[2] - box[0]) * (box[3] - box[1]), 1e-9)
    areas = np.maximum((o[:, 2] - o[:, 0]) * (o[:, 3] - o[:, 1]), 1e-9)
    return float(max((inter / area).max(), (inter / areas).max()))


def make_cluttered_scenes(images: np.ndarray, labels: np.ndarray, count: int, seed: int,
                          size: int = CLUTTER_SIZE, digits=CLUTTER_DIGITS, sizes=DIGIT_SIZES):
    """(x uint8 (count, 1, size, size), boxes float32 (count, digits[1], 5)): mnist-clutter's scenes."""
    rng = np.random.default_rng(seed)
    images = images.reshape(-1, 28, 28)
    if size < sizes[1]:
        raise ValueError(f"a {size}x{size} canvas cannot hold {sizes[1]}-pixel digits")
    x = np.zeros((count, size, size), np.float64)
    boxes = np.zeros((count, digits[1], 5), np.float32)
    for s in range(count):
        canvas, placed = x[s], []
        for _ in range(int(rng.integers(digits[0], digits[1] + 1))):
            i = int(rng.integers(len(images)))
            side = int(rng.integers(sizes[0], sizes[1] + 1))
            digit = resize(images[i], side)
            for _attempt in range(20):  # a place where it covers, and is covered by, little of the others
                top, left = (int(v) for v in rng.integers(0, size - side + 1, size=2))
                box = ink_box(digit >= INK, left, top)
                if box[2] > box[0] and overlap_share(box, [b[:4] for b in placed]) <= MAX_OVERLAP:
                    break
            else:
                continue  # no room left: the scene has fewer digits
            region = canvas[top : top + side, left : left + side]
            np.maximum(region, digit, out=region)
            placed.append((*box, int(labels[i]) + 1))
        for _ in range(int(rng.integers(FRAGMENTS[0], FRAGMENTS[1] + 1))):
            _scatter_fragment(canvas, images[int(rng.integers(len(images)))], placed, rng, sizes)
        if placed:  # a scene whose digits found no room stays empty: no boxes, as an empty image has
            boxes[s, : len(placed)] = placed
        canvas += rng.normal(0.0, NOISE, canvas.shape)  # per scene: the first k scenes do not depend on count
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)[:, None], boxes


def _scatter_fragment(canvas, digit, placed, rng, sizes) -> None:
    """A piece (a quarter to a third of its side) of a digit scaled like the others, dropped where it covers
    no labelled box, so that it is clutter and not a damaged digit."""
    side = int(rng.integers(sizes[0], sizes[1] + 1))
    scaled = resize(digit, side)
    piece = max(4, int(side * rng.uniform(0.25, 0.34)))
    r0, c0 = (int(v) for v in rng.integers(0, side - piece + 1, size=2))
    frag = scaled[r0 : r0 + piece, c0 : c0 + piece]
    n = canvas.shape[0]
    for _attempt in range(10):
        top, left = (int(v) for v in rng.integers(0, n - piece + 1, size=2))
        if overlap_share((left, top, left + piece, top + piece), [b[:4] for b in placed]) == 0.0:
            region = canvas[top : top + piece, left : left + piece]
            np.maximum(region, frag, out=region)
            return


def objects(boxes: np.ndarray) -> list[np.ndarray]:
    """Each scene's rows with an object (class > 0), as a list of (k, 5) arrays."""
    return [b[b[:, 4] > 0] for b in np.asarray(boxes)]


def coco_ground_truth(boxes: np.ndarray, size: tuple[int, int]) -> dict:
    """A COCO "instances" dictionary for scenes' boxes: image ids 1..N, category ids 1..10 (the digits 0..9),
    bbox [x, y, width, height], area the box's, iscrowd 0."""
    h, w = size
    images = [{"id": i + 1, "width": int(w), "height": int(h), "file_name": f"scene{i:05d}.png"}
              for i in range(len(boxes))]
    annotations = []
    for i, rows in enumerate(objects(boxes)):
        for x1, y1, x2, y2, c in rows.astype(np.float64):
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": int(c),
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 0})
    categories = [{"id": k, "name": CLASSES[k]} for k in range(1, len(CLASSES))]
    return {"images": images, "annotations": annotations, "categories": categories}


def coco_detections(detections) -> list[dict]:
    """COCO's result list from one (k, 6) array per scene of rows (x1, y1, x2, y2, score, class)."""
    out = []
    for i, rows in enumerate(detections):
        for x1, y1, x2, y2, score, c in np.asarray(rows, np.float64).reshape(-1, 6):
            out.append({"image_id": i + 1, "category_id": int(c), "bbox": [x1, y1, x2 - x1, y2 - y1],
                        "score": float(score)})
    return out
