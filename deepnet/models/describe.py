"""Per-layer output shape, parameter count and receptive field of a model, and the chapter's 3x3 arithmetic."""
from __future__ import annotations

import math

from ..layers import Affine, Concat, Convolution, GlobalAveragePooling, Pooling, Residual


def _rf(layer, r, j):
    """(receptive field, jump) after `layer`, given them before it; None once every input pixel is seen."""
    if r is None:
        return None, j
    if isinstance(layer, (Convolution, Pooling)):
        return r + (layer.kh - 1) * j, j * layer.stride
    if isinstance(layer, Residual):
        for sub in layer.branch:
            r, j = _rf(sub, r, j)
        return r, j
    if isinstance(layer, Concat):
        best = (r, j)
        for branch in layer.branches:
            rb, jb = r, j
            for sub in branch:
                rb, jb = _rf(sub, rb, jb)
            if rb is None or (best[0] is not None and rb > best[0]):
                best = (rb, jb)
        return best
    if isinstance(layer, (Affine, GlobalAveragePooling)):
        return None, j
    return r, j


def describe(model) -> str:
    """A table: each layer's output shape, parameters and receptive field (in input pixels)."""
    rows = [f"{'layer':<10} {'type':<20} {'output':<16} {'params':>12} {'receptive field':>16}"]
    shape, r, j = model.input_shape, 1, 1
    # a model whose layers do not form one chain (Faster R-CNN's two heads) names the inputs that are not the
    # previous layer's output
    inputs = model.branch_inputs() if hasattr(model, "branch_inputs") else {}
    for name, layer in model.layers.items():
        if name in inputs:
            shape = inputs[name]
        shape = layer.output_shape(shape) if shape is not None else None
        r, j = _rf(layer, r, j)
        n = sum(int(math.prod(a.shape)) for a in layer.params().values())
        rf = "whole input" if r is None else f"{r}x{r}"
        rows.append(f"{name:<10} {type(layer).__name__:<20} {str(shape):<16} {n:>12,} {rf:>16}")
    rows.append(f"{'total':<10} {'':<20} {'':<16} {model.num_params():>12,}")
    return "\n".join(rows)


def stacked_3x3_demo() -> str:
    """The chapter's arithmetic: stacked 3x3 convolutions see as far as one big filter, with fewer weights."""
    lines = ["filters (per input/output channel pair)   receptive field   weights"]
    for big, n in ((5, 2), (7, 3)):
        lines.append(f"one {big}x{big}{'':<32}{big}x{big}{'':<12}{big * big}")
        r = 1
        for _ in range(n):
            r += 2
        lines.append(f"{n} stacked 3x3 (stride 1){'':<16}{r}x{r}{'':<12}{9 * n}")
    return "\n".join(lines)
