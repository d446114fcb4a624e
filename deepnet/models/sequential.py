"""A model as a plain list of layers, run in order."""
from __future__ import annotations

from ..backends import current
from ..layers import runner, softmax
from .model import Model


def _probabilities(y):
    """Softmax over the class axis: the last of (N, K), the second of per-pixel (N, K, H, W) scores."""
    if y.ndim == 4:
        return softmax(y.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    return softmax(y)


class Sequential(Model):
    """Layers applied in order, then a loss layer (softmax with cross-entropy by default): forward, the loss
    and backward through the chain (layers/runner.py), and inference in batches. Everything else is Model's."""

    def forward(self, x, train: bool = False):
        """Logits for a batch x. Floating-point input of another dtype is cast to the model's dtype
        (a float64 batch into a float32 model computes in float32); integer input is refused."""
        return self._forward(x, train, pool=False)

    def _forward(self, x, train: bool, pool: bool):
        """forward; with pool (inference only: predict, predict_labels, evaluate), a Convolution, its Relu and a
        2x2/2 max Pooling right after them run as one pass (the backend's conv2d_relu_pool), which keeps
        nothing for backward: those layers are then left as if they had not run."""
        return runner.forward(list(self.layers.values()), self.checked_input(x), train, fuse=self.fuse, pool=pool)

    def loss(self, x, t, train: bool = True):
        """The mean loss on (x, t) as a 0-d device array; the forward pass is kept for backward()."""
        return self.loss_layer.forward(self.forward(x, train=train), t)

    def step_correct(self, t):
        """(labels classified right, labels) in the last loss's pass, from its own softmax output: a label
        per sample, or per pixel. A device scalar and an int: no host sync."""
        return (self.loss_layer.y.argmax(axis=1) == t).sum(), t.size

    def backward(self, dout=1.0, input_grad: bool = True):
        """Gradients of the last loss() with respect to every parameter; returns d loss / d input, or
        None with input_grad=False, which lets a first layer that can skip computing it do so."""
        return runner.backward(list(self.layers.values()), self.loss_layer.backward(dout), input_grad)

    # --- inference, in batches: the one loop the trainer, `deepnet eval` and the benchmarks share ---------
    def _outputs(self, x, batch_size: int):
        """(start, logits) for consecutive batches of x, in inference mode."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1; got {batch_size}")
        if len(x) == 0:
            raise ValueError(f"{type(self).__name__} got an empty batch (shape {tuple(x.shape)}); expected at least "
                             f"one sample")
        # a subclass with a forward of its own is run through it, without the pooled pass
        pooled = type(self).forward is Sequential.forward
        for i in range(0, len(x), batch_size):
            xb = x[i : i + batch_size]
            yield i, self._forward(xb, train=False, pool=True) if pooled else self.forward(xb, train=False)

    def predict(self, x, batch_size: int = 1000, probabilities: bool = False):
        """Logits for every sample of x (softmax probabilities in float32 with probabilities=True)."""
        xp = current().xp
        outs = [_probabilities(y.astype(xp.float32)) if probabilities else y for _, y in self._outputs(x, batch_size)]
        return xp.concatenate(outs) if len(outs) > 1 else outs[0]

    def predict_labels(self, x, batch_size: int = 1000):
        """The predicted class of every sample (N,), or of every pixel (N, H, W) for per-pixel scores."""
        xp = current().xp
        outs = [y.argmax(axis=1) for _, y in self._outputs(x, batch_size)]
        return xp.concatenate(outs) if len(outs) > 1 else outs[0]

    def evaluate(self, x, t, batch_size: int = 1000) -> tuple[float, float]:
        """(mean loss, accuracy) over every sample of (x, t), the last partial batch included."""
        xp = current().xp
        labels = t.argmax(axis=1) if t.ndim == 2 else t
        loss_sum = xp.zeros((), dtype=xp.float32)
        correct = xp.zeros((), dtype=xp.int64)
        for i, y in self._outputs(x, batch_size):
            tb = t[i : i + batch_size]
            loss_sum += self.loss_layer.forward(y, tb).astype(xp.float32) * len(tb)
            correct += (y.argmax(axis=1) == labels[i : i + batch_size]).sum()
        # per label: a label per sample for classification, per pixel for segmentation
        total, right = current().items(loss_sum, correct)  # one read
        return total / len(x), right / labels.size

    def accuracy(self, x, t, batch_size: int = 1000) -> float:
        """The share of samples (or pixels, for per-pixel labels) classified right, the last batch too."""
        labels = t.argmax(axis=1) if t.ndim == 2 else t
        return current().item(self.count_correct(x, t, batch_size)) / labels.size

    def count_correct(self, x, t, batch_size: int = 1000):
        """How many samples are classified right, as a device scalar (no host sync)."""
        labels = t.argmax(axis=1) if t.ndim == 2 else t
        correct = 0
        for i, y in self._outputs(x, batch_size):
            correct = correct + (y.argmax(axis=1) == labels[i : i + batch_size]).sum()
        return correct
