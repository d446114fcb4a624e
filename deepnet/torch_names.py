"""PyTorch state-dict names for deepnet's chain models, both ways, for the models with a PyTorch twin: the
`nn.Sequential` of the same layers in the same order, with an `nn.Flatten()` inserted before the first fully
connected layer that follows images. The book's DeepConvNet's twin:

    nn.Sequential(Conv2d(1, 16, 3, padding=1), ReLU(), Conv2d(16, 16, 3, padding=1), ReLU(), MaxPool2d(2),
                  Conv2d(16, 32, 3, padding=1), ReLU(), Conv2d(32, 32, 3, padding=2), ReLU(), MaxPool2d(2),
                  Conv2d(32, 64, 3, padding=1), ReLU(), Conv2d(64, 64, 3, padding=1), ReLU(), MaxPool2d(2),
                  Flatten(), Linear(1024, 50), ReLU(), Dropout(0.5), Linear(50, 10), Dropout(0.5))

    deepnet conv1.W (O, C, KH, KW)  <->  "0.weight" (the same layout)      conv1.b <-> "0.bias"
    deepnet affine1.W (in, out)     <->  "16.weight" (out, in): transposed  affine1.b <-> "16.bias"
    deepnet bn.gamma, beta, running_mean, running_var <-> weight, bias, running_mean, running_var
        (PyTorch's num_batches_tracked is left out when reading and written as 0)

Both flatten (C, H, W) in the same order, so the weights carry over unchanged. The arrays are NumPy: no
PyTorch is needed to convert; `torch.save`/`torch.load` of the dict is the user's.
"""
from __future__ import annotations

import numpy as np

from .errors import BadFile, InvalidValue
from .layers import Affine, BatchNormalization, Convolution, TransposedConvolution
from .layers.base import Layer


def _mapping(model) -> list[tuple[str, str, str, bool]]:
    """(deepnet name, PyTorch name, ..., transpose) for every array of a chain model."""
    out, index, images = [], 0, len(model.input_shape or ()) == 3
    for name, layer in model.layers.items():
        if hasattr(layer, "children"):
            raise InvalidValue(f"layer {name} ({type(layer).__name__}) is a block; the PyTorch naming covers chain "
                               f"models (nn.Sequential twins) only")
        if isinstance(layer, Affine) and images:
            index += 1  # the nn.Flatten() before the first fully connected layer
            images = False
        if isinstance(layer, (Convolution, TransposedConvolution)):
            out += [(f"{name}.W", f"{index}.weight", False), (f"{name}.b", f"{index}.bias", False)]
        elif isinstance(layer, Affine):
            out += [(f"{name}.W", f"{index}.weight", True), (f"{name}.b", f"{index}.bias", False)]
        elif isinstance(layer, BatchNormalization):
            out += [(f"{name}.gamma", f"{index}.weight", False), (f"{name}.beta", f"{index}.bias", False),
                    (f"{name}.running_mean", f"{index}.running_mean", False),
                    (f"{name}.running_var", f"{index}.running_var", False)]
        elif isinstance(layer, Layer) and layer.params():
            raise InvalidValue(f"layer {name} ({type(layer).__name__}) has no PyTorch twin in this naming")
        index += 1
    return out


def to_torch(model) -> dict:
    """{PyTorch name: NumPy array} of a chain model (`torch.from_numpy` each to load it into the twin)."""
    state = model.state_numpy()
    out = {}
    for ours, theirs, transpose in _mapping(model):
        out[theirs] = np.ascontiguousarray(state[ours].T if transpose else state[ours])
        if theirs.endswith("running_var"):
            out[theirs.replace("running_var", "num_batches_tracked")] = np.zeros((), np.int64)
    return out


def from_torch(model, state: dict, source: str = "PyTorch state dict") -> None:
    """Load a PyTorch twin's state dict ({name: array}, tensors converted with .numpy()) into `model`, checked
    as any weights file is (names, shapes, finite values)."""
    arrays = {}
    mapping = _mapping(model)
    expected = {theirs for _, theirs, _ in mapping}
    extra = [k for k in state if k not in expected and not k.endswith("num_batches_tracked")]
    if extra:
        raise BadFile(f"{source}: {extra[:4]} belong to no layer of {type(model).__name__}'s twin (expected names "
                      f"such as {sorted(expected)[:3]})")
    for ours, theirs, transpose in mapping:
        if theirs not in state:
            raise BadFile(f"{source}: no {theirs!r} (deepnet's {ours})")
        a = np.asarray(state[theirs])
        arrays[ours] = a.T if transpose and a.ndim == 2 else a
    model.load_state(arrays, source=source)
