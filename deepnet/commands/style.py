"""`deepnet style`: neural style transfer (Gatys et al.) of a content picture in a style picture's manner."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import style as st
from ..backends import current
from ..errors import BadFile, InvalidValue
from ..io import check_output

MAX_SIDE = 512


def load_picture(path, channels: int, size: int | None = None) -> np.ndarray:
    """(1, channels, H, W) float32 pixels in [0, 1]: any mode Pillow reads, converted to grey or RGB; resized so
    that its longer side is `size` (at most MAX_SIDE); at least 8 pixels a side."""
    from .predict import open_image

    img, path = open_image(path)
    from PIL import Image

    img = img.convert("L" if channels == 1 else "RGB")  # palette, alpha, CMYK, 16-bit: all converted
    side = min(size or max(img.size), MAX_SIDE)
    if min(img.size) < 8:
        raise BadFile(f"{path}: image is {img.width}x{img.height}; style transfer needs at least 8x8")
    if max(img.size) != side:
        scale = side / max(img.size)
        img = img.resize((max(8, round(img.width * scale)), max(8, round(img.height * scale))),
                         Image.Resampling.LANCZOS)
    a = np.asarray(img, np.float32) / 255.0
    return (a[None, None] if channels == 1 else a.transpose(2, 0, 1)[None]).copy()


def feature_net(weights, channels: int):
    """The network: a VGG-19 safetensors file, a deepnet run or weights file, or (None) the random one."""
    if weights is None:
        return st.random_multiscale(channels)
    p = Path(weights)
    if p.suffix == ".safetensors":
        return st.vgg19_from_safetensors(p)
    return st.from_run(weights)


def style(content, style_image, weights=None, steps: int = 300, out="stylised.png", content_weight: float = 1.0,
          style_weight: float = 1e3, method: str = "lbfgs", size: int | None = None, log=print) -> dict:
    if steps < 1:
        raise InvalidValue(f"--steps must be at least 1; got {steps}")
    if size is not None and not 8 <= size <= MAX_SIDE:
        raise InvalidValue(f"--size must be from 8 to {MAX_SIDE}; got {size}")
    if method not in ("lbfgs", "adam"):
        raise InvalidValue(f"--method must be lbfgs or adam; got {method!r}")
    check_output(out, content, style_image, *([weights] if weights else []))
    net = feature_net(weights, 1)
    bk = current()
    c = bk.to_device(load_picture(content, net.channels if net.channels == 3 else 1, size))
    s = bk.to_device(load_picture(style_image, net.channels if net.channels == 3 else 1, size))
    transfer = st.StyleTransfer(net, c, s, content_weight, style_weight)
    log(f"Style transfer with {net.description}: content {net.content}, style {', '.join(net.style)}; "
        f"{steps} {method} steps on a {c.shape[3]}x{c.shape[2]} image")
    image, record = transfer.run(c, steps, method)
    log(f"style loss {record['style_start']:.4g} -> {record['style_end']:.4g} ({100 * record['style_reduction']:.1f}% "
        f"lower), content loss {record['content_end']:.4g}, {record['seconds']:.1f} s")
    save_picture(bk.to_numpy(image)[0], out)
    log(f"Picture: {out}")
    return record


def save_picture(img: np.ndarray, path) -> None:
    from PIL import Image

    from ..io import atomic_open

    a = np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)
    pic = Image.fromarray(a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0))
    with atomic_open(path, "wb") as f:
        pic.save(f, format="PNG")
