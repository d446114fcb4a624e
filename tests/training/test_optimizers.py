import numpy as np
import pytest

from deepnet import optimizers


@pytest.mark.parametrize("name", optimizers.OPTIMIZERS)
def test_each_optimizer_descends_a_quadratic(f64, name):
    p = {"w": np.array([3.0, -2.0])}
    opt = optimizers.create(name, lr={"adagrad": 0.5, "rmsprop": 0.05, "adam": 0.1}.get(name, 0.1))
    for _ in range(200):
        opt.update(p, {"w": 2 * p["w"]})  # gradient of |w|^2
    assert np.linalg.norm(p["w"]) < 0.5


@pytest.mark.parametrize("name", optimizers.OPTIMIZERS)
def test_state_round_trips(f64, name):
    rng = np.random.default_rng(0)
    grads = [{"w": rng.standard_normal(4)} for _ in range(6)]
    a, b = {"w": np.ones(4)}, None
    opt = optimizers.create(name)
    for g in grads[:3]:
        opt.update(a, g)
    b = {"w": a["w"].copy()}
    state = opt.state_dict()
    clone = optimizers.create(name)
    clone.load_state_dict({"hyper": dict(state["hyper"]), "arrays": {k: v.copy() for k, v in state["arrays"].items()}})
    for g in grads[3:]:
        opt.update(a, g)
        clone.update(b, g)
    np.testing.assert_array_equal(a["w"], b["w"])


def test_updates_in_place(f64):
    w = np.ones(3)
    optimizers.SGD(lr=0.5).update({"w": w}, {"w": np.ones(3)})
    np.testing.assert_array_equal(w, 0.5)


def test_adam_in_float16_does_not_make_nan(cpu32):
    """eps = 1e-8 is 0 in float16 and g^2 underflows: the state must live in float32."""
    assert np.float16(1e-8) == 0
    p = {"w": np.array([0.5, -0.25, 1.0], np.float16)}
    opt = optimizers.Adam(lr=1e-3)
    for g in ([0.0, 0.0, 0.0], [1e-5, -1e-5, 0.0], [1e-4, 0.0, 0.0]):
        opt.update(p, {"w": np.array(g, np.float16)})
    assert p["w"].dtype == np.float16 and np.all(np.isfinite(p["w"]))
    assert opt.slots["v"]["w"].dtype == np.float32


def test_unknown_optimizer_lists_choices():
    with pytest.raises(ValueError, match="sgd, momentum, nesterov, adagrad, rmsprop, adam"):
        optimizers.create("lbfgs")


def test_missing_gradient_is_a_clear_error(f64):
    with pytest.raises(RuntimeError, match="call backward"):
        optimizers.SGD().update({"w": np.ones(2)}, {"w": None})


# --- each optimizer's first three steps against its published update rule -------------------------
# w = 1, gradient 1 at every step, lr = 0.1; values worked out from the rules in each class's docstring
# (Nesterov: the book's 2021 fix, equal to PyTorch's SGD(nesterov=True); Adam: Kingma & Ba's Algorithm 1).
HAND = {
    "sgd": (dict(), [0.9, 0.8, 0.7]),
    "momentum": (dict(momentum=0.9), [0.9, 0.71, 0.439]),
    "nesterov": (dict(momentum=0.9), [0.81, 0.539, 0.1951]),
    "adagrad": (dict(eps=1e-7), [1 - 0.1 / (1 + 1e-7), 0.8292893368813439, 0.7715543132957144]),
    "rmsprop": (dict(decay_rate=0.99, eps=1e-7), [9.999990000508774e-07, -0.7088797024971293, -1.2891284505730982]),
    "adam": (dict(beta1=0.9, beta2=0.999, eps=1e-8), [0.9, 0.8, 0.7]),
}


@pytest.mark.parametrize("name", optimizers.OPTIMIZERS)
def test_first_three_steps_match_the_published_rule(f64, name):
    kwargs, expected = HAND[name]
    w = np.array([1.0])
    opt = optimizers.create(name, lr=0.1, **kwargs)
    seen = []
    for _ in range(3):
        opt.update({"w": w}, {"w": np.array([1.0])})
        seen.append(float(w[0]))
    np.testing.assert_allclose(seen, expected, rtol=1e-6, atol=1e-9)


def test_nesterov_is_not_the_pre_2021_book_update(f64):
    """The issue's repro: the pre-fix update gave 0.729, then 0.3851."""
    w = np.array([1.0])
    opt = optimizers.Nesterov(lr=0.1, momentum=0.9)
    opt.update({"w": w}, {"w": np.array([1.0])})
    assert w[0] == pytest.approx(0.81)
    opt.update({"w": w}, {"w": np.array([1.0])})
    assert w[0] == pytest.approx(0.539)


@pytest.mark.parametrize("name", optimizers.OPTIMIZERS)
def test_against_torch_optim(f64, name):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    grads = rng.standard_normal((6, 5))
    w = rng.standard_normal(5)
    ours = {"w": w.copy()}
    lr = 0.05
    opt = optimizers.create(name, lr=lr)
    t = torch.tensor(w.copy(), requires_grad=True)
    make = {
        "sgd": lambda p: torch.optim.SGD(p, lr=lr),
        "momentum": lambda p: torch.optim.SGD(p, lr=lr, momentum=0.9),
        "nesterov": lambda p: torch.optim.SGD(p, lr=lr, momentum=0.9, nesterov=True),
        "adagrad": lambda p: torch.optim.Adagrad(p, lr=lr, eps=1e-7),
        "rmsprop": lambda p: torch.optim.RMSprop(p, lr=lr, alpha=0.99, eps=1e-7),
        "adam": lambda p: torch.optim.Adam(p, lr=lr, betas=(0.9, 0.999), eps=1e-8),
    }[name]
    topt = make([t])
    for g in grads:
        opt.update(ours, {"w": g.copy()})
        t.grad = torch.tensor(g.copy())
        topt.step()
    # Adam: ours adds eps to sqrt(v) before the bias correction (the book's and the paper's efficient form)
    np.testing.assert_allclose(ours["w"], t.detach().numpy(), rtol=1e-6 if name == "adam" else 1e-12, atol=1e-12)


@pytest.mark.parametrize("name, kwargs, match", [
    ("sgd", dict(lr=float("nan")), "lr must be a finite number"),
    ("sgd", dict(lr=float("inf")), "lr must be a finite number"),
    ("sgd", dict(lr=0), "lr must be a finite number"),
    ("momentum", dict(momentum=5), "momentum must be a finite number in \\[0, 1\\)"),
    ("nesterov", dict(momentum=-1), "momentum must be"),
    ("adam", dict(beta1=1), "beta1 must be"),
    ("adam", dict(beta2=2), "beta2 must be"),
    ("adam", dict(eps=0), "eps must be"),
    ("adagrad", dict(eps=-1e-7), "eps must be"),
    ("rmsprop", dict(decay_rate=1.5), "decay_rate must be"),
    ("adam", dict(lr="fast"), "lr must be a number"),
])
def test_bad_hyperparameters_are_refused(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        optimizers.create(name, **kwargs)


def test_a_checkpoint_cannot_smuggle_in_bad_hyperparameters(f64):
    opt = optimizers.Adam()
    state = opt.state_dict()
    state["hyper"]["lr"] = float("nan")
    with pytest.raises(ValueError, match="lr must be a finite number"):
        optimizers.Adam().load_state_dict(state)


def centered_rmsprop_steps(w, grads, lr, rho, eps, momentum):
    """PyTorch's RMSprop(centered=True, momentum=...) written out: the MinAtar DQN's optimiser."""
    v, g_avg, buf = np.zeros_like(w), np.zeros_like(w), np.zeros_like(w)
    for g in grads:
        v = rho * v + (1 - rho) * g * g
        g_avg = rho * g_avg + (1 - rho) * g
        buf = momentum * buf + g / (np.sqrt(v - g_avg ** 2) + eps)
        w = w - lr * buf
    return w


def minatar_rmsprop_run():
    """(gradients, start, deepnet's weights after them, the optimiser): seven steps of the MinAtar DQN's
    centered RMSprop with momentum."""
    rng = np.random.default_rng(4)
    grads, w = rng.standard_normal((7, 5)), rng.standard_normal(5)
    ours = {"w": w.copy()}
    opt = optimizers.RMSprop(lr=0.00025, decay_rate=0.95, eps=0.01, centered=True, momentum=0.95)
    for g in grads:
        opt.update(ours, {"w": g.copy()})
    return grads, w, ours, opt


def test_centered_rmsprop_with_momentum(f64):
    grads, w, ours, opt = minatar_rmsprop_run()
    np.testing.assert_allclose(ours["w"], centered_rmsprop_steps(w, grads, 0.00025, 0.95, 0.01, 0.95), rtol=1e-12)
    again = optimizers.RMSprop()
    again.load_state_dict(opt.state_dict())  # the settings and all three slots survive a checkpoint
    assert (again.centered, again.momentum, again.eps) == (True, 0.95, 0.01)


def test_centered_rmsprop_against_torch(f64):
    torch = pytest.importorskip("torch")
    grads, w, ours, _ = minatar_rmsprop_run()
    t = torch.tensor(w.copy(), requires_grad=True)
    topt = torch.optim.RMSprop([t], lr=0.00025, alpha=0.95, eps=0.01, centered=True, momentum=0.95)
    for g in grads:
        t.grad = torch.tensor(g.copy())
        topt.step()
    np.testing.assert_allclose(ours["w"], t.detach().numpy(), rtol=1e-12)


def test_rmsprop_centered_must_be_a_bool():
    with pytest.raises(ValueError, match="centered must be True or False"):
        optimizers.RMSprop(centered="yes")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("threads", [1, 2])
def test_the_compiled_adam_step_is_the_reference_bit_for_bit(dtype, threads, monkeypatch):
    """The CPU backend's one-pass Adam (Numba, the elements among the threads) against the base backend's three
    NumPy lines: the same operations in the same precision, so the same bits. 300,000 elements: enough to be
    split among two threads."""
    pytest.importorskip("numba")
    from deepnet import backends
    from deepnet.backends.cpu import kernels

    calls = []
    real = kernels.adam_step
    monkeypatch.setattr(kernels, "adam_step", lambda *a: calls.append(a[-2:]) or real(*a))

    rng = np.random.default_rng(3)
    shape = (600, 500)
    p0, m0 = rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype) * 0.1
    v0 = rng.uniform(0, 0.01, shape).astype(dtype)
    grads = [rng.standard_normal(shape).astype(dtype) for _ in range(3)]
    ref, fast = backends.create("cpu-reference", dtype=dtype), backends.create("cpu", dtype=dtype)
    fast.set_threads(threads)
    results = []
    for bk in (ref, fast):
        p, m, v = p0.copy(), m0.copy(), v0.copy()
        for t, g in enumerate(grads, 1):
            bk.adam_step(p, g, m, v, 0.001 * (1 - 0.999 ** t) ** 0.5 / (1 - 0.9 ** t), 0.9, 0.999, 1e-8)
        results.append((p, m, v))
    assert not np.array_equal(results[0][0], p0)  # it stepped
    assert sum(e - s for s, e in calls) == 3 * p0.size and len(calls) == 3 * threads  # the compiled pass ran
    for want, got in zip(*results):
        np.testing.assert_array_equal(got, want)


def test_adam_on_a_non_contiguous_parameter_takes_the_reference_path(f64):
    p = {"w": np.ones((4, 6))[:, ::2]}  # a view: the compiled pass needs contiguous arrays
    want = {"w": np.ones((4, 3))}
    g = np.full((4, 3), 0.5)
    a, b = optimizers.Adam(lr=0.1), optimizers.Adam(lr=0.1)
    a.update(p, {"w": g})
    b.update(want, {"w": g})
    np.testing.assert_array_equal(p["w"], want["w"])
    assert (p["w"] < 1).all()


def test_the_compiled_adam_steps_are_the_reference_bit_for_bit(monkeypatch):
    """The CPU backend's adam_steps: the small parameters of each dtype in calls of ADAM_SLOTS (more than one
    call here), one large enough to split among the threads, and a non-contiguous one on the reference path,
    each the reference's bits; a zero divisor (eps 0, v 0) gives NaN as NumPy's does, and nothing raises."""
    pytest.importorskip("numba")
    from deepnet import backends
    from deepnet.backends.cpu import kernels

    calls = []
    real = kernels.adam_steps
    monkeypatch.setattr(kernels, "adam_steps", lambda *a: calls.append(len(a[0])) or real(*a))
    rng = np.random.default_rng(5)
    assert kernels.ADAM_SLOTS == 16
    shapes = [(3, 4), (7,), (16, 1, 3, 3), (1,)] * 5 + [(300_000,)]
    dtypes = ["float32"] * 18 + ["float64"] * 2 + ["float32"]
    p0 = [rng.standard_normal(s).astype(d) for s, d in zip(shapes, dtypes)]
    p0.append(np.ones((4, 6), np.float32)[:, ::2])  # a view: not contiguous
    g = [rng.standard_normal(p.shape).astype(p.dtype) for p in p0]
    ref, fast = backends.create("cpu-reference", dtype="float32"), backends.create("cpu", dtype="float32")
    fast.set_threads(2)
    results = []
    for bk in (ref, fast):
        ps = [p.copy() for p in p0[:-1]] + [np.ones((4, 6), np.float32)[:, ::2]]
        ms, vs = [np.zeros_like(p) for p in ps], [np.zeros_like(p) for p in ps]
        for t in (1, 2):
            bk.adam_steps(ps, g, ms, vs, 0.001 * (1 - 0.999 ** t) ** 0.5 / (1 - 0.9 ** t), 0.9, 0.999, 1e-8)
        results.append(ps + ms + vs)
    assert calls == [kernels.ADAM_SLOTS] * 6  # each step: the 18 small float32 in two calls, the 2 float64 in one
    for want, got in zip(*results):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    assert not np.array_equal(results[1][0], p0[0])  # it stepped

    zero = [np.zeros(5, np.float32)]
    fast.adam_steps(zero, [np.zeros(5, np.float32)], [np.zeros(5, np.float32)], [np.zeros(5, np.float32)], 0.1,
                    0.9, 0.999, 0.0)
    assert np.isnan(zero[0]).all()  # 0 / 0, as the reference's NumPy lines give
