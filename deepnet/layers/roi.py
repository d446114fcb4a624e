"""RoI Align: a fixed-size feature map for each region of an image (Faster R-CNN's head, Mask R-CNN's
alignment)."""
from __future__ import annotations

from ..backends import current
from .base import Layer
from .convolution import _pair


class RoIAlign(Layer):
    """y[r] = the features of region r, cut into out_h x out_w bins, each bin the mean of sampling x sampling
    bilinear reads (the backend's roi_align: torchvision's aligned=True convention).

    forward(x, rois): x (N, C, H, W) features, rois (R, 5) rows (image index, x1, y1, x2, y2) in input pixels;
    `scale` maps them to feature pixels (1/4 for features at stride 4). backward(dout) gives dx; the regions'
    coordinates get no gradient."""

    def __init__(self, output_size, scale: float, sampling: int = 2):
        self.out_h, self.out_w = _pair(output_size)
        self.scale, self.sampling = float(scale), int(sampling)
        if self.out_h < 1 or self.out_w < 1 or self.sampling < 1 or not self.scale > 0:
            raise ValueError(f"RoIAlign needs output_size >= 1, sampling >= 1 and scale > 0; got {output_size}, "
                             f"{sampling}, {scale}")

    def forward(self, x, rois, train=False):
        if x.ndim != 4:
            raise ValueError(f"RoIAlign expects (N, C, H, W) features; got shape {tuple(x.shape)}")
        if rois.ndim != 2 or rois.shape[1] != 5:
            raise ValueError(f"RoIAlign expects regions (R, 5) of rows (image, x1, y1, x2, y2); got shape "
                             f"{tuple(rois.shape)}")
        y, self.context = current().roi_align(x, rois, self.out_h, self.out_w, self.scale, self.sampling)
        return self._forwarded(y)

    def backward(self, dout):
        self._check_dout(dout)
        return current().roi_align_backward(dout, self.context)

    def __repr__(self):
        return f"RoIAlign(({self.out_h}, {self.out_w}), scale={self.scale:g}, sampling={self.sampling})"
