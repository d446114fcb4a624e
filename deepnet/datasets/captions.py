"""MNIST scenes with captions (the chapter's 8.4.3, image captioning): 1 to 4 digits placed anywhere on a
canvas without overlapping, and a caption naming them in reading order, e.g. "seven two nine".

Reading order, as a person reads: digits whose rows overlap by at least half a digit stand on one line,
read left to right; lines are read top to bottom. So that the rule never hangs on a pixel, no two digits
are placed with a vertical overlap in the ambiguous band between AMBIGUOUS[0] and AMBIGUOUS[1] pixels:
two digits are either clearly on one line or clearly on two. Positions are random, not cells, so the
order must be learnt from where the digits are. Built deterministically from a seed; test scenes use
only MNIST's test digits.

Captions are word indices: PAD (0), START (1), END (2), then the ten digit names; a caption is START,
the digits' words, END, padded with PAD to MAX_DIGITS + 2 tokens.
"""
from __future__ import annotations

import numpy as np

SIZE = 64
DIGIT = 28
MAX_DIGITS = 4
#: Vertical overlaps (pixels) no two digits get: below the band, two lines; above it, one line.
AMBIGUOUS = (8, 20)
LINE_OVERLAP = DIGIT // 2
NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
WORDS = ("<pad>", "<start>", "<end>") + NAMES
PAD, START, END = 0, 1, 2


def word_of(digit: int) -> int:
    return 3 + int(digit)


def reading_order(boxes) -> list[int]:
    """Indices of (top, left) digit boxes in reading order: lines of digits whose rows overlap by at least
    LINE_OVERLAP pixels (linked through each other), top line first, each read left to right."""
    n = len(boxes)
    line = list(range(n))

    def root(i):
        while line[i] != i:
            i = line[i]
        return i

    for a in range(n):
        for b in range(a + 1, n):
            if DIGIT - abs(boxes[a][0] - boxes[b][0]) >= LINE_OVERLAP:
                line[root(a)] = root(b)
    groups = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(i)
    lines = sorted(groups.values(), key=lambda g: min(boxes[i][0] for i in g))
    return [i for g in lines for i in sorted(g, key=lambda i: boxes[i][1])]


def caption_tokens(digits) -> np.ndarray:
    """START, the digits' words, END, padded with PAD to MAX_DIGITS + 2 tokens."""
    out = np.full(MAX_DIGITS + 2, PAD, np.int64)
    words = [START] + [word_of(d) for d in digits] + [END]
    out[: len(words)] = words
    return out


def caption_text(tokens) -> str:
    """The words between START and END (or the end), e.g. 'seven two nine'."""
    words = []
    for w in np.asarray(tokens).tolist():
        if w == END:
            break
        if w not in (PAD, START):
            words.append(WORDS[w] if 0 <= w < len(WORDS) else f"<{w}>")
    return " ".join(words)


def _place(rng, k: int, size: int, tries: int = 200):
    """k non-overlapping (top, left) boxes with no vertical overlap in the ambiguous band, or None: the first
    that fit among `tries` random candidates (drawn at once: one call to the generator per attempt)."""
    boxes = []
    for top, left in rng.integers(0, size - DIGIT + 1, (tries, 2)).tolist():
        fits = True
        for t, l in boxes:
            overlap = DIGIT - abs(top - t)
            if (overlap > 0 and DIGIT - abs(left - l) > 0) or AMBIGUOUS[0] < overlap < AMBIGUOUS[1]:
                fits = False
                break
        if fits:
            boxes.append((top, left))
            if len(boxes) == k:
                return boxes
    return None


def make_captioned_scenes(images: np.ndarray, labels: np.ndarray, count: int, seed: int, size: int = SIZE,
                          digits=(1, MAX_DIGITS), with_boxes: bool = False):
    """(x uint8 (count, 1, size, size), captions int64 (count, MAX_DIGITS + 2)) from (N, 28, 28) digits; with
    with_boxes, also each scene's [(top, left, index of the digit image)] in placement order."""
    if size < 2 * DIGIT and digits[1] > 1:
        raise ValueError(f"a {size}x{size} canvas is too small for {digits[1]} digits of {DIGIT} pixels")
    if not 1 <= digits[0] <= digits[1] <= MAX_DIGITS:
        raise ValueError(f"digits per scene must lie within 1..{MAX_DIGITS}; got {digits}")
    rng = np.random.default_rng(seed)
    images = images.reshape(-1, DIGIT, DIGIT)
    x = np.zeros((count, size, size), np.uint8)
    captions = np.zeros((count, MAX_DIGITS + 2), np.int64)
    placed = []
    for s in range(count):
        k = int(rng.integers(digits[0], digits[1] + 1))
        boxes = None
        while boxes is None:  # a crowded canvas: start the scene's placement again
            boxes = _place(rng, k, size)
        picks = rng.integers(len(images), size=k)
        for (top, left), i in zip(boxes, picks):
            np.maximum(x[s, top : top + DIGIT, left : left + DIGIT], images[i],
                       out=x[s, top : top + DIGIT, left : left + DIGIT])
        captions[s] = caption_tokens([int(labels[picks[i]]) for i in reading_order(boxes)])
        placed.append([(t, l, int(i)) for (t, l), i in zip(boxes, picks)])
    return (x[:, None], captions, placed) if with_boxes else (x[:, None], captions)
