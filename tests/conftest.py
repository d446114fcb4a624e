import numpy as np
import pytest

from deepnet import backends


@pytest.fixture
def f64():
    """A NumPy backend in float64, active for the test (gradient checks need double precision)."""
    with backends.use("cpu", dtype="float64") as bk:
        bk.rng.seed(0)
        yield bk


@pytest.fixture
def cpu32():
    with backends.use("cpu", dtype="float32") as bk:
        bk.rng.seed(0)
        yield bk


@pytest.fixture(scope="session")
def gpu():
    """The CuPy backend; the test is skipped (with the reason) when no CUDA device answers."""
    try:
        return backends.create("gpu")
    except backends.BackendUnavailable as exc:
        pytest.skip(f"no GPU: {exc}")


def rel_error(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300))


def pytest_terminal_summary(terminalreporter):
    ran = [r for key in ("passed", "failed") for r in terminalreporter.stats.get(key, [])
           if "standin" in getattr(r, "keywords", {})]
    if ran:
        terminalreporter.write_line(f"{len(ran)} stand-in launch tests ran the CuPy backend's launch code on NumPy: "
                                    f"no CuPy code ran, and they are not GPU coverage")
