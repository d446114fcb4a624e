"""What every model is: named layers, their parameters and state, checked input, the training step and files
(Model); a chain of layers is a Sequential (sequential.py)."""
from __future__ import annotations

import re

import numpy as np

from .. import io
from ..backends import current
from ..errors import BadFile, InvalidValue
from ..layers import SoftmaxWithLoss
from ..layers.base import Layer

_SHORT = {"Convolution": "conv", "Affine": "affine", "Pooling": "pool", "Relu": "relu", "Dropout": "dropout",
          "BatchNormalization": "bn", "Sigmoid": "sigmoid", "Tanh": "tanh"}


def _auto_name(layer, counts: dict) -> str:
    kind = type(layer).__name__
    base = _SHORT.get(kind, re.sub(r"(?<!^)(?=[A-Z])", "_", kind).lower())
    counts[base] = counts.get(base, 0) + 1
    return f"{base}{counts[base]}"



class Model:
    """Named layers and what every model does with them: its parameters and state, checked input, the training
    step (loss, backward, update) and files. A chain of layers is a Sequential; a model that is not a chain
    (a detector, a captioner) derives from Model and defines its own loss, backward and inference.

    Layers get names such as conv1, relu1, pool1, affine1, so parameters are
    addressed as 'conv1.W' (no positional indices). Pass (name, layer) pairs to
    choose names yourself.
    """

    #: Run a Convolution and the Relu right after it as one pass (a backend's conv2d_relu). Set False on a
    #: model (or the class) to run every layer on its own: the results agree (tests/backends/test_fused.py).
    fuse = True
    #: What the model is for, by name (deepnet/tasks.py): None for a plain chain, which classifies or segments as
    #: its output says; a model class that does something else names it ("detect", "caption").
    task: str | None = None

    def __init__(self, layers, loss=None, input_shape: tuple | None = None):
        counts: dict = {}
        self.layers: dict[str, Layer] = {}
        for item in layers:
            name, layer = item if isinstance(item, tuple) else (_auto_name(item, counts), item)
            if name in self.layers:
                raise ValueError(f"two layers are named {name!r}")
            if "." in name:
                raise ValueError(f"layer names cannot contain '.': {name!r}")
            self.layers[name] = layer
        self.loss_layer = loss if loss is not None else SoftmaxWithLoss()
        self.input_shape = tuple(input_shape) if input_shape is not None else None

    @property
    def dtype(self):
        """The dtype the model computes in (its parameters'; the backend's for a model without any)."""
        params = self.params()
        return next(iter(params.values())).dtype if params else np.dtype(current().dtype)

    def checked_input(self, x):
        """x as the model computes it: a non-empty batch of input_shape samples, floating-point input of another
        dtype cast to the model's; integer input and a wrong shape refused, saying what was expected."""
        bk = current()
        bk.check_array(x, f"{type(self).__name__}.forward")
        if x.ndim < 1 or x.shape[0] == 0:
            raise ValueError(f"{type(self).__name__}.forward got an empty batch (shape {tuple(x.shape)}); "
                             f"expected at least one sample")
        dtype = self.dtype
        if x.dtype != dtype:
            if x.dtype.kind != "f":
                raise TypeError(f"{type(self).__name__} expects floating-point input in {dtype.name} (pixels scaled "
                                f"to [0, 1]); got {x.dtype.name}. Convert images with "
                                f"deepnet.datasets.to_model_input(x)")
            x = x.astype(dtype)
        if self.input_shape is not None and tuple(x.shape[1:]) != self.input_shape:
            expected = ", ".join(map(str, self.input_shape))
            raise ValueError(f"{type(self).__name__} expects input of shape (N, {expected}); got {tuple(x.shape)}")
        return x

    def loss(self, x, t, train: bool = True):
        """The mean loss on (x, t) as a 0-d device array, the pass kept for backward(): the model's own."""
        raise NotImplementedError

    def backward(self, dout=1.0, input_grad: bool = True):
        """Gradients of the last loss() with respect to every parameter: the model's own."""
        raise NotImplementedError

    def train_step(self, x, t, optimizer, before_update=None, loss_scale=None):
        """One step of training: loss, gradients, update. `before_update(grads)` runs between the
        gradients and the update (data parallelism reduces them there). With a `loss_scale`
        (training/loss_scale.py, for float16), backward starts from the scaled loss, a step whose
        gradients overflowed is skipped, and the optimizer unscales in float32. Returns the loss
        (a device scalar, unscaled)."""
        loss = self.loss(x, t, train=True)
        if loss_scale is None:
            self.backward(input_grad=False)  # nothing uses d loss / d input in training
        else:
            with np.errstate(over="ignore", invalid="ignore"):  # an overflow is expected now and then: it is
                self.backward(loss_scale.scale, input_grad=False)  # caught below, and the step skipped
        grads = self.trainable_grads()
        if before_update is not None:
            before_update(grads)
        self.apply_update(optimizer, grads, loss_scale)
        return loss

    def apply_update(self, optimizer, grads, loss_scale=None) -> bool:
        """The optimizer's step from `grads` (already reduced, in data parallelism). With a loss scale the
        step is skipped if any gradient overflowed (decided after the reduction, so every rank decides
        alike) and the optimizer unscales in float32. Returns whether the step was taken."""
        if loss_scale is None:
            optimizer.update(self.trainable_params(), grads)
            return True
        finite = loss_scale.gradients_finite(grads)
        if finite:
            optimizer.update(self.trainable_params(), grads, grad_scale=1.0 / loss_scale.scale)
        loss_scale.update(finite)
        return finite

    # --- parameters ------------------------------------------------------------
    def _walk(self, what: str, trainable_only: bool = False) -> dict:
        out = {}
        for lname, layer in self.layers.items():
            if trainable_only and not layer.trainable:
                continue
            for pname, a in getattr(layer, what)().items():
                out[f"{lname}.{pname}"] = a
        return out

    def params(self) -> dict:
        return self._walk("params")

    def grads(self) -> dict:
        return self._walk("grads")

    def trainable_params(self) -> dict:
        return self._walk("params", trainable_only=True)

    def trainable_grads(self) -> dict:
        return self._walk("grads", trainable_only=True)

    def buffers(self) -> dict:
        return self._walk("buffers")

    def state(self) -> dict:
        """Everything a saved model holds: parameters and buffers, by name."""
        return {**self.params(), **self.buffers()}

    @property
    def num_classes(self) -> int | None:
        """The width of the last fully connected layer (the classes a classifier scores), or None."""
        for layer in reversed(list(self.layers.values())):
            w = layer.params().get("W")
            if w is not None and w.ndim == 2:
                return int(w.shape[1])
        return None

    def num_params(self) -> int:
        return int(sum(int(np.prod(a.shape)) for a in self.params().values()))

    def freeze(self, *names: str) -> None:
        """Mark layers (by name) as not trainable: optimizers skip their parameters."""
        for n in names:
            if n not in self.layers:
                raise InvalidValue(f"no layer named {n!r} to freeze; layers: {', '.join(self.layers)}")
            self.layers[n].trainable = False

    # --- files -------------------------------------------------------------------
    def state_numpy(self) -> dict:
        bk = current()
        return {k: bk.to_numpy(a) for k, a in self.state().items()}

    def file_meta(self) -> dict:
        """What a saved file says it holds, so that `deepnet.loading.load_model` builds this model again: its
        class, the name it was created by (models.create), its input shape and classes."""
        meta = {"model": type(self).__name__}
        if getattr(self, "registry_name", None):
            meta["model_name"] = self.registry_name
        if self.input_shape is not None:
            meta["input_shape"] = [int(d) for d in self.input_shape]
        if self.num_classes is not None:
            meta["num_classes"] = int(self.num_classes)
        return meta

    def save(self, path, meta: dict | None = None) -> None:
        """Write parameters and buffers to `path` (.npz, atomic), with file_meta() and `meta`. The model stays
        on its device."""
        io.save_arrays(path, self.state_numpy(), {**self.file_meta(), **(meta or {}), **io.stamp("deepnet-weights")})

    def load_state(self, arrays: dict, source: str = "state", strict: bool = True) -> None:
        """Copy host arrays (name -> array) into the model's arrays in place, checking names, shapes and
        values (NaN or Inf weights are refused, naming the array) before anything is changed."""
        bk = current()
        mine = self.state()
        missing = [k for k in mine if k not in arrays]
        unexpected = [k for k in arrays if k not in mine]
        if strict and (missing or unexpected):
            raise BadFile(f"{source} does not match {type(self).__name__}: missing {missing or 'nothing'}, "
                          f"unexpected {unexpected or 'nothing'}")
        values = {}
        for name, target in mine.items():
            if name not in arrays:
                continue
            value = np.asarray(arrays[name])
            if value.shape != target.shape:
                raise BadFile(f"{source}: parameter {name!r} has shape {value.shape}, "
                              f"but the model's is {tuple(target.shape)}")
            if not (np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer)):
                raise BadFile(f"{source}: parameter {name!r} has dtype {value.dtype}; expected numbers")
            if not np.isfinite(value).all():
                raise BadFile(f"{source}: parameter {name!r} holds {int((~np.isfinite(value)).sum())} NaN or "
                              f"infinite values")
            with np.errstate(over="ignore"):  # checked again after the cast: 1e6 is inf in float16
                cast = value.astype(target.dtype, copy=False)
            if not np.isfinite(cast).all():
                raise BadFile(f"{source}: parameter {name!r} holds values beyond {np.dtype(target.dtype).name}'s "
                              f"range (largest magnitude {float(np.abs(value).max()):g}; "
                              f"{np.dtype(target.dtype).name} holds at most {float(np.finfo(target.dtype).max):g})")
            values[name] = cast
        for name, value in values.items():
            mine[name][...] = bk.to_device(value)

    def load(self, path, strict: bool = True) -> dict:
        """Load parameters saved by save(); returns the file's metadata."""
        arrays, meta = io.load_arrays(path)
        self.load_state(arrays, source=str(path), strict=strict)
        return meta

    def summary(self) -> str:
        lines = [f"{type(self).__name__}: {self.num_params():,} parameters"]
        shape = self.input_shape
        for name, layer in self.layers.items():
            if shape is not None:
                shape = layer.output_shape(shape)
            n = sum(int(np.prod(a.shape)) for a in layer.params().values())
            lines.append(f"  {name:<10} {layer!r:<60} {str(shape) if shape else '':<16} {n:>10,}")
        return "\n".join(lines)

    def __repr__(self):
        return f"{type(self).__name__}({len(self.layers)} layers, {self.num_params():,} parameters)"
