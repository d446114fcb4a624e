"""Gradient-descent optimizers that update parameters in place.

`update(params, grads)` takes two name -> array mappings (a model's
`trainable_params()` and `trainable_grads()`). State (velocities, moments) is kept
per parameter name and round-trips through `state_dict()` / `load_state_dict()`.

Mixed precision: for float16 parameters the optimizer keeps a float32 master copy of each
(slot "master"), runs its state and arithmetic in float32, and writes the master rounded to
float16 back into the parameter. Without the master, an update smaller than half a float16
step (lr * g below about 5e-4 of the weight) would round away every time; and Adam's eps = 1e-8
is below float16's smallest subnormal (about 6e-8), so sqrt(v) + eps could be 0. `grad_scale`
multiplies the gradients first, in float32: the loss scaler's 1/scale (training/loss_scale.py).
"""
from __future__ import annotations

import math

from .backends import current
from .errors import InvalidValue

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")


def _state_dtype(param):
    xp = current().xp
    return xp.float32 if param.dtype.itemsize < 4 else param.dtype


class Optimizer:
    hyper_names: tuple[str, ...] = ("lr",)
    slot_names: tuple[str, ...] = ()

    def __init__(self, lr: float = 0.01):
        self.lr = _check(type(self).__name__, "lr", lr, low=0.0, low_open=True)
        self.t = 0
        self.slots: dict[str, dict] = {s: {} for s in self.slot_names + ("master",)}

    def _slot(self, slot: str, name: str, param):
        store = self.slots[slot]
        if name not in store:
            store[name] = current().xp.zeros(param.shape, dtype=_state_dtype(param))
        return store[name]

    def update(self, params: dict, grads: dict, grad_scale: float = 1.0) -> None:
        """One step on every parameter, in place; gradients are multiplied by grad_scale first."""
        self.t += 1
        steps, halves = [], []
        for name, p in params.items():
            g = grads[name]
            if g is None:
                raise RuntimeError(f"parameter {name!r} has no gradient: call backward() before update()")
            if p.dtype.itemsize < 4:
                # half precision: step the float32 master (see module docstring), write it back rounded
                master = self.slots["master"].get(name)
                if master is None:
                    master = self.slots["master"][name] = p.astype(_state_dtype(p))
                g32 = g.astype(master.dtype)
                if grad_scale != 1.0:
                    g32 *= grad_scale
                steps.append((name, master, g32))
                halves.append((p, master))
            elif grad_scale != 1.0:
                steps.append((name, p, g * g.dtype.type(grad_scale)))
            else:
                steps.append((name, p, g))
        self._step_all(steps)
        for p, master in halves:
            p[...] = master

    def _step_all(self, steps) -> None:
        """_step on each (name, parameter, gradient); an optimizer with a many-parameter kernel overrides it."""
        for name, p, g in steps:
            self._step(name, p, g)

    def _step(self, name, p, g):
        raise NotImplementedError

    def state_dict(self) -> dict:
        """{'hyper': JSON-able settings, 'arrays': {'slot/param': array}}."""
        hyper = {k: getattr(self, k) for k in self.hyper_names}
        hyper.update(type=type(self).__name__.lower(), t=self.t)
        arrays = {f"{slot}/{name}": a for slot, store in self.slots.items() for name, a in store.items()}
        return {"hyper": hyper, "arrays": arrays}

    def load_state_dict(self, state: dict) -> None:
        hyper = dict(state["hyper"])
        kind = hyper.pop("type", None)
        if kind != type(self).__name__.lower():
            raise InvalidValue(f"optimizer state is for {kind!r}, not {type(self).__name__.lower()!r}")
        t = hyper.pop("t", None)
        if not isinstance(t, int) or isinstance(t, bool) or t < 0:
            raise InvalidValue(f"optimizer state has a bad step count t={t!r}")
        unknown = set(hyper) - set(self.hyper_names)
        if unknown:
            raise InvalidValue(f"optimizer state has unknown settings {sorted(unknown)} for {kind!r}")
        checked = type(self)(**hyper)  # the same range checks as a new optimizer's
        for k in self.hyper_names:
            setattr(self, k, getattr(checked, k))
        self.t = t
        bk = current()
        self.slots = {s: {} for s in self.slot_names + ("master",)}
        for key, a in state["arrays"].items():
            slot, _, name = key.partition("/")
            if slot not in self.slots:
                raise InvalidValue(f"optimizer state has an unknown slot {slot!r} (in {key!r})")
            self.slots[slot][name] = bk.to_device(a)

    def __repr__(self):
        return f"{type(self).__name__}(" + ", ".join(f"{k}={getattr(self, k)}" for k in self.hyper_names) + ")"


def _check(owner: str, name: str, value, low: float = 0.0, high: float = math.inf, low_open: bool = False,
           high_open: bool = True) -> float:
    """`value` as a float inside [low, high) (or the interval the flags say), or a clear InvalidValue."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InvalidValue(f"{owner} {name} must be a number; got {value!r}") from None
    inside = math.isfinite(v) and (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    if not inside:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise InvalidValue(f"{owner} {name} must be a finite number in {interval}; got {value!r}")
    return v


class SGD(Optimizer):
    """W <- W - lr * dW."""

    def _step(self, name, p, g):
        p -= self.lr * g


class Momentum(Optimizer):
    """v <- momentum * v - lr * dW;  W <- W + v."""

    hyper_names = ("lr", "momentum")
    slot_names = ("v",)

    def __init__(self, lr=0.01, momentum=0.9):
        super().__init__(lr)
        self.momentum = _check(type(self).__name__, "momentum", momentum, 0.0, 1.0)

    def _step(self, name, p, g):
        v = self._slot("v", name, p)
        v *= self.momentum
        v -= self.lr * g
        p += v


class Nesterov(Momentum):
    """Nesterov's accelerated gradient in Sutskever's form, as the book's code since its 2021 fix
    ("Fix Nesterov update function"), and equal to PyTorch's SGD(nesterov=True):
        W <- W + m^2 v - (1 + m) lr dW     (with the velocity from before this step)
        v <- m v - lr dW
    The book's first version updated v first and then used the new one, which is not Nesterov's method."""

    def _step(self, name, p, g):
        v = self._slot("v", name, p)
        p += self.momentum * self.momentum * v
        p -= (1 + self.momentum) * self.lr * g
        v *= self.momentum
        v -= self.lr * g


class AdaGrad(Optimizer):
    """h <- h + dW^2;  W <- W - lr * dW / (sqrt(h) + eps)."""

    hyper_names = ("lr", "eps")
    slot_names = ("h",)

    def __init__(self, lr=0.01, eps=1e-7):
        super().__init__(lr)
        self.eps = _check(type(self).__name__, "eps", eps, low_open=True)

    def _step(self, name, p, g):
        xp = current().xp
        h = self._slot("h", name, p)
        h += g * g
        p -= self.lr * g / (xp.sqrt(h) + self.eps)


class RMSprop(Optimizer):
    """h <- rho h + (1 - rho) dW^2;  W <- W - lr * dW / (sqrt(h) + eps).

    centered (Graves, 2013): the variance instead of the second moment, m <- rho m + (1 - rho) dW and
    h - m^2 under the root. momentum: b <- momentum b + dW / (sqrt(.) + eps); W <- W - lr b. Both as PyTorch's
    RMSprop computes them (eps outside the root): the MinAtar DQN's optimiser is centered, with rho 0.95,
    momentum 0.95 and eps 0.01."""

    hyper_names = ("lr", "decay_rate", "eps", "centered", "momentum")
    slot_names = ("h", "m", "b")

    def __init__(self, lr=0.01, decay_rate=0.99, eps=1e-7, centered=False, momentum=0.0):
        super().__init__(lr)
        self.decay_rate = _check(type(self).__name__, "decay_rate", decay_rate, 0.0, 1.0)
        self.eps = _check(type(self).__name__, "eps", eps, low_open=True)
        if not isinstance(centered, bool):
            raise InvalidValue(f"RMSprop centered must be True or False; got {centered!r}")
        self.centered = centered
        self.momentum = _check(type(self).__name__, "momentum", momentum, 0.0, 1.0)

    def _step(self, name, p, g):
        xp = current().xp
        h = self._slot("h", name, p)
        h *= self.decay_rate
        h += (1 - self.decay_rate) * g * g
        if self.centered:
            m = self._slot("m", name, p)
            m *= self.decay_rate
            m += (1 - self.decay_rate) * g
            step = g / (xp.sqrt(h - m * m) + self.eps)
        else:
            step = g / (xp.sqrt(h) + self.eps)
        if self.momentum:
            b = self._slot("b", name, p)
            b *= self.momentum
            b += step
            step = b
        p -= self.lr * step


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), with the bias correction folded into the step size:
    m <- m + (1 - b1)(dW - m);  v <- v + (1 - b2)(dW^2 - v)
    W <- W - lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)."""

    hyper_names = ("lr", "beta1", "beta2", "eps")
    slot_names = ("m", "v")

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8):
        super().__init__(lr)
        self.beta1 = _check(type(self).__name__, "beta1", beta1, 0.0, 1.0)
        self.beta2 = _check(type(self).__name__, "beta2", beta2, 0.0, 1.0)
        self.eps = _check(type(self).__name__, "eps", eps, low_open=True)

    def _step_all(self, steps):
        lr_t = self.lr * (1.0 - self.beta2 ** self.t) ** 0.5 / (1.0 - self.beta1 ** self.t)
        ps, gs = [p for _, p, _ in steps], [g for _, _, g in steps]
        ms, vs = [self._slot("m", n, p) for n, p, _ in steps], [self._slot("v", n, p) for n, p, _ in steps]
        # the docstring's update, by the backend: Backend.adam_step is the reference; the CPU backend runs large
        # parameters in one compiled pass, the GPU's many parameters in one launch (adam_steps)
        current().adam_steps(ps, gs, ms, vs, lr_t, self.beta1, self.beta2, self.eps)


_BY_NAME = {"sgd": SGD, "momentum": Momentum, "nesterov": Nesterov, "adagrad": AdaGrad, "rmsprop": RMSprop,
            "adam": Adam}


def create(name: str, lr: float | None = None, **kwargs) -> Optimizer:
    """An optimizer by name (one of OPTIMIZERS), with its default learning rate unless `lr` is given."""
    try:
        cls = _BY_NAME[name.lower()]
    except KeyError:
        raise InvalidValue(f"unknown optimizer {name!r}; choose one of: {', '.join(OPTIMIZERS)}") from None
    if lr is not None:
        kwargs["lr"] = lr
    return cls(**kwargs)


def clip_grads(grads: dict, max_norm: float):
    """Scale every gradient in place by max_norm / |g| when the global L2 norm |g| over all of them exceeds
    max_norm (Pascanu et al., 2013; recurrent networks' exploding gradients); returns |g| before clipping, a
    device scalar. No host read: the factor min(1, max_norm / |g|) is computed and applied on the device (under
    the bound it is exactly 1, which leaves the gradients' bits as they were)."""
    max_norm = _check("clip_grads", "max_norm", max_norm, low=0.0, low_open=True)
    xp = current().xp
    arrays = [g for g in grads.values() if g is not None]
    if not arrays:
        return 0.0
    total = xp.sqrt(sum((g.astype(xp.float32) ** 2).sum() if g.dtype.itemsize < 4 else (g ** 2).sum()
                        for g in arrays))
    scale = xp.minimum(max_norm / (total + 1e-6), 1.0)
    for g in arrays:
        g *= scale.astype(g.dtype)
    return total

