"""Importing the weights the book publishes (deep_conv_net_params.pkl) into deepnet's format."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .errors import BadFile, InvalidValue, MissingFile
from .models import DeepConvNet
from .safe_pickle import loads

# The book's DeepConvNet numbers its weight layers 1..8: six convolutions, then two affine layers.
BOOK_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "conv6", "affine1", "affine2")


def convert(params: dict, source: str = "the pickle") -> dict:
    """deepnet parameter names -> arrays, from the book's {'W1': ..., 'b1': ..., ...} dict."""
    if not isinstance(params, dict):
        raise BadFile(f"{source}: expected a dict of arrays W1, b1, ...; got {type(params).__name__}")
    numbers = sorted({int(m.group(1)) for k in params if (m := re.fullmatch(r"[Wb](\d+)", str(k)))})
    expected = list(range(1, len(BOOK_LAYERS) + 1))
    extra = sorted(set(map(str, params)) - {f"{p}{i}" for p in "Wb" for i in expected})
    if numbers != expected or extra:
        raise BadFile(f"{source}: expected keys W1..W{len(BOOK_LAYERS)} and b1..b{len(BOOK_LAYERS)} "
                         f"(the book's DeepConvNet); got {sorted(map(str, params))}")
    out = {}
    for i, layer in zip(expected, BOOK_LAYERS):
        for p in "Wb":
            a = np.asarray(params[f"{p}{i}"])
            if not np.issubdtype(a.dtype, np.floating):
                raise BadFile(f"{source}: {p}{i} has dtype {a.dtype}; expected floating point")
            if not np.isfinite(a).all():
                raise BadFile(f"{source}: {p}{i} holds {int((~np.isfinite(a)).sum())} NaN or infinite values")
            out[f"{layer}.{p}"] = a
    return out


def fold_test_time_dropout(weights: dict, ratio: float = 0.5) -> dict:
    """The book's weights made to give the book's logits in deepnet's DeepConvNet.

    The book's Dropout is not inverted: at test time it multiplies its input by (1 - ratio). Its
    network ends  affine1 - relu - dropout - affine2 - dropout,  so at test time it computes
        logits = (1 - r) * ((1 - r) h W8 + b8)  =  h [(1 - r)^2 W8] + (1 - r) b8
    with h = relu(affine1(...)). deepnet's inverted dropout is the identity at test time, so the factors
    go into the last affine layer: W8 * (1 - r)^2 and b8 * (1 - r) (0.25 and 0.5 for the book's 0.5).
    Without the first factor the predictions change; without the second only the logits' scale does."""
    keep = 1.0 - ratio
    out = dict(weights)
    out["affine2.W"] = weights["affine2.W"] * keep * keep
    out["affine2.b"] = weights["affine2.b"] * keep
    return out


def import_book_weights(pickle_path, out_path) -> Path:
    """Convert the book's pickle to a deepnet weights file, checking every shape against DeepConvNet and
    folding the book's test-time dropout scaling into the last layer (fold_test_time_dropout)."""
    pickle_path, out_path = Path(pickle_path), Path(out_path)
    if out_path.is_dir():
        raise InvalidValue(f"{out_path} is a directory; give the weights file to write, e.g. {out_path / 'book.npz'}")
    if not pickle_path.is_file():
        raise MissingFile(f"no such file: {pickle_path}")
    weights = convert(loads(pickle_path.read_bytes(), str(pickle_path)), str(pickle_path))
    model = DeepConvNet(dtype="float32")
    # names, shapes and finite values checked here
    model.load_state(fold_test_time_dropout(weights), source=str(pickle_path))
    model.save(out_path, meta={"source": f"book weights {pickle_path.name}", "model_name": "deepconvnet"})
    return out_path
