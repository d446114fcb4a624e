"""`deepnet predict`: classify images of digits with a trained model."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import datasets
from ..errors import BadFile, MissingDependency, MissingFile
from ..backends import current
from ..layers import softmax


def open_image(path):
    """(the Pillow image at `path`, fully read, and the path): a missing Pillow names the extra, a missing or
    unreadable file is one line. Every command that reads a user's picture opens it here."""
    try:
        from PIL import Image
    except ImportError:
        raise MissingDependency("reading images needs Pillow: pip install 'deepnet[image]'") from None
    path = Path(path)
    if not path.is_file():
        raise MissingFile(f"no such image: {path}")
    try:
        img = Image.open(path)
        img.load()
    except Exception as exc:
        raise BadFile(f"{path}: not a readable image ({exc})") from None
    return img, path


def load_image(path, size: int = 28) -> np.ndarray:
    """A (1, size, size) uint8 image, white digit on black as in MNIST (light backgrounds are inverted)."""
    from PIL import Image, ImageOps

    img, path = open_image(path)
    img = _grey(img)
    if img.width < size or img.height < size:
        raise BadFile(f"{path}: image is {img.width}x{img.height}; expected at least {size}x{size}")
    img = ImageOps.fit(img, (size, size), method=Image.Resampling.LANCZOS) if img.size != (size, size) else img
    a = np.asarray(img, dtype=np.uint8)
    if a.mean() > 127:  # dark digit on a light background: MNIST is the other way round
        a = 255 - a
    return a.reshape(1, size, size)


def _grey(img):
    """The image in grey levels. With transparency (a drawing tool's usual PNG: ink on a transparent
    background), the image is first composited on the background its alpha implies: white under dark
    ink, black under light ink, so a digit drawn only in the alpha channel is not lost."""
    from PIL import Image

    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.float64) / 255.0
        grey = np.asarray(rgba.convert("L"), dtype=np.float64)
        ink = grey[alpha > 0.5]
        background = 255.0 if ink.size == 0 or ink.mean() < 128 else 0.0
        mixed = grey * alpha + background * (1 - alpha)
        return Image.fromarray(np.rint(mixed).astype(np.uint8), mode="L")
    return img.convert("L")


def predict_images(images, weights, log=print) -> int:
    from ..loading import load_classifier

    model, _ = load_classifier(weights, "deepnet predict", input_shape=(1, 28, 28))
    x = datasets.to_model_input(np.stack([load_image(p) for p in images]), model.dtype)
    probs = current().to_numpy(softmax(model.forward(x, train=False)))
    for path, p in zip(images, probs):
        k = int(p.argmax())
        log(f"{path}: {k} ({100 * p[k]:.1f}%)")
    return 0
