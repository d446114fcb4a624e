"""Gradient-descent optimizers that update parameters in place.

`update(params, grads)` takes two name -> array mappings (a model's
`trainable_params()` and `trainable_grads()`). State (velocities, moments) is kept
per parameter name and round-trips through `state_dict()` / `load_state_dict()`.

Half precision: optimizer state and the update arithmetic run in float32 for
float16 parameters. Adam's eps = 1e-8 is below float16's smallest subnormal
(about 6e-8), so in float16 it would be exactly 0 and sqrt(v) + eps could be 0
(NaN/Inf updates); squared gradients underflow the same way. Keeping the state in
float32 fixes both, and the result is cast back to the parameter's dtype.
"""
from __future__ import annotations

from .backends import current

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")


def _state_dtype(param):
    xp = current().xp
    return xp.float32 if param.dtype.itemsize < 4 else param.dtype


class Optimizer:
    hyper_names: tuple[str, ...] = ("lr",)
    slot_names: tuple[str, ...] = ()

    def __init__(self, lr: float = 0.01):
        if lr <= 0:
            raise ValueError(f"learning rate must be positive; got {lr}")
        self.lr = float(lr)
        self.t = 0
        self.slots: dict[str, dict] = {s: {} for s in self.slot_names}

    def _slot(self, slot: str, name: str, param):
        store = self.slots[slot]
        if name not in store:
            store[name] = current().xp.zeros(param.shape, dtype=_state_dtype(param))
        return store[name]

    def update(self, params: dict, grads: dict) -> None:
        self.t += 1
        for name, p in params.items():
            g = grads[name]
            if g is None:
                raise RuntimeError(f"parameter {name!r} has no gradient: call backward() before update()")
            if p.dtype.itemsize < 4:
                # half precision: compute in float32 (see module docstring), write back in place
                p32 = p.astype(_state_dtype(p))
                self._step(name, p32, g.astype(p32.dtype))
                p[...] = p32
            else:
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
        kind = hyper.pop("type")
        if kind != type(self).__name__.lower():
            raise ValueError(f"optimizer state is for {kind!r}, not {type(self).__name__.lower()!r}")
        self.t = int(hyper.pop("t"))
        for k, v in hyper.items():
            setattr(self, k, v)
        bk = current()
        self.slots = {s: {} for s in self.slot_names}
        for key, a in state["arrays"].items():
            slot, name = key.split("/", 1)
            if slot not in self.slots:
                raise ValueError(f"optimizer state has an unknown slot {slot!r} (in {key!r})")
            self.slots[slot][name] = bk.to_device(a)

    def __repr__(self):
        return f"{type(self).__name__}(" + ", ".join(f"{k}={getattr(self, k)}" for k in self.hyper_names) + ")"


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
        self.momentum = float(momentum)

    def _step(self, name, p, g):
        v = self._slot("v", name, p)
        v *= self.momentum
        v -= self.lr * g
        p += v


class Nesterov(Momentum):
    """Nesterov's accelerated gradient (Sutskever's form, as the book):
    v <- m v - lr dW;  W <- W + m^2 v - (1 + m) lr dW."""

    def _step(self, name, p, g):
        v = self._slot("v", name, p)
        v *= self.momentum
        v -= self.lr * g
        p += self.momentum * self.momentum * v
        p -= (1 + self.momentum) * self.lr * g


class AdaGrad(Optimizer):
    """h <- h + dW^2;  W <- W - lr * dW / (sqrt(h) + eps)."""

    hyper_names = ("lr", "eps")
    slot_names = ("h",)

    def __init__(self, lr=0.01, eps=1e-7):
        super().__init__(lr)
        self.eps = float(eps)

    def _step(self, name, p, g):
        xp = current().xp
        h = self._slot("h", name, p)
        h += g * g
        p -= self.lr * g / (xp.sqrt(h) + self.eps)


class RMSprop(Optimizer):
    """h <- rho h + (1 - rho) dW^2;  W <- W - lr * dW / (sqrt(h) + eps)."""

    hyper_names = ("lr", "decay_rate", "eps")
    slot_names = ("h",)

    def __init__(self, lr=0.01, decay_rate=0.99, eps=1e-7):
        super().__init__(lr)
        self.decay_rate, self.eps = float(decay_rate), float(eps)

    def _step(self, name, p, g):
        xp = current().xp
        h = self._slot("h", name, p)
        h *= self.decay_rate
        h += (1 - self.decay_rate) * g * g
        p -= self.lr * g / (xp.sqrt(h) + self.eps)


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), with the bias correction folded into the step size:
    m <- m + (1 - b1)(dW - m);  v <- v + (1 - b2)(dW^2 - v)
    W <- W - lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)."""

    hyper_names = ("lr", "beta1", "beta2", "eps")
    slot_names = ("m", "v")

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8):
        super().__init__(lr)
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)

    def _step(self, name, p, g):
        xp = current().xp
        m, v = self._slot("m", name, p), self._slot("v", name, p)
        lr_t = self.lr * (1.0 - self.beta2 ** self.t) ** 0.5 / (1.0 - self.beta1 ** self.t)
        m += (1 - self.beta1) * (g - m)
        v += (1 - self.beta2) * (g * g - v)
        p -= lr_t * m / (xp.sqrt(v) + self.eps)


_BY_NAME = {"sgd": SGD, "momentum": Momentum, "nesterov": Nesterov, "adagrad": AdaGrad, "rmsprop": RMSprop,
            "adam": Adam}


def create(name: str, lr: float | None = None, **kwargs) -> Optimizer:
    """An optimizer by name (one of OPTIMIZERS), with its default learning rate unless `lr` is given."""
    try:
        cls = _BY_NAME[name.lower()]
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; choose one of: {', '.join(OPTIMIZERS)}") from None
    if lr is not None:
        kwargs["lr"] = lr
    return cls(**kwargs)
