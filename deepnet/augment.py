"""Data augmentation on the active backend, per batch, with no per-image Python loop.

Each image gets its own random affine map (shift, rotation, scale, horizontal flip) drawn from the
backend's seeded generator; all images are resampled at once by bilinear interpolation with
gathers on the device, pixels from outside the image reading as 0 (MNIST's black background).
Brightness and contrast are applied after. Used in training only (the Trainer never augments
evaluation data).

    aug = Augment(shift=2, rotate=10, scale=0.1)      # pixels, degrees, fraction
    aug = Augment.parse("shift=2,rotate=10,scale=0.1")
    x_aug = aug(x)                                     # (N, C, H, W), same dtype and device
"""
from __future__ import annotations

import math

import numpy as np

from .backends import current
from .errors import InvalidValue

KEYS = ("shift", "rotate", "scale", "crop", "flip", "brightness", "contrast")


class Augment:
    def __init__(self, shift: float = 0.0, rotate: float = 0.0, scale: float = 0.0, crop: int = 0, flip: bool = False,
                 brightness: float = 0.0, contrast: float = 0.0):
        self.shift, self.rotate, self.scale = float(shift), float(rotate), float(scale)
        if float(crop) != int(crop):
            raise InvalidValue(f"augmentation crop is a whole number of pixels; got {crop}")
        self.crop, self.flip = int(crop), bool(flip)
        self.brightness, self.contrast = float(brightness), float(contrast)
        for k in ("shift", "rotate", "scale", "crop", "brightness", "contrast"):
            if not math.isfinite(getattr(self, k)) or getattr(self, k) < 0:
                raise InvalidValue(f"augmentation {k} must be >= 0; got {getattr(self, k)}")

    @classmethod
    def parse(cls, spec: str | None) -> Augment | None:
        """'shift=2,rotate=10,flip' -> Augment; None or '' -> None."""
        if not spec:
            return None
        kwargs = {}
        for part in spec.split(","):
            key, _, value = part.strip().partition("=")
            if key not in KEYS:
                raise InvalidValue(f"unknown augmentation {key!r} in {spec!r}; known: {', '.join(KEYS)}")
            if key == "flip":
                kwargs[key] = not value or value.lower() in ("1", "true", "yes", "on")
                continue
            try:
                number = float(value)
            except ValueError:
                number = math.nan
            if not math.isfinite(number):
                raise InvalidValue(f"augmentation {key} needs a finite number, e.g. {key}=2; got {part.strip()!r} "
                                   f"in {spec!r}")
            kwargs[key] = number
        return cls(**kwargs)

    def __repr__(self):
        on = {k: getattr(self, k) for k in KEYS if getattr(self, k)}
        return "Augment(" + ", ".join(f"{k}={v}" for k, v in on.items()) + ")"

    @property
    def spatial(self) -> bool:
        return bool(self.shift or self.rotate or self.scale or self.crop or self.flip)

    def __call__(self, x):
        bk = current()
        xp = bk.xp
        gen = bk.rng.host  # the run's seeded generator: augmentation is reproducible and resumes exactly
        n, c, h, w = x.shape
        out = x
        if self.spatial:
            angle = np.deg2rad(gen.uniform(-self.rotate, self.rotate, n))
            zoom = 1.0 + gen.uniform(-self.scale, self.scale, n)
            tx = gen.uniform(-self.shift, self.shift, n) + gen.integers(-self.crop, self.crop + 1, n)
            ty = gen.uniform(-self.shift, self.shift, n) + gen.integers(-self.crop, self.crop + 1, n)
            flip = gen.random(n) < 0.5 if self.flip else np.zeros(n, bool)
            # The inverse map, output pixel -> source pixel, about the image centre.
            cos, sin = np.cos(angle) / zoom, np.sin(angle) / zoom
            sx = np.where(flip, -1.0, 1.0)
            inv = np.stack([np.stack([cos * sx, sin, -tx], 1), np.stack([-sin * sx, cos, -ty], 1)], 1)  # (n, 2, 3)
            out = _resample(x, bk.to_device(inv.astype(np.float32)))
        if self.brightness or self.contrast:
            b = gen.uniform(-self.brightness, self.brightness, (n, 1, 1, 1))
            k = 1.0 + gen.uniform(-self.contrast, self.contrast, (n, 1, 1, 1))
            mean = out.mean(axis=(1, 2, 3), keepdims=True)
            out = (out - mean) * bk.to_device(k.astype(x.dtype)) + mean + bk.to_device(b.astype(x.dtype))
            out = xp.clip(out, 0, 1)
        return out.astype(x.dtype, copy=False)


def _resample(x, inv):
    """Bilinear resampling of every image through its own 2x3 inverse map (centred coordinates)."""
    xp = current().xp
    n, c, h, w = x.shape
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    gy, gx = xp.meshgrid(xp.arange(h, dtype=xp.float32) - cy, xp.arange(w, dtype=xp.float32) - cx, indexing="ij")
    # (n, h, w) source coordinates
    src_x = inv[:, 0, 0, None, None] * gx + inv[:, 0, 1, None, None] * gy + inv[:, 0, 2, None, None] + cx
    src_y = inv[:, 1, 0, None, None] * gx + inv[:, 1, 1, None, None] * gy + inv[:, 1, 2, None, None] + cy
    x0, y0 = xp.floor(src_x), xp.floor(src_y)
    fx, fy = src_x - x0, src_y - y0
    x0, y0 = x0.astype(xp.int64), y0.astype(xp.int64)
    flat = x.reshape(n, c, h * w)
    out = xp.zeros((n, c, h * w), dtype=xp.float32)
    for dy, dx, weight in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx), (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):
        yy, xx = y0 + dy, x0 + dx
        inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
        idx = (xp.clip(yy, 0, h - 1) * w + xp.clip(xx, 0, w - 1)).reshape(n, 1, h * w)
        vals = xp.take_along_axis(flat, xp.broadcast_to(idx, (n, c, h * w)), axis=2)
        out += vals * (weight * inside).reshape(n, 1, h * w)
    return out.reshape(n, c, h, w)
