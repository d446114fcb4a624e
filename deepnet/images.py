"""A user's pictures read one way for every command that takes them (predict, caption, detect, style): any mode
Pillow reads; transparency composited on the background its ink implies, so a digit drawn only in the alpha
channel is kept; 16-bit and 32-bit grey levels scaled to 8 bits rather than clipped; a picture larger than
MAX_PIXELS refused from its header, before it is decoded (Pillow would only warn)."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from .errors import BadFile, MissingDependency, MissingFile

MAX_PIXELS = 1 << 26  # 64 megapixels: a photograph's size and more; each command scales it down anyway


def _pillow():
    try:
        from PIL import Image
    except ImportError:
        raise MissingDependency("reading images needs Pillow: pip install 'deepnet[image]'") from None
    return Image


def open_image(path):
    """(the Pillow image at `path`, fully read, and the path): a missing Pillow names the extra, a missing,
    unreadable or oversized file is one line."""
    Image = _pillow()
    path = Path(path)
    if not path.is_file():
        raise MissingFile(f"no such image: {path}")
    try:
        with warnings.catch_warnings():  # the size is checked below, with a message of our own
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
    except Image.DecompressionBombError:
        raise BadFile(f"{path}: the image is larger than deepnet reads (at most {MAX_PIXELS:,} pixels)") from None
    except Exception as exc:
        raise BadFile(f"{path}: not a readable image ({exc})") from None
    if img.width * img.height > MAX_PIXELS:
        raise BadFile(f"{path}: image is {img.width}x{img.height} ({img.width * img.height:,} pixels); deepnet reads "
                      f"at most {MAX_PIXELS:,}")
    try:
        img.load()
    except Exception as exc:
        raise BadFile(f"{path}: not a readable image ({exc})") from None
    return img, path


def _eight_bit(img):
    """An image of 16-bit or 32-bit integers, or of floats, as 8-bit grey: 16-bit levels scaled by 255/65535
    (Pillow's own conversion clips everything above 255 to white), floats in [0, 1] scaled to [0, 255]."""
    Image = _pillow()
    a = np.asarray(img, dtype=np.float64)
    top = float(a.max()) if a.size else 0.0
    if img.mode == "F" and top <= 1.0:
        a = a * 255.0
    elif top > 255.0:
        a = a * (255.0 / 65535.0) if top <= 65535.0 else a * (255.0 / top)
    return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), mode="L")


def flatten(img, mode: str):
    """The image in `mode` ("L" or "RGB"). With transparency (a drawing tool's usual PNG: ink on a transparent
    background) it is first composited on the background its alpha implies: white under dark ink, black under
    light ink."""
    Image = _pillow()
    if img.mode.startswith("I") or img.mode == "F":
        img = _eight_bit(img)
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.float64)[..., None] / 255.0
        colour = np.asarray(rgba.convert("RGB"), dtype=np.float64)
        ink = np.asarray(rgba.convert("L"), dtype=np.float64)[alpha[..., 0] > 0.5]
        background = 255.0 if ink.size == 0 or ink.mean() < 128 else 0.0
        mixed = colour * alpha + background * (1 - alpha)
        img = Image.fromarray(np.rint(mixed).astype(np.uint8), mode="RGB")
    return img.convert(mode)


def load_digit(path, size: int = 28) -> np.ndarray:
    """A (1, size, size) uint8 image, white digit on black as in MNIST (light backgrounds are inverted): what
    `deepnet predict` and `deepnet caption` read."""
    Image = _pillow()
    from PIL import ImageOps

    img, path = open_image(path)
    img = flatten(img, "L")
    if img.width < size or img.height < size:
        raise BadFile(f"{path}: image is {img.width}x{img.height}; expected at least {size}x{size}")
    img = ImageOps.fit(img, (size, size), method=Image.Resampling.LANCZOS) if img.size != (size, size) else img
    a = np.asarray(img, dtype=np.uint8)
    if a.mean() > 127:  # dark digit on a light background: MNIST is the other way round
        a = 255 - a
    return a.reshape(1, size, size)


def load_scene(path, shape, smallest: int):
    """((1, H, W) uint8 image resized to `shape`, (x scale, y scale) back to the image's pixels), at least
    `smallest` pixels a side: what `deepnet detect` reads."""
    Image = _pillow()
    img, path = open_image(path)
    img = flatten(img, "L")
    if min(img.width, img.height) < smallest:
        raise BadFile(f"{path}: image is {img.width}x{img.height}; the detector's smallest anchor is {smallest} "
                      f"pixels, so an image needs at least {smallest}x{smallest}")
    h, w = shape
    scale = (img.width / w, img.height / h)
    a = np.asarray(img.resize((w, h), Image.Resampling.BILINEAR), dtype=np.uint8)
    if a.mean() > 127:  # dark digits on a light background: MNIST is the other way round
        a = 255 - a
    return a.reshape(1, h, w), scale


def load_picture(path, channels: int, size: int | None = None, smallest: int = 8, largest: int = 512) -> np.ndarray:
    """(1, channels, H, W) float32 pixels in [0, 1], grey or RGB, resized so that its longer side is `size`
    (default: its own, at most `largest`); a picture whose shorter side would fall below `smallest` is refused:
    what `deepnet style` reads."""
    Image = _pillow()
    img, path = open_image(path)
    img = flatten(img, "L" if channels == 1 else "RGB")
    side = min(size or max(img.size), largest)
    scale = side / max(img.size)
    new = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    if min(new) < smallest:
        raise BadFile(f"{path}: image is {img.width}x{img.height}, which is {new[0]}x{new[1]} at a longer side of "
                      f"{side}; style transfer with this feature network needs at least {smallest} pixels a side")
    if new != img.size:
        img = img.resize(new, Image.Resampling.LANCZOS)
    a = np.asarray(img, np.float32) / 255.0
    return (a[None, None] if channels == 1 else a.transpose(2, 0, 1)[None]).copy()
