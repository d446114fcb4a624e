"""`deepnet scan`: a trained classifier made fully convolutional scores a strip of digits in one pass."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import datasets, plots
from ..backends import current
from ..errors import InvalidValue
from ..layers import softmax
from ..loading import load_classifier
from ..models.fully_convolutional import fully_convolutional, window_stride
from .arguments import check_output


def digit_strip(count: int, seed: int, source_dir=None):
    """(strip of `count` MNIST test digits side by side as (28, 28*count) uint8, their labels)."""
    data = datasets.load("mnist", source_dir=source_dir)
    idx = np.random.default_rng(seed).choice(len(data.test.y), count, replace=False)
    images = data.test.x[idx].reshape(count, 28, 28)
    return np.concatenate(list(images), axis=1), data.test.y[idx]


def scan(weights, count: int = 5, seed: int = 0, out="scan.png", data_dir=None, log=print) -> dict:
    if not 1 <= count <= 100:
        raise InvalidValue(f"--digits must be from 1 to 100; got {count}")
    if not 0 <= seed < 2**63:
        raise InvalidValue(f"--seed must be 0 or more; got {seed}")
    if out:
        check_output(out, weights)
    model, meta = load_classifier(weights, "scan", input_shape=(1, 28, 28), classes=10)
    try:
        fcn = fully_convolutional(model)
    except InvalidValue as exc:
        raise InvalidValue(f"{meta['path']}: {exc}; scan needs a classifier such as a DeepConvNet") from None
    strip, labels = digit_strip(count, seed, data_dir)
    bk = current()
    x = datasets.to_model_input(strip[None, None])
    scores = fcn.forward(x)  # (1, K, 1, positions): one forward pass over the whole strip
    probs = bk.to_numpy(softmax(scores[0, :, 0, :].T.astype(bk.xp.float32)))  # (positions, K)
    stride = window_stride(fcn)[1]
    # the window over digit i starts at 28 * i; at an 8-pixel stride that is position 3.5 * i: take the nearest
    centre = [min(round(28 * i / stride), len(probs) - 1) for i in range(count)]
    read = [int(probs[p].argmax()) for p in centre]
    log(f"{meta['path']}: a {strip.shape[0]}x{strip.shape[1]} strip of {count} MNIST test digits, one forward "
        f"pass of the fully convolutional network: {len(probs)} windows, {stride} pixels apart")
    log(f"digits in the strip: {' '.join(map(str, labels))}")
    log(f"read at each digit:  {' '.join(map(str, read))}")
    result = {"labels": [int(v) for v in labels], "read": read, "probabilities": probs.tolist(), "stride": stride}
    if out:
        plots.score_map(strip, probs, stride, labels, Path(out))
        log(f"Picture: {out}")
    return result


NAME = "scan"
HELP = "a trained DeepConvNet made fully convolutional scores a strip of digits in one forward pass"


def add_arguments(p) -> None:
    p.add_argument("weights", help="run directory or weights file of a DeepConvNet trained on 28x28 MNIST")
    p.add_argument("--digits", type=int, default=5, help="MNIST test digits side by side (default 5)")
    p.add_argument("--seed", type=int, default=0, help="which test digits (default 0)")
    p.add_argument("--out", default="scan.png", help="the picture (default scan.png)")
    p.add_argument("--data-dir", default=None)


def run(args) -> int:
    scan(args.weights, count=args.digits, seed=args.seed, out=args.out, data_dir=args.data_dir)
    return 0
