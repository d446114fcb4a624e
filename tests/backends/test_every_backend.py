"""Every registered backend (the list comes from the registry) computes what the CPU backend computes:
convolution, pooling and a training step, in float64. A backend that cannot open here is skipped with
its reason (the GPU one without a device)."""
import numpy as np
import pytest

from deepnet import backends
from deepnet.layers import Convolution, Pooling
from deepnet.models import SimpleConvNet
from deepnet.optimizers import Adam

from ..backend_helpers import NAMES, opened

def layers_and_step(bk):
    rng = np.random.default_rng(0)
    x = bk.to_device(rng.standard_normal((3, 2, 9, 7)).round(1))  # rounded: ties in the pooling windows
    out = {}
    with backends.use(bk):
        bk.rng.seed(1)
        conv = Convolution(2, 4, 3, stride=2, pad=1)
        conv.W = bk.to_device(rng.standard_normal(conv.W.shape))
        y = conv.forward(x)
        out["conv_y"], out["conv_dx"] = y, conv.backward(bk.to_device(rng.standard_normal(y.shape)))
        out["conv_dW"], out["conv_db"] = conv.dW, conv.db
        pool = Pooling(2, stride=2)
        p = pool.forward(x)
        out["pool_y"], out["pool_dx"] = p, pool.backward(bk.to_device(rng.standard_normal(p.shape)))
        bk.rng.seed(2)
        model, opt = SimpleConvNet(), Adam()
        xb = bk.to_device(rng.uniform(size=(6, 1, 28, 28)))
        tb = bk.to_device(np.arange(6) % 10)
        out["losses"] = bk.xp.stack([model.train_step(xb, tb, opt) for _ in range(3)])
        out.update({f"param {k}": v for k, v in model.params().items()})
    return {k: bk.to_numpy(v) for k, v in out.items()}


@pytest.mark.parametrize("name", NAMES)
def test_the_backend_matches_the_cpu_backend(name):
    ours = layers_and_step(opened(name))
    cpu = layers_and_step(backends.create("cpu", dtype="float64"))
    assert ours.keys() == cpu.keys()
    for k in cpu:
        np.testing.assert_allclose(ours[k], cpu[k], rtol=1e-9, atol=1e-9, err_msg=f"{name}: {k}")
    assert cpu["losses"][-1] < cpu["losses"][0]
