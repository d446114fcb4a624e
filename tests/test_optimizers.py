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
