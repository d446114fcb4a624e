import os
import signal

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


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """DEEPNET_TEST_TIMEOUT=S: a test still running after S seconds fails with a TimeoutError, and the run goes on
    (benchmarks/gpu_check.sh sets it, so one hung test cannot eat a lent GPU's minutes)."""
    limit = float(os.environ.get("DEEPNET_TEST_TIMEOUT") or 0)
    if not limit or not hasattr(signal, "SIGALRM"):
        yield
        return

    def expire(*_):
        raise TimeoutError(f"{item.nodeid} ran past DEEPNET_TEST_TIMEOUT={limit:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
