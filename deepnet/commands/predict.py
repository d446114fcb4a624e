"""`deepnet predict`: classify images of digits with a trained model."""
from __future__ import annotations

import numpy as np

from .. import datasets
from ..backends import current
from ..images import load_digit
from ..layers import softmax
from ..loading import load_classifier


def predict_images(images, weights, log=print) -> int:
    model, _ = load_classifier(weights, "deepnet predict", input_shape=(1, 28, 28))
    x = datasets.to_model_input(np.stack([load_digit(p) for p in images]), model.dtype)
    probs = current().to_numpy(softmax(model.forward(x, train=False)))
    for path, p in zip(images, probs):
        k = int(p.argmax())
        log(f"{path}: {k} ({100 * p[k]:.1f}%)")
    return 0


NAME = "predict"
HELP = "classify digit images (PNG/JPEG)"


def add_arguments(p) -> None:
    p.add_argument("images", nargs="+")
    p.add_argument("--weights", default="runs/deepconvnet-mnist", help="run directory or weights file")


def run(args) -> int:
    return predict_images(args.images, args.weights)
