"""Sequence layers: an embedding, recurrent layers over whole sequences (N, T, D), a time-distributed affine
layer and a softmax cross-entropy that skips padding (the chapter's 8.4.3, image captioning). Each is
plain array code through the backend, so it runs unchanged on NumPy and CuPy; backward is
backpropagation through time.

Truncated backpropagation through time: each forward call is one window of the sequence. With
stateful=True, the final hidden (and cell) state of one call is the next call's initial state, but the
gradient stops at the window's start (dh0 holds it for whoever wants it); reset_state() forgets the
state. Without it, every call starts from `h0` (zeros unless given).
"""
from __future__ import annotations

from .. import initializers
from ..backends import current
from .base import Layer, _check_dtype, resolve_dtype
from .loss import labels_trusted, log_softmax


def _sigmoid(xp, x):
    return 0.5 * (xp.tanh(0.5 * x) + 1)  # no overflow for large |x|


def _check_sequence(name: str, x, features: int) -> None:
    current().check_array(x, f"{name}.forward")
    if x.ndim != 3 or x.shape[2] != features:
        raise ValueError(f"{name} expects a batch of sequences (N, T, {features}); got shape {tuple(x.shape)}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} got an empty batch or a sequence of length 0 (shape {tuple(x.shape)}); "
                         f"expected at least one sample of at least one step")


class Embedding(Layer):
    """y[n, t] = W[idx[n, t]] for integer word indices idx (N, T) or (N,);  dW[v] = the sum of dout over
    every position where idx == v (repeated indices add up, they do not overwrite each other)."""

    param_names = ("W",)

    def __init__(self, vocab_size: int, dim: int, weight_init=0.01, dtype=None):
        dtype = resolve_dtype(dtype)
        self.vocab_size, self.dim = int(vocab_size), int(dim)
        self.W = initializers.normal((self.vocab_size, self.dim), weight_init, self.vocab_size, self.dim, dtype)
        self.dW = None

    def forward(self, idx, train=False):
        bk = current()
        bk.check_array(idx, "Embedding.forward")
        if idx.dtype.kind not in "iu":
            raise TypeError(f"Embedding expects integer word indices; got dtype {idx.dtype.name}")
        if idx.size and not labels_trusted():  # the trainer checked every word once: no read a step
            lo, hi = (int(v) for v in bk.to_numpy(bk.xp.stack([idx.min(), idx.max()])))
            if lo < 0 or hi >= self.vocab_size:
                raise ValueError(f"Embedding expects indices 0..{self.vocab_size - 1}; got values from {lo} to {hi}")
        self.idx = idx
        return self._forwarded(self.W[idx])

    def backward(self, dout):
        self._check_dout(dout)
        xp = current().xp
        self.dW = xp.zeros_like(self.W)
        xp.add.at(self.dW, self.idx.reshape(-1), dout.reshape(-1, self.dim))
        return None  # indices have no gradient

    def output_shape(self, input_shape):
        return tuple(input_shape) + (self.dim,)

    def __repr__(self):
        return f"Embedding({self.vocab_size}, {self.dim})"


class _Recurrent(Layer):
    """What RNN and LSTM share: the state carried between calls, the initial state's checks, dh0."""

    state_names: tuple[str, ...] = ("h",)

    def __init__(self, input_size: int, hidden_size: int, gates: int, stateful: bool, weight_init, dtype):
        dtype = resolve_dtype(dtype)
        self.input_size, self.hidden_size, self.stateful = int(input_size), int(hidden_size), bool(stateful)
        d, h, g = self.input_size, self.hidden_size, gates
        self.Wx = initializers.normal((d, g * h), weight_init, d, h, dtype)
        self.Wh = initializers.normal((h, g * h), weight_init, h, h, dtype)
        self.b = initializers.zeros((g * h,), dtype)
        self.dWx = self.dWh = self.db = None
        self.reset_state()

    param_names = ("Wx", "Wh", "b")

    def reset_state(self) -> None:
        """Forget the carried state: the next call starts from zeros (or the state it is given)."""
        for name in self.state_names:
            setattr(self, name, None)

    def _initial(self, given, name: str, n: int):
        """The initial state `name` for a batch of n: the one given, else the carried one (stateful), else 0."""
        xp = current().xp
        if given is None and self.stateful:
            given = getattr(self, name)
        if given is None:
            return xp.zeros((n, self.hidden_size), dtype=self.Wx.dtype)
        if tuple(given.shape) != (n, self.hidden_size):
            raise ValueError(f"{type(self).__name__} expects an initial {name} of shape ({n}, {self.hidden_size}); "
                             f"got {tuple(given.shape)}")
        return given.astype(self.Wx.dtype, copy=False)

    def output_shape(self, input_shape):
        return (input_shape[0], self.hidden_size)

    def __repr__(self):
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size}{', stateful' if self.stateful else ''})"


class RNN(_Recurrent):
    """h_t = tanh(x_t Wx + h_{t-1} Wh + b) over x (N, T, D), giving hs (N, T, H).

    Backward, step by step from the last: with dh_t the gradient reaching h_t (from dhs and from step t+1),
    dA = dh_t (1 - h_t^2);  dWx += x_t^T dA,  dWh += h_{t-1}^T dA,  db += sum_n dA;
    dx_t = dA Wx^T,  dh_{t-1} = dA Wh^T.  Wx is (D, H), Wh (H, H), b (H,).
    """

    def __init__(self, input_size: int, hidden_size: int, stateful: bool = False, weight_init="xavier", dtype=None):
        super().__init__(input_size, hidden_size, 1, stateful, weight_init, dtype)

    def forward(self, x, train=False, h0=None):
        _check_sequence("RNN", x, self.input_size)
        _check_dtype(self, x, self.Wx)
        xp = current().xp
        n, t = x.shape[:2]
        h = self._initial(h0, "h", n)
        self.x, self.h0 = x, h
        hs = xp.empty((n, t, self.hidden_size), dtype=x.dtype)
        for s in range(t):
            h = xp.tanh(x[:, s] @ self.Wx + h @ self.Wh + self.b)
            hs[:, s] = h
        self.hs, self.h = hs, h
        return self._forwarded(hs)

    def backward(self, dhs, dh_last=None):
        """dx for dhs (N, T, H); dh_last, a gradient on the final state from outside (an encoder's)."""
        self._check_dout(dhs)
        xp = current().xp
        x, hs = self.x, self.hs
        t = x.shape[1]
        self.dWx, self.dWh, self.db = xp.zeros_like(self.Wx), xp.zeros_like(self.Wh), xp.zeros_like(self.b)
        dx = xp.empty_like(x)
        dh = xp.zeros_like(self.h0) if dh_last is None else dh_last
        for s in range(t - 1, -1, -1):
            h_prev = hs[:, s - 1] if s else self.h0
            da = (dhs[:, s] + dh) * (1 - hs[:, s] ** 2)
            self.dWx += x[:, s].T @ da
            self.dWh += h_prev.T @ da
            self.db += da.sum(axis=0)
            dx[:, s] = da @ self.Wx.T
            dh = da @ self.Wh.T
        self.dh0 = dh
        return dx


class LSTM(_Recurrent):
    """Long short-term memory over x (N, T, D), giving hs (N, T, H); the cell state c is carried beside h.

        A = x_t Wx + h_{t-1} Wh + b, split into four blocks of H columns, in the order i, f, g, o:
        i = sigmoid(A_i)  (input gate),  f = sigmoid(A_f)  (forget gate),
        g = tanh(A_g)     (the candidate), o = sigmoid(A_o)  (output gate);
        c_t = f c_{t-1} + i g,  h_t = o tanh(c_t).

    Wx is (D, 4H), Wh (H, 4H), b (4H,), with the gates in PyTorch's order (i, f, g, o): PyTorch's
    `weight_ih_l0` (4H, D) is Wx transposed, `weight_hh_l0` is Wh transposed, and b is
    `bias_ih_l0 + bias_hh_l0`. (The book's second volume orders them f, g, i, o.)

    Backward, from the last step: with dh and dc reaching h_t and c_t,
    dc_t += dh o (1 - tanh(c_t)^2);  do = dh tanh(c_t),  di = dc_t g,  dg = dc_t i,  df = dc_t c_{t-1},
    dc_{t-1} = dc_t f;  dA = [di i(1-i), df f(1-f), dg (1-g^2), do o(1-o)];  then as RNN's.
    """

    state_names = ("h", "c")

    def __init__(self, input_size: int, hidden_size: int, stateful: bool = False, weight_init="xavier", dtype=None):
        super().__init__(input_size, hidden_size, 4, stateful, weight_init, dtype)

    def forward(self, x, train=False, h0=None, c0=None):
        _check_sequence("LSTM", x, self.input_size)
        _check_dtype(self, x, self.Wx)
        xp = current().xp
        n, t = x.shape[:2]
        hh = self.hidden_size
        h, c = self._initial(h0, "h", n), self._initial(c0, "c", n)
        self.x, self.h0, self.c0 = x, h, c
        hs = xp.empty((n, t, hh), dtype=x.dtype)
        self.gates = xp.empty((n, t, 4 * hh), dtype=x.dtype)  # i, f, g, o after their nonlinearities
        self.cs = xp.empty((n, t, hh), dtype=x.dtype)
        for s in range(t):
            a = x[:, s] @ self.Wx + h @ self.Wh + self.b
            gates = self.gates[:, s]
            gates[:, : 2 * hh] = _sigmoid(xp, a[:, : 2 * hh])
            gates[:, 2 * hh : 3 * hh] = xp.tanh(a[:, 2 * hh : 3 * hh])
            gates[:, 3 * hh :] = _sigmoid(xp, a[:, 3 * hh :])
            i, f, g, o = (gates[:, k * hh : (k + 1) * hh] for k in range(4))
            c = f * c + i * g
            h = o * xp.tanh(c)
            self.cs[:, s], hs[:, s] = c, h
        self.hs, self.h, self.c = hs, h, c
        return self._forwarded(hs)

    def backward(self, dhs, dh_last=None, dc_last=None):
        """dx for dhs (N, T, H); dh_last and dc_last, gradients on the final state from outside."""
        self._check_dout(dhs)
        xp = current().xp
        x, hs, cs, hh = self.x, self.hs, self.cs, self.hidden_size
        t = x.shape[1]
        self.dWx, self.dWh, self.db = xp.zeros_like(self.Wx), xp.zeros_like(self.Wh), xp.zeros_like(self.b)
        dx = xp.empty_like(x)
        dh = xp.zeros_like(self.h0) if dh_last is None else dh_last
        dc = xp.zeros_like(self.c0) if dc_last is None else dc_last
        da = xp.empty((x.shape[0], 4 * hh), dtype=x.dtype)
        for s in range(t - 1, -1, -1):
            h_prev = hs[:, s - 1] if s else self.h0
            c_prev = cs[:, s - 1] if s else self.c0
            i, f, g, o = (self.gates[:, s, k * hh : (k + 1) * hh] for k in range(4))
            tanh_c = xp.tanh(cs[:, s])
            dh = dhs[:, s] + dh
            dc = dc + dh * o * (1 - tanh_c ** 2)
            da[:, :hh] = dc * g * i * (1 - i)
            da[:, hh : 2 * hh] = dc * c_prev * f * (1 - f)
            da[:, 2 * hh : 3 * hh] = dc * i * (1 - g ** 2)
            da[:, 3 * hh :] = dh * tanh_c * o * (1 - o)
            dc = dc * f
            self.dWx += x[:, s].T @ da
            self.dWh += h_prev.T @ da
            self.db += da.sum(axis=0)
            dx[:, s] = da @ self.Wx.T
            dh = da @ self.Wh.T
        self.dh0, self.dc0 = dh, dc
        return dx


class TimeAffine(Layer):
    """y[n, t] = x[n, t] W + b for every step of x (N, T, D): one product over all N*T rows.
    dW = X^T dY, db = sum dY, dX = dY W^T over the same rows."""

    param_names = ("W", "b")

    def __init__(self, in_features: int, out_features: int, weight_init="xavier", dtype=None):
        dtype = resolve_dtype(dtype)
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.W = initializers.normal((self.in_features, self.out_features), weight_init, self.in_features,
                                     self.out_features, dtype)
        self.b = initializers.zeros((self.out_features,), dtype)
        self.dW = self.db = None

    def forward(self, x, train=False):
        _check_sequence("TimeAffine", x, self.in_features)
        _check_dtype(self, x, self.W)
        self.x = x
        n, t = x.shape[:2]
        return self._forwarded((x.reshape(n * t, -1) @ self.W + self.b).reshape(n, t, -1))

    def backward(self, dout):
        self._check_dout(dout)
        n, t = dout.shape[:2]
        d2, x2 = dout.reshape(n * t, -1), self.x.reshape(n * t, -1)
        self.dW, self.db = x2.T @ d2, d2.sum(axis=0)
        return (d2 @ self.W.T).reshape(self.x.shape)

    def output_shape(self, input_shape):
        return (input_shape[0], self.out_features)

    def __repr__(self):
        return f"TimeAffine({self.in_features}, {self.out_features})"


class TimeSoftmaxWithLoss(Layer):
    """The mean cross-entropy of softmax(x[n, t]) against label t[n, t] over the positions whose label is not
    `ignore_label` (padding), so captions of different lengths train in one batch:

        L = -(1/M) sum over kept (n, t) of log softmax(x[n, t])[t[n, t]],  M = the kept positions;
        dx[n, t] = (softmax(x[n, t]) - onehot(t[n, t])) / M at kept positions, 0 at padding.
    """

    def __init__(self, ignore_label: int = -1):
        self.ignore_label = int(ignore_label)

    def forward(self, x, t, train=False):
        bk = current()
        xp = bk.xp
        if x.ndim != 3 or tuple(t.shape) != tuple(x.shape[:2]):
            raise ValueError(f"TimeSoftmaxWithLoss expects scores (N, T, V) and labels (N, T); got "
                             f"{tuple(x.shape)} and {tuple(t.shape)}")
        if t.dtype.kind not in "iu":
            raise TypeError(f"labels must be integer word indices; got dtype {t.dtype.name}")
        n, steps, v = x.shape
        keep = t != self.ignore_label
        labels = xp.where(keep, t, 0)
        if labels_trusted():  # checked once by the caller: the count stays on the device (at least 1)
            count = xp.maximum(keep.sum(), 1)
        else:  # one host read: the labels' range and how many positions count
            lo, hi, count = (int(a) for a in bk.to_numpy(xp.stack([labels.min(), labels.max(), keep.sum()])))
            if lo < 0 or hi >= v:
                raise ValueError(f"labels must be word indices 0..{v - 1} (or {self.ignore_label} for padding); got "
                                 f"values from {lo} to {hi}")
            if count == 0:
                raise ValueError("TimeSoftmaxWithLoss: every position is padding; there is nothing to learn from")
        # float16 scores are normalised in float32, as SoftmaxWithLoss does
        work = x.astype(xp.float32) if x.dtype.itemsize < 4 else x
        logp = log_softmax(work.reshape(n * steps, v))
        picked = xp.take_along_axis(logp, labels.reshape(-1, 1).astype(xp.intp, copy=False), axis=1)[:, 0]
        self.count, self.shape, self.x_dtype = count, x.shape, x.dtype
        self.y, self.labels, self.keep = xp.exp(logp), labels.reshape(-1), keep.reshape(-1).astype(logp.dtype)
        return (-(picked * self.keep).sum() / count).astype(x.dtype)

    def backward(self, dout=1.0):
        xp = current().xp
        dx = self.y.copy()
        dx[xp.arange(len(self.labels)), self.labels] -= 1
        dx *= (self.keep * (dout / self.count))[:, None]
        return dx.astype(self.x_dtype).reshape(self.shape)
