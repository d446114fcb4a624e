"""Inference for a trained BinaryNet on packed bits: one bit a weight, and each +-1 product of the hidden
layers as XNOR and popcount, with the same predictions as the float simulation it was trained as.

For a = +-1 vectors a and w of length K, stored as bits (1 for +1): a . w = K - 2 * popcount(a XOR w).
The float layers (the first convolution, batch normalisation, pooling, the last layer) run as before.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from . import io
from .backends import current
from .errors import BadFile
from .layers import runner
from .layers.binary import BinaryAffine, BinaryConvolution
from .loading import load_model_meta
from .models import create
from .training.checkpoint import PACKED_FORMAT  # the "format" PackedBinaryNet.save writes in its metadata


def pack_bits(signs) -> np.ndarray:
    """Rows of +-1 values as bytes (1 bit a value, +1 -> 1), padded to whole bytes."""
    return np.packbits(np.asarray(signs) > 0, axis=-1)


def xnor_dot(a_bits: np.ndarray, w_bits: np.ndarray, k: int) -> np.ndarray:
    """(M, O) dot products of M packed +-1 rows with O packed +-1 rows of length k (padding bits agree: 0),
    by the backend: a byte table in NumPy, the CPU's popcount instruction with the `fast` extra."""
    return current().xnor_dot(a_bits, w_bits, k)


class PackedBinaryNet:
    """A BinaryNet's binary layers packed to bits; predict() runs them as XNOR-popcount on the CPU."""

    def __init__(self, model):
        self.model = model
        bk = current()
        self.packed = {}
        for name, layer in model.layers.items():
            if isinstance(layer, BinaryConvolution):  # rows ordered like im2col's (KH, KW, C)
                w = bk.to_numpy(layer.W).transpose(0, 2, 3, 1).reshape(layer.out_channels, -1)
                self.packed[name] = pack_bits(np.where(w >= 0, 1, -1))
            elif isinstance(layer, BinaryAffine):
                w = bk.to_numpy(layer.W).T
                self.packed[name] = pack_bits(np.where(w >= 0, 1, -1))

    def weight_bytes(self) -> dict:
        """Bytes of the binary layers' weights packed, and as float32."""
        packed = sum(a.nbytes for a in self.packed.values())
        floats = sum(int(np.prod(self.model.layers[n].W.shape)) * 4 for n in self.packed)
        return {"packed": packed, "float32": floats}

    def save(self, path, meta: dict | None = None) -> int:
        """The network for inference on packed bits as an .npz, written atomically: the binary layers'
        weights as bits ('packed/NAME'), every other array as it is ('model/NAME'), and what builds the
        network in the metadata; `load_packed` reads it back. Returns the file's size in bytes."""
        bk = current()
        arrays = {f"packed/{k}": a for k, a in self.packed.items()}
        arrays.update({f"model/{k}": bk.to_numpy(a) for k, a in self.model.state().items()
                       if k.split(".", 1)[0] not in self.packed or not k.endswith(".W")})
        info = {"model_name": "binarynet", "input_shape": list(self.model.input_shape),
                "num_classes": self.model.num_classes, **(meta or {}), **io.stamp(PACKED_FORMAT)}
        io.save_arrays(path, arrays, info, compress=True)
        return Path(path).stat().st_size

    def forward(self, x):
        """The model's layers through the runner (layers/runner.py), each binary one's product on packed bits."""
        names = {id(layer): name for name, layer in self.model.layers.items()}

        def step(group, run, h):
            name = names[id(group[0])]
            return run(h) if name not in self.packed else self._packed_product(name, group[0], h)

        return runner.forward(list(self.model.layers.values()), x, fuse=self.model.fuse, step=step)

    def _packed_product(self, name, layer, h):
        """A binary layer's output from its packed weights: XNOR and popcount for each +-1 product."""
        bk = current()
        a = bk.to_numpy(h)
        if isinstance(layer, BinaryConvolution):
            n = a.shape[0]
            col = bk.to_numpy(bk.im2col(h, layer.kh, layer.kw, layer.stride, layer.pad))  # (N, KH, KW, C, OH, OW)
            oh, ow = col.shape[4], col.shape[5]
            rows = col.reshape(n, -1, oh * ow).transpose(0, 2, 1).reshape(n * oh * ow, -1)
            dots = xnor_dot(pack_bits(rows), self.packed[name], rows.shape[1])  # (N*OH*OW, O)
            y = dots.reshape(n, oh, ow, -1).transpose(0, 3, 1, 2) + bk.to_numpy(layer.b).reshape(1, -1, 1, 1)
        else:
            rows = a.reshape(a.shape[0], -1)
            y = xnor_dot(pack_bits(rows), self.packed[name], rows.shape[1]) + bk.to_numpy(layer.b)
        return bk.to_device(y.astype(h.dtype))

    def predict_labels(self, x, batch_size: int = 100) -> np.ndarray:
        bk = current()
        return np.concatenate([bk.to_numpy(self.forward(x[i : i + batch_size]).argmax(axis=1))
                               for i in range(0, len(x), batch_size)])


def load_packed(path) -> PackedBinaryNet:
    """A PackedBinaryNet from a file written by PackedBinaryNet.save (`deepnet binarize --out`): names,
    shapes and finiteness checked from the headers and against the network its metadata names."""
    index, meta = io.read_index(path)
    if meta.get("format") != PACKED_FORMAT:
        raise BadFile(f"{path} is not a packed BinaryNet (written by deepnet binarize --out)")
    io.check_version(path, meta)
    name, shape, classes, shapes = load_model_meta(path, meta)
    model = create(name, input_shape=shape, num_classes=classes)
    net = PackedBinaryNet(model)  # the packed shapes and the binary layers this network has
    expect = {f"packed/{k}": a.shape for k, a in net.packed.items()}
    expect.update({f"model/{k}": v for k, v in shapes.items()
                   if k.split(".", 1)[0] not in net.packed or not k.endswith(".W")})
    missing, unexpected = sorted(set(expect) - set(index)), sorted(set(index) - set(expect))
    if missing or unexpected:
        raise BadFile(f"{path}: its arrays are not those of a packed {name} (missing {missing[:3] or 'none'}, "
                      f"unexpected {unexpected[:3] or 'none'})")
    arrays, _ = io.load_arrays(path, expect=expect)
    model.load_state({k[len("model/"):]: a for k, a in arrays.items() if k.startswith("model/")}, source=str(path),
                     strict=False)
    net.packed = {k[len("packed/"):]: a for k, a in arrays.items() if k.startswith("packed/")}
    return net


def compare(model, x, batch_size: int = 100) -> dict:
    """Predictions and speed of the packed path against the float simulation on the same inputs."""
    bk = current()
    packed = PackedBinaryNet(model)
    t0 = time.perf_counter()
    float_pred = bk.to_numpy(model.predict_labels(x, batch_size))
    t1 = time.perf_counter()
    bit_pred = packed.predict_labels(x, batch_size)
    t2 = time.perf_counter()
    return {"float_pred": float_pred, "packed_pred": bit_pred, "same_predictions": bool((float_pred == bit_pred).all()),
            "float_images_per_s": len(x) / (t1 - t0), "packed_images_per_s": len(x) / (t2 - t1),
            **{f"weights_{k}_bytes": v for k, v in packed.weight_bytes().items()}}
