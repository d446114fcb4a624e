"""`deepnet style`: neural style transfer (Gatys et al.) of a content picture in a style picture's manner."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import style as st
from ..backends import current
from ..errors import InvalidValue
from ..images import load_picture
from ..io import atomic_open
from .arguments import check_output

MAX_SIDE = 512


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
    for name, value in (("--content-weight", content_weight), ("--style-weight", style_weight)):
        if not (np.isfinite(value) and value >= 0):
            raise InvalidValue(f"{name} must be a finite number of at least 0; got {value}")
    check_output(out, content, style_image, *([weights] if weights else []))
    picture_format(out)
    net = feature_net(weights, 1)
    bk = current()
    channels, smallest = (net.channels if net.channels == 3 else 1), max(8, net.smallest_side())
    c = bk.to_device(load_picture(content, channels, size, smallest, MAX_SIDE))
    s = bk.to_device(load_picture(style_image, channels, size, smallest, MAX_SIDE))
    transfer = st.StyleTransfer(net, c, s, content_weight, style_weight)
    log(f"Style transfer with {net.description}: content {net.content}, style {', '.join(net.style)}; "
        f"{steps} {method} steps on a {c.shape[3]}x{c.shape[2]} image")
    image, record = transfer.run(c, steps, method)
    log(f"style loss {record['style_start']:.4g} -> {record['style_end']:.4g} ({100 * record['style_reduction']:.1f}% "
        f"lower), content loss {record['content_end']:.4g}, {record['seconds']:.1f} s")
    save_picture(bk.to_numpy(image)[0], out)
    log(f"Picture: {out}")
    return record


def picture_format(path) -> str:
    """The format Pillow writes for `path`'s suffix (PNG, JPEG, ...); an unknown suffix is refused."""
    from PIL import Image

    suffix = Path(path).suffix.lower()
    known = Image.registered_extensions()
    if suffix not in known or known[suffix] not in Image.SAVE:
        raise InvalidValue(f"--out {path}: the picture's format comes from its suffix; give one Pillow writes, such "
                           f"as .png or .jpg (got {suffix or 'none'!r})")
    return known[suffix]


def save_picture(img: np.ndarray, path) -> None:
    """Pixels (C, H, W) in [0, 1] written to `path` in the format its suffix names."""
    from PIL import Image

    a = np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)
    pic = Image.fromarray(a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0))
    with atomic_open(path, "wb") as f:
        pic.save(f, format=picture_format(path))


NAME = "style"
HELP = "neural style transfer: CONTENT painted in STYLE's manner (Gatys et al.)"


def add_arguments(p) -> None:
    p.add_argument("content", help="the content picture (PNG/JPEG, any mode)")
    p.add_argument("style", help="the style picture")
    p.add_argument("--weights", default=None, help="the feature network: a VGG-19 .safetensors file in "
                                                   "torchvision's layout, or a deepnet run of a convolutional "
                                                   "classifier (default: a random multi-scale network)")
    p.add_argument("--steps", type=int, default=300, help="optimisation steps (default 300)")
    p.add_argument("--method", default="lbfgs", help="lbfgs (SciPy, the paper's) or adam (default lbfgs)")
    p.add_argument("--content-weight", type=float, default=1.0, help="alpha (default 1)")
    p.add_argument("--style-weight", type=float, default=1e3, help="beta (default 1000)")
    p.add_argument("--size", type=int, default=None, help="the pictures' longer side in pixels (default: the "
                                                         "content's, at most 512)")
    p.add_argument("--out", default="stylised.png", help="the result (default stylised.png)")


def run(args) -> int:
    style(args.content, args.style, weights=args.weights, steps=args.steps, out=args.out,
          content_weight=args.content_weight, style_weight=args.style_weight, method=args.method, size=args.size)
    return 0
