"""Central-difference gradient checks in float64."""
import numpy as np

from deepnet import backends


def numerical(f, a, indices, h=1e-6):
    grads = []
    for i in indices:
        old = a[i]
        a[i] = old + h
        fp = f()
        a[i] = old - h
        fm = f()
        a[i] = old
        grads.append((fp - fm) / (2 * h))
    return np.array(grads)


def _indices(shape, limit, rng):
    total = int(np.prod(shape))
    flat = np.arange(total) if total <= limit else rng.choice(total, limit, replace=False)
    return [np.unravel_index(int(i), shape) for i in flat]


def check_layer(layer, x, train=False, seed=None, limit=60):
    """The worst relative error between backward() and central differences, over x and every parameter.

    The scalar checked is sum(forward(x) * R) for a fixed random R. With `seed`, the
    backend's generator is re-seeded before every forward (dropout's mask stays fixed).
    """
    bk = backends.current()
    rng = np.random.default_rng(42)

    def forward():
        if seed is not None:
            bk.rng.seed(seed)
        return layer.forward(x, train=train)

    out = forward()
    R = rng.standard_normal(out.shape)
    dout = R.copy()
    dx = layer.backward(dout)
    np.testing.assert_array_equal(dout, R)  # backward never writes into the array it was given
    analytic = {"x": (x, dx)}
    for name, p in layer.params().items():
        analytic[name] = (p, layer.grads()[name].copy())

    def f():
        return float((forward() * R).sum())

    worst = 0.0
    for name, (arr, grad) in analytic.items():
        idx = _indices(arr.shape, limit, rng)
        num = numerical(f, arr, idx)
        ana = np.array([grad[i] for i in idx])
        err = np.linalg.norm(num - ana) / max(np.linalg.norm(num) + np.linalg.norm(ana), 1e-6)
        worst = max(worst, float(err))
        assert err < 1e-6, f"{type(layer).__name__} d{name}: relative error {err:.2e}"
    return worst


def check_model(model, x, t, limit=8):
    """Gradient check of a whole model's loss with respect to a sample of every parameter."""
    rng = np.random.default_rng(7)
    model.loss(x, t, train=False)
    model.backward()
    worst = 0.0
    for name, p in model.params().items():
        grad = model.grads()[name].copy()
        idx = _indices(p.shape, limit, rng)
        num = numerical(lambda: float(model.loss(x, t, train=False)), p, idx)
        ana = np.array([grad[i] for i in idx])
        err = np.linalg.norm(num - ana) / max(np.linalg.norm(num) + np.linalg.norm(ana), 1e-6)
        worst = max(worst, float(err))
        assert err < 1e-6, f"{name}: relative error {err:.2e}"
    return worst
