"""Importing the weights the book publishes (deep_conv_net_params.pkl) into deepnet's format."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .safe_pickle import loads

# The book's DeepConvNet numbers its weight layers 1..8: six convolutions, then two affine layers.
BOOK_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "conv6", "affine1", "affine2")


def convert(params: dict, source: str = "the pickle") -> dict:
    """deepnet parameter names -> arrays, from the book's {'W1': ..., 'b1': ..., ...} dict."""
    if not isinstance(params, dict):
        raise ValueError(f"{source}: expected a dict of arrays W1, b1, ...; got {type(params).__name__}")
    numbers = sorted({int(m.group(1)) for k in params if (m := re.fullmatch(r"[Wb](\d+)", str(k)))})
    expected = list(range(1, len(BOOK_LAYERS) + 1))
    extra = sorted(set(map(str, params)) - {f"{p}{i}" for p in "Wb" for i in expected})
    if numbers != expected or extra:
        raise ValueError(f"{source}: expected keys W1..W{len(BOOK_LAYERS)} and b1..b{len(BOOK_LAYERS)} "
                         f"(the book's DeepConvNet); got {sorted(map(str, params))}")
    out = {}
    for i, layer in zip(expected, BOOK_LAYERS):
        for p in "Wb":
            a = np.asarray(params[f"{p}{i}"])
            if not np.issubdtype(a.dtype, np.floating):
                raise ValueError(f"{source}: {p}{i} has dtype {a.dtype}; expected floating point")
            out[f"{layer}.{p}"] = a
    return out


def import_book_weights(pickle_path, out_path) -> Path:
    """Convert the book's pickle to a deepnet weights file, checking every shape against DeepConvNet."""
    from .models import DeepConvNet

    pickle_path = Path(pickle_path)
    if not pickle_path.is_file():
        raise FileNotFoundError(f"no such file: {pickle_path}")
    weights = convert(loads(pickle_path.read_bytes(), str(pickle_path)), str(pickle_path))
    model = DeepConvNet(dtype="float32")
    model.load_state(weights, source=str(pickle_path))  # names and shapes checked here
    out_path = Path(out_path)
    model.save(out_path, meta={"source": f"book weights {pickle_path.name}", "model_name": "deepconvnet"})
    return out_path
