"""Inverted dropout."""
from __future__ import annotations

from ..backends import current
from .base import Layer


class Dropout(Layer):
    """Training: y = x * mask / (1 - ratio), mask ~ Bernoulli(1 - ratio).  Inference: y = x.

    Scaling at training time (inverted dropout) keeps the expected activation the
    same, so nothing is rescaled at test time (the book rescales at test time).
    """

    def __init__(self, ratio: float = 0.5):
        if not 0.0 <= ratio < 1.0:
            raise ValueError(f"Dropout ratio must be in [0, 1); got {ratio}")
        self.ratio = float(ratio)
        self.mask = None

    def forward(self, x, train=False):
        if not train or self.ratio == 0.0:
            self.mask = None
            return x
        keep = current().rng.device_uniform(x.shape, dtype=x.dtype) >= self.ratio  # drawn where x lives
        self.mask = keep.astype(x.dtype)  # bool * float would promote to float64
        self.mask *= 1.0 / (1.0 - self.ratio)
        return x * self.mask

    def backward(self, dout):
        return dout if self.mask is None else dout * self.mask

    def __repr__(self):
        return f"Dropout({self.ratio})"
