"""What the tests that run on every registered backend share."""
import numpy as np
import pytest

from deepnet import backends

NAMES = [n for n in backends.available() if n != "auto"]


def opened(name):
    try:
        return backends.create(name, dtype="float64")
    except backends.BackendUnavailable as exc:
        pytest.skip(f"backend {name} cannot open here: {exc}")
    except ValueError as exc:  # a backend fixed to one dtype may refuse float64
        pytest.skip(f"backend {name}: {exc}")


def agrees_with_the_reference(name, run, rtol=1e-12, atol=0.0):
    """run(backend) -> arrays on `name` (skipped where it cannot open) and on the NumPy reference, in float64,
    each compared."""
    bk = opened(name)
    ref = backends.create("cpu-reference", dtype="float64")
    results = []
    for b in (ref, bk):
        with backends.use(b):
            results.append([b.to_numpy(a) for a in run(b)])
    for want, got in zip(*results):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
