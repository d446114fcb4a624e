"""A backend is one file: a third one, defined here alone, is selected by name and trains a step."""
import numpy as np
import pytest

from deepnet import backends
from deepnet.backends import Backend, settings
from deepnet.layers import Convolution
from deepnet.models import SimpleConvNet
from deepnet.optimizers import Adam


class ReferenceFloat64(Backend):
    """The base backend's plain array code only (no threads, no compiled kernels), always in float64."""

    name = "reference64"
    device_name = "host (plain reference code)"

    def __init__(self, seed=None):
        super().__init__("float64", seed)


backends.register("reference64", lambda dtype=None, device=None, seed=None: ReferenceFloat64(seed))


def test_the_registry_lists_it_and_the_environment_accepts_it(monkeypatch):
    assert backends.available() == ("cpu", "cpu-reference", "gpu", "reference64", "auto")
    monkeypatch.setenv("DEEPNET_BACKEND", "reference64")
    assert settings.backend_name() == "reference64"
    assert isinstance(backends.create(settings.backend_name()), ReferenceFloat64)


def test_a_convolution_through_it_matches_the_cpu_backend():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 7, 7))
    dy = rng.standard_normal((3, 4, 4, 4))
    results = []
    for name in ("reference64", "cpu"):
        with backends.use(name) if name == "reference64" else backends.use("cpu", dtype="float64"):
            backends.current().rng.seed(1)
            conv = Convolution(2, 4, 3, stride=2, pad=1)
            results.append((conv.forward(x), conv.backward(dy), conv.dW, conv.db))
            assert conv.W.dtype == np.float64
    for ours, cpu in zip(*results):
        np.testing.assert_allclose(ours, cpu, rtol=1e-12, atol=1e-12)


def test_a_training_step_runs_through_it():
    with backends.use("reference64") as bk:
        assert backends.current() is bk
        bk.rng.seed(0)
        model, opt = SimpleConvNet(), Adam()
        x, t = bk.rng.uniform((8, 1, 28, 28)), np.arange(8) % 10
        losses = []
        for _ in range(5):
            losses.append(float(model.loss(x, t, train=True)))
            model.backward()
            opt.update(model.trainable_params(), model.trainable_grads())
        assert model.dtype == np.float64 and losses[-1] < losses[0]
    assert not isinstance(backends.current(), ReferenceFloat64)  # the block's backend is gone after it


def test_auto_is_reserved():
    with pytest.raises(ValueError, match="reserved"):
        backends.register("auto", lambda **kw: None)
