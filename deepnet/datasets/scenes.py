"""MNIST scenes for segmentation (the book's 8.4.2, FCN): several digits on a larger canvas, every pixel
labelled background (0) or its digit's class + 1. Built deterministically from a seed; the test scenes
use only MNIST's test digits, the training scenes only its training digits (the data set itself:
datasets.loaders.mnist_scenes)."""
from __future__ import annotations

import numpy as np

SIZE = 64          # the canvas, in pixels
CELLS = 2          # a CELLS x CELLS grid; each digit sits in its own cell, jittered inside it
INK = 128          # a pixel at or above this value is the digit's; below it, background
#: Class 0 is the background, class d + 1 the digit d.
CLASSES = ["background"] + [str(d) for d in range(10)]


def make_scenes(images: np.ndarray, labels: np.ndarray, count: int, seed: int, size: int = SIZE,
                digits=(2, 4)) -> tuple[np.ndarray, np.ndarray]:
    """(x uint8 (count, 1, size, size), y int64 (count, size, size)) from (N, 28, 28) digit images."""
    x, y, _ = compose(images, labels, count, seed, size, digits)
    return x, y


def compose(images: np.ndarray, labels: np.ndarray, count: int, seed: int, size: int = SIZE, digits=(2, 4)):
    """make_scenes' scenes and, for each, its digits' boxes: (x, y, boxes) with boxes float32
    (count, CELLS*CELLS, 5) rows (x1, y1, x2, y2, class), tight to the pixels labelled as the digit (ink at
    least INK: x2 is one past the last column), class = digit + 1, and rows of zeros (class 0) after the
    scene's digits."""
    rng = np.random.default_rng(seed)
    images = images.reshape(-1, 28, 28)
    cell = size // CELLS
    if cell < 28:
        raise ValueError(f"a {size}x{size} canvas has {cell}-pixel cells; digits need 28")
    x = np.zeros((count, size, size), np.uint8)
    y = np.zeros((count, size, size), np.int64)
    boxes = np.zeros((count, CELLS * CELLS, 5), np.float32)
    for s in range(count):
        k = int(rng.integers(digits[0], digits[1] + 1))
        for slot, c in enumerate(rng.choice(CELLS * CELLS, size=k, replace=False)):
            i = int(rng.integers(len(images)))
            top = (c // CELLS) * cell + int(rng.integers(0, cell - 28 + 1))
            left = (c % CELLS) * cell + int(rng.integers(0, cell - 28 + 1))
            digit = images[i]
            x[s, top : top + 28, left : left + 28] = digit
            y[s, top : top + 28, left : left + 28] = np.where(digit >= INK, int(labels[i]) + 1, 0)
            if (digit >= INK).any():  # a digit with no pixel labelled as it has no box either
                boxes[s, slot] = (*ink_box(digit >= INK, left, top), int(labels[i]) + 1)
    return x[:, None], y, boxes


def ink_box(mask: np.ndarray, left: float = 0, top: float = 0) -> tuple[float, float, float, float]:
    """(x1, y1, x2, y2) of the True pixels of a 2-D mask placed at (left, top): x2 and y2 one past the last
    column and row (the box covers whole pixels; COCO's width is x2 - x1). An empty mask gives a zero box."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:
        return (float(left), float(top), float(left), float(top))
    return (float(left + cols[0]), float(top + rows[0]), float(left + cols[-1] + 1), float(top + rows[-1] + 1))


def iou(pred: np.ndarray, truth: np.ndarray, classes: int) -> np.ndarray:
    """Intersection over union per class over all pixels given (NaN for a class in neither)."""
    pred, truth = np.asarray(pred).ravel(), np.asarray(truth).ravel()
    confusion = np.bincount(truth * classes + pred, minlength=classes * classes).reshape(classes, classes)
    inter = np.diag(confusion).astype(np.float64)
    union = confusion.sum(0) + confusion.sum(1) - np.diag(confusion)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, np.nan)


def describe_iou(pred, truth, class_names) -> str:
    """'background 0.98, 0 0.91, ...; mean IoU 0.93': each class's IoU and their mean (classes absent from
    both left out of the mean)."""
    scores = iou(pred, truth, len(class_names))
    return ", ".join(f"{c} {v:.3f}" for c, v in zip(class_names, scores)) + f"; mean IoU {np.nanmean(scores):.3f}"

