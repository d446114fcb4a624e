"""The layer protocol every deepnet layer follows.

A layer is an object with `forward(x, train=False)` and `backward(dout)`. Its
trainable parameters are plain attributes named in `param_names`; the gradient
of parameter `W` is the attribute `dW`, set by `backward`. State that is saved
but not trained (BatchNorm's running statistics) is named in `buffer_names`.
Models walk these names; nothing refers to a layer by its position.
"""
from __future__ import annotations

from ..backends import current
from ..backends.settings import parse_dtype


class Layer:
    param_names: tuple[str, ...] = ()
    buffer_names: tuple[str, ...] = ()
    #: Frozen layers keep their parameters: optimizers skip them (transfer learning).
    trainable: bool = True
    #: the shape of the last forward output (None before the first forward): backward checks dout against it
    out_shape: tuple | None = None

    def _forwarded(self, y):
        """Record the output's shape for backward's check; returns y."""
        self.out_shape = tuple(y.shape)
        return y

    def _check_dout(self, dout) -> None:
        """A clear error for backward before forward, or for a dout that is not the output's shape."""
        name = type(self).__name__
        if self.out_shape is None:
            raise RuntimeError(f"{name}.backward was called before {name}.forward: there is nothing to "
                               f"differentiate yet")
        if tuple(dout.shape) != self.out_shape:
            raise ValueError(f"{name}.backward expects dout of shape {self.out_shape} (the last forward output's); "
                             f"got {tuple(dout.shape)}")

    def forward(self, x, train: bool = False):
        raise NotImplementedError

    def backward(self, dout):
        raise NotImplementedError

    def params(self) -> dict:
        return {name: getattr(self, name) for name in self.param_names}

    def grads(self) -> dict:
        return {name: getattr(self, "d" + name, None) for name in self.param_names}

    def buffers(self) -> dict:
        return {name: getattr(self, name) for name in self.buffer_names}

    def output_shape(self, input_shape: tuple) -> tuple:
        """The shape of one sample's output (no batch axis) for one sample's input shape."""
        return tuple(input_shape)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _check_dtype(layer, x, w) -> None:
    """A layer with weights computes in their dtype: other input would silently promote (float32 weights and
    float64 input give float64) or truncate. Sequential casts floating input to the model's dtype first."""
    if x.dtype != w.dtype:
        raise TypeError(f"{type(layer).__name__} holds {w.dtype.name} weights but got {x.dtype.name} input; "
                        f"cast it with x.astype({w.dtype.name!r}) (a model's forward does this for floating input)")


def output_shape_of(layers, input_shape) -> tuple:
    """The per-sample output shape of layers applied in order to one sample of `input_shape`."""
    shape = tuple(input_shape)
    for layer in layers:
        shape = layer.output_shape(shape)
    return shape


def resolve_dtype(dtype):
    """The dtype a new layer allocates in: `dtype` if given, else the backend's default."""
    return parse_dtype(dtype) if dtype is not None else current().dtype


def whole(value, what: str) -> int:
    """`value` as an int when it is a whole number (3, numpy's 3, 3.0); a fractional or non-numeric value
    (a stride of 1.5) is a ValueError naming `what`, not silently truncated."""
    try:
        as_int = int(value)
        whole_number = not isinstance(value, bool) and as_int == value
    except (TypeError, ValueError, OverflowError):
        whole_number = False
    if not whole_number:
        raise ValueError(f"{what} must be a whole number; got {value!r}")
    return as_int


class Container(Layer):
    """A layer holding named child layers; its parameters are the children's, prefixed by their names. Its
    chains of layers run through layers/runner.py, fused as a model's own layers are: forward takes the
    model's fuse and pool settings."""

    children: dict

    def _walk(self, what: str) -> dict:
        return {f"{cname}.{pname}": a for cname, child in self.children.items()
                for pname, a in getattr(child, what)().items()}

    def params(self):
        return self._walk("params")

    def grads(self):
        return self._walk("grads")

    def buffers(self):
        return self._walk("buffers")
