"""Neural style transfer (Gatys, Ecker & Bethge, 2016; the book's 8.5.1): an image optimised so that a CNN's
features match one picture's content and another's style.

    content loss  L_c = 1/2 sum (F - P)^2               F, P: the image's and the content picture's features
                                                           at one layer, (N channels, M positions)
    style loss    E_l = sum (G - A)^2 / (4 N^2 M^2)      G = F F^T, A: the Gram matrices of the image's and the
                                                           style picture's features at layer l
    total         alpha L_c + beta sum_l E_l / (number of style layers)
    gradients     dL_c/dF = F - P;   dE_l/dF = (G - A) F / (N^2 M^2), then back through the network to the pixels

The image (pixels in [0, 1]) is optimised with L-BFGS-B within those bounds (SciPy, as the paper's L-BFGS) or
with Adam (clipped to [0, 1] after each step). Images of a batch are optimised together, each against its own
content picture and the one style picture.

Feature networks (`FeatureNet`):
- `vgg19_from_safetensors(path)`: VGG-19's convolutions (the paper's network) from a safetensors file in the
  layout of torchvision's `vgg19().state_dict()` ("features.0.weight", ...), with the ImageNet normalisation;
  the paper's layers: content relu4_2, style relu1_1, relu2_1, relu3_1, relu4_1, relu5_1. ImageNet weights
  cannot be fetched here: a user brings the file.
- `from_run(run)`: the convolutional part of a network deepnet trained (its VGG on Fashion-MNIST, say).
- `random_multiscale()`: three stages of random (He-initialised, never trained) 3x3 convolutions at three
  scales, which the literature reports is enough for textures (Ustyuzhaninov et al., 2017).
"""
from __future__ import annotations

import time

import numpy as np

from .backends import current
from .errors import BadFile, InvalidValue, MissingDependency, MissingFile
from .layers import Affine, Convolution, Pooling, Relu, runner
from .layers.base import output_shape_of
from .loading import load_classifier
from .optimizers import Adam

#: torchvision's vgg19().features: convolutions (output channels) and max poolings ("M"), module by module
VGG19 = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
GATYS_CONTENT, GATYS_STYLE = "relu4_2", ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


class FeatureNet:
    """Named layers applied in order to images normalised as (x - mean) / std, recording the outputs asked for
    and sending gradients back from them to the pixels."""

    def __init__(self, named_layers, channels: int, mean=None, std=None, content: str = "", style=(),
                 description: str = ""):
        self.names = [n for n, _ in named_layers]
        self.layers = [layer for _, layer in named_layers]
        self.channels = int(channels)
        self.mean = np.asarray(mean if mean is not None else [0.0] * channels, np.float64).reshape(1, -1, 1, 1)
        self.std = np.asarray(std if std is not None else [1.0] * channels, np.float64).reshape(1, -1, 1, 1)
        self.content, self.style, self.description = content, tuple(style), description
        self._segments = []

    def smallest_side(self, largest: int = 4096) -> int:
        """The smallest square picture's side the layers up to the deepest one used (content and style) take."""
        used = self.layers[: max(self.index(n) for n in (self.content, *self.style) if n) + 1]
        for side in range(1, largest + 1):
            try:
                if min(output_shape_of(used, (self.channels, side, side))) >= 1:
                    return side
            except ValueError:
                continue
        return largest

    def index(self, name: str) -> int:
        if name not in self.names:
            raise InvalidValue(f"the feature network has no layer {name!r}; its layers: {', '.join(self.names)}")
        return self.names.index(name)

    def _input(self, x):
        """Images (B, C, H, W) in [0, 1] as the network reads them: grey repeated to its channels, normalised."""
        xp = current().xp
        if x.shape[1] != self.channels:
            if x.shape[1] != 1:
                raise InvalidValue(f"the feature network reads {self.channels}-channel images; got {x.shape[1]}")
            x = xp.repeat(x, self.channels, axis=1)
        return (x - xp.asarray(self.mean, dtype=x.dtype)) / xp.asarray(self.std, dtype=x.dtype)

    def forward(self, x, names) -> dict:
        """{name: features} of the layers named, from images x; kept for backward."""
        wanted = sorted({self.index(n) for n in names})
        self._in_channels = x.shape[1]
        out, start, acts, self._segments = self._input(x), 0, {}, []
        for i in wanted:
            out = runner.forward(self.layers[start : i + 1], out, train=False, fuse=True)
            acts[self.names[i]] = out
            self._segments.append((start, i))
            start = i + 1
        return acts

    def backward(self, grads: dict):
        """d loss / d images, from {name: d loss / d features} of the last forward's layers."""
        d = None
        for start, end in reversed(self._segments):
            g = grads.get(self.names[end])
            d = g if d is None else (d if g is None else d + g)
            d = runner.backward(self.layers[start : end + 1], d)
        xp = current().xp
        d = d / xp.asarray(self.std, dtype=d.dtype)
        return d.sum(axis=1, keepdims=True) if self._in_channels == 1 and self.channels != 1 else d


def _vgg_named(config, channels: int, dtype=None):
    """(deepnet name, layer, torchvision module index) for a VGG feature stack."""
    out, c, block, i, module = [], channels, 1, 1, 0
    for item in config:
        if item == "M":
            out.append((f"pool{block}", Pooling(2), module))
            module += 1
            block, i = block + 1, 1
            continue
        out.append((f"conv{block}_{i}", Convolution(c, int(item), 3, pad=1, dtype=dtype), module))
        out.append((f"relu{block}_{i}", Relu(), module + 1))
        module += 2
        c, i = int(item), i + 1
    return out


def vgg19_from_safetensors(path, dtype="float32") -> FeatureNet:
    """VGG-19's feature layers from a safetensors file with torchvision's names; every convolution's weight and
    bias must be there with its shape (the first missing or misshapen one is named)."""
    try:
        from safetensors.numpy import load_file
    except ImportError:
        raise MissingDependency("reading safetensors files needs the safetensors package: pip install "
                                "'deepnet[style]'") from None
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise MissingFile(f"no such weights file: {path}")
    try:
        tensors = load_file(str(path))
    except Exception as exc:  # a corrupt or foreign file: safetensors says what it found
        raise BadFile(f"{path}: not a readable safetensors file ({exc})") from None
    named = _vgg_named(VGG19, 3, dtype)
    bk = current()
    for name, layer, module in named:
        if not isinstance(layer, Convolution):
            continue
        for part, attr in (("weight", "W"), ("bias", "b")):
            key = f"features.{module}.{part}"
            want = tuple(getattr(layer, attr).shape)
            if key not in tensors:
                raise BadFile(f"{path}: no {key!r} (VGG-19's {name} {part}, shape {want}); expected torchvision's "
                              f"vgg19 state-dict names")
            got = tensors[key]
            if tuple(got.shape) != want:
                raise BadFile(f"{path}: {key!r} ({name} {part}) has shape {tuple(got.shape)}; VGG-19's is {want}")
            if not np.isfinite(got).all():
                raise BadFile(f"{path}: {key!r} holds NaN or infinite values")
            setattr(layer, attr, bk.to_device(np.ascontiguousarray(got, dtype=getattr(layer, attr).dtype)))
    return FeatureNet([(n, layer) for n, layer, _ in named], 3, IMAGENET_MEAN, IMAGENET_STD, GATYS_CONTENT,
                      GATYS_STYLE, f"VGG-19 from {path.name}")


def random_multiscale(channels: int = 1, seed: int = 0, widths=(32, 64, 128), dtype="float32") -> FeatureNet:
    """Three stages of random 3x3 convolutions (He-initialised from `seed`) and ReLU, a 2x2 max pooling between
    them: features at three scales; style from every stage, content from the second."""
    bk = current()
    state = bk.rng.get_state()
    bk.rng.seed(seed)
    try:
        named, c = [], channels
        for s, w in enumerate(widths, start=1):
            if s > 1:
                named.append((f"pool{s - 1}", Pooling(2)))
            named += [(f"conv{s}", Convolution(c, w, 3, pad=1, dtype=dtype)), (f"relu{s}", Relu())]
            c = w
    finally:
        bk.rng.set_state(state)  # building it leaves the caller's random stream where it was
    return FeatureNet(named, channels, content="relu2", style=tuple(f"relu{s}" for s in range(1, len(widths) + 1)),
                      description=f"random multi-scale network (seed {seed})")


def from_run(run, dtype="float32") -> FeatureNet:
    """The convolutional part (up to the first fully connected layer) of a trained deepnet classifier; content
    from its second-to-last ReLU, style from every ReLU before."""
    model, meta = load_classifier(run, "a style-transfer feature network", dtype)
    named = []
    for name, layer in model.layers.items():
        if isinstance(layer, Affine):
            break
        if not isinstance(layer, (Convolution, Relu, Pooling)):
            raise InvalidValue(f"{meta['path']}: layer {name} ({type(layer).__name__}) is not a convolution, ReLU or "
                               f"pooling; style transfer reads plain convolutional stacks (VGG, DeepConvNet)")
        named.append((name, layer))
    relus = [n for n, layer in named if isinstance(layer, Relu)]
    if len(relus) < 2:
        raise InvalidValue(f"{meta['path']} has {len(relus)} ReLU layers before its classifier; style transfer "
                           f"needs at least two")
    return FeatureNet(named, model.input_shape[0], content=relus[-2], style=tuple(relus),
                      description=f"{type(model).__name__} from {meta['path']}")


def gram(f):
    """(B, N, N) Gram matrices F F^T of features (B, N, H, W) flattened to (B, N, M)."""
    b, n = f.shape[:2]
    flat = f.reshape(b, n, -1)
    return flat @ flat.transpose(0, 2, 1)


class StyleTransfer:
    """The loss of images against content pictures (B, C, H, W) and one style picture (1, C, H', W')."""

    def __init__(self, net: FeatureNet, content, style, content_weight: float = 1.0, style_weight: float = 1e3,
                 content_layer: str | None = None, style_layers=None):
        self.net = net
        self.content_layer = content_layer or net.content
        self.style_layers = tuple(style_layers or net.style)
        if not self.style_layers:
            raise InvalidValue("style transfer needs at least one style layer")
        if not content_weight >= 0 or not style_weight >= 0:
            raise InvalidValue(f"the weights must be non-negative; got content {content_weight}, style {style_weight}")
        self.alpha, self.beta = float(content_weight), float(style_weight)
        self.targets = net.forward(content, [self.content_layer])[self.content_layer].copy()
        acts = net.forward(style, self.style_layers)
        self.grams = {name: gram(acts[name])[0].copy() for name in self.style_layers}

    def losses(self, x, grad: bool = True):
        """(content loss, style loss, d total / d x or None), summed over the batch."""
        acts = self.net.forward(x, (self.content_layer,) + self.style_layers)
        f = acts[self.content_layer]
        diff = f - self.targets
        sums = [(diff * diff).sum()]  # read back together, once, below
        grads = {self.content_layer: self.alpha * diff}
        scales = []
        for name in self.style_layers:
            a = acts[name]
            b, n = a.shape[:2]
            m = a[0].size // n
            g = gram(a) - self.grams[name]
            scale = 1.0 / (n * n * m * m)
            sums.append((g * g).sum())
            scales.append(scale / 4 / len(self.style_layers))
            d = (g @ a.reshape(b, n, -1)).reshape(a.shape) * (self.beta * scale / len(self.style_layers))
            grads[name] = grads[name] + d if name in grads else d
        dx = self.net.backward(grads) if grad else None
        read = current().items(*sums)
        content = 0.5 * read[0]
        style = sum(v * k for v, k in zip(read[1:], scales))
        return content, style, dx

    def total(self, x) -> float:
        c, s, _ = self.losses(x, grad=False)
        return self.alpha * c + self.beta * s

    def run(self, x0, steps: int = 300, method: str = "lbfgs", lr: float = 0.02, log=None) -> tuple:
        """(image, record): `steps` iterations from x0 ((B, C, H, W) in [0, 1]); record holds the losses at the
        start and end and the seconds taken."""
        bk = current()
        xp = bk.xp
        if steps < 1:
            raise InvalidValue(f"`steps` must be at least 1; got {steps}", parameters=("steps",))
        x = xp.asarray(x0).copy()
        c0, s0, _ = self.losses(x, grad=False)
        start = time.perf_counter()
        if method == "lbfgs":
            x = self._lbfgs(x, steps)
        elif method == "adam":
            opt = Adam(lr=lr)
            for i in range(steps):
                _, _, dx = self.losses(x)
                opt.update({"x": x}, {"x": dx})
                xp.clip(x, 0.0, 1.0, out=x)
                if log is not None and (i + 1) % 50 == 0:
                    log(f"step {i + 1}: total loss {self.total(x):.4g}")
        else:
            raise InvalidValue(f"`method` must be lbfgs or adam; got {method!r}", parameters=("method",))
        bk.synchronize()
        seconds = time.perf_counter() - start
        c1, s1, _ = self.losses(x, grad=False)
        return x, {"content_start": c0, "style_start": s0, "content_end": c1, "style_end": s1,
                   "style_reduction": 1.0 - s1 / s0 if s0 > 0 else 0.0, "seconds": seconds, "steps": steps,
                   "method": method}

    def _lbfgs(self, x, steps: int):
        try:
            from scipy.optimize import minimize
        except ImportError:
            raise MissingDependency("L-BFGS needs SciPy: pip install 'deepnet[style]', or `method` adam",
                                    parameters=("method",)) from None
        bk = current()
        shape, dtype = x.shape, x.dtype

        def f(v):
            img = bk.to_device(v.reshape(shape).astype(dtype))
            c, s, dx = self.losses(img)
            return self.alpha * c + self.beta * s, bk.to_numpy(dx).astype(np.float64).ravel()

        res = minimize(f, bk.to_numpy(x).astype(np.float64).ravel(), jac=True, method="L-BFGS-B",
                       bounds=[(0.0, 1.0)] * x.size, options={"maxiter": steps, "maxfun": 2 * steps})
        return bk.to_device(res.x.reshape(shape).astype(dtype))
