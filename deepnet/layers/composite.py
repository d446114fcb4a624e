"""Layers made of layers: residual blocks (ResNet), parallel branches joined along channels
(GoogLeNet's inception), and global average pooling."""
from __future__ import annotations

from ..backends import current
from . import runner
from .base import Container, Layer, output_shape_of
from .convolution import Convolution


def _check_sum(branch, shortcut) -> None:
    """A residual block's branch and shortcut outputs (shapes) must match to be summed."""
    if tuple(branch) != tuple(shortcut):
        raise ValueError(f"Residual: branch gives {tuple(branch)} but the shortcut gives {tuple(shortcut)}; "
                         f"pass a projection shortcut")


def _name(layers, prefix):
    return {f"{prefix}{i}": layer for i, layer in enumerate(layers)}


class Residual(Container):
    """y = F(x) + S(x) (He et al., 2015): F is the branch, S the identity, or a projection (e.g. a
    strided 1x1 convolution) when F changes the shape. dx = dF/dx^T dout + dS/dx^T dout.

    With skip=False the block is "plain", y = F(x): the same weights without the shortcut, for the
    chapter's comparison of deep plain and residual networks.
    """

    def __init__(self, branch, shortcut=None, skip: bool = True):
        self.branch = list(branch)
        self.shortcut = list(shortcut or [])
        self.skip = bool(skip)
        self.children = {**_name(self.branch, "f"), **(_name(self.shortcut, "s") if self.skip else {})}

    fuses_relu = True  # layers/runner.py runs the block and a Relu after it as forward(relu=True)
    relu_out = None  # the output of a forward with that ReLU fused in

    def forward(self, x, train=False, fuse=True, pool=False, relu=False):
        """F(x) + S(x); with relu=True, max(F(x) + S(x), 0) in one pass (layers/runner.py fuses the block and the
        Relu after it, as ResNet's blocks are followed; backward then applies the ReLU's mask)."""
        self.relu_out = None
        if relu and self.skip and fuse and pool and not train and runner.conv_batch_norm(self.branch[-2:]):
            return self._forward_folded(x, fuse, pool)
        out = runner.forward(self.branch, x, train, fuse, pool)
        if not self.skip:
            if relu:
                out, self.relu_out = current().relu(out)
            return out
        s = runner.forward(self.shortcut, x, train, fuse, pool)
        _check_sum(out.shape, s.shape)
        if relu:
            y, self.relu_out = current().add_relu(out, s)
            return y
        return out + s

    def _forward_folded(self, x, fuse, pool):
        """Inference's max(F(x) + S(x), 0) when F ends in a Convolution and its BatchNormalization: the shortcut
        first, then F, its last convolution folded (Convolution.forward_folded) with the sum and the ReLU in its
        output pass. Nothing is kept for backward, which is then refused."""
        s = runner.forward(self.shortcut, x, False, fuse, pool)
        h = runner.forward(self.branch[:-2], x, False, fuse, pool)
        conv, bn = self.branch[-2:]
        _check_sum((h.shape[0],) + tuple(conv.output_shape(h.shape[1:])), s.shape)
        y = conv.forward_folded(h, bn, residual=s)
        bn.out_shape = None  # backward now says "before forward", not a stale gradient
        return y

    def backward(self, dout):
        if self.relu_out is not None:
            dout = current().relu_backward(dout, self.relu_out)
        dx = runner.backward(self.branch, dout)
        if self.skip:
            ds = runner.backward(self.shortcut, dout)
            if type(self.branch[0]) is Convolution and ds is not dx:
                dx = current().add_into(dx, ds)  # a convolution's dx is an array of its own: summed in place
            else:
                dx = dx + ds
        return dx

    def output_shape(self, input_shape):
        out = output_shape_of(self.branch, input_shape)
        if self.skip:
            other = output_shape_of(self.shortcut, input_shape)
            if tuple(other) != tuple(out):
                raise ValueError(f"a residual block adds its branch's output {tuple(out)} to its shortcut's "
                                 f"{tuple(other)}: they must be the same shape")
        return out

    def __repr__(self):
        kind = "Residual" if self.skip else "Plain"
        proj = f", projection={len(self.shortcut)} layers" if self.shortcut and self.skip else ""
        return f"{kind}({len(self.branch)} layers{proj})"


class Concat(Container):
    """Parallel branches on the same input, joined along the channel axis (GoogLeNet's inception block).
    Backward splits dout by each branch's channels and sums the branches' input gradients."""

    def __init__(self, branches):
        self.branches = [list(b) for b in branches]
        if not self.branches:
            raise ValueError("Concat needs at least one branch")
        self.children = {f"b{i}_{j}": layer for i, b in enumerate(self.branches) for j, layer in enumerate(b)}

    def forward(self, x, train=False, fuse=True, pool=False):
        outs = [runner.forward(b, x, train, fuse, pool) for b in self.branches]
        spatial = {tuple(o.shape[2:]) for o in outs}
        if len(spatial) != 1:
            raise ValueError(f"Concat branches disagree on spatial size: {[tuple(o.shape) for o in outs]}")
        self.splits = [o.shape[1] for o in outs]
        return current().xp.concatenate(outs, axis=1)

    def backward(self, dout):
        dx, start = None, 0
        for b, c in zip(self.branches, self.splits):
            d = runner.backward(b, dout[:, start : start + c])
            dx = d if dx is None else dx + d
            start += c
        return dx

    def output_shape(self, input_shape):
        shapes = [output_shape_of(b, input_shape) for b in self.branches]
        return (sum(s[0] for s in shapes),) + tuple(shapes[0][1:])

    def __repr__(self):
        return f"Concat({len(self.branches)} branches)"


class GlobalAveragePooling(Layer):
    """y[n, c] = mean over (h, w) of x[n, c, h, w];  dx = dout / (H*W) broadcast over the map."""

    def forward(self, x, train=False):
        if x.ndim != 4:
            raise ValueError(f"GlobalAveragePooling expects (N, C, H, W) input; got shape {tuple(x.shape)}")
        self.x_shape = x.shape
        return x.mean(axis=(2, 3))

    def backward(self, dout):
        n, c, h, w = self.x_shape
        return current().xp.broadcast_to((dout / (h * w))[:, :, None, None], self.x_shape).copy()

    def output_shape(self, input_shape):
        return (input_shape[0],)
