"""deepnet's array backend, chosen from DEEPNET_BACKEND on first use (importing never raises).

    from deepnet.backends import current
    bk = current()          # the active Backend
    xp = bk.xp              # numpy or cupy
    x = bk.to_device(host_array)

Only this package knows which array library is in use; deepnet's layers ask
`current()` for `xp` and the kernels. `use()` switches the active backend inside
a `with` block, so tests can run the same layer on NumPy and CuPy side by side.
"""
from __future__ import annotations

import contextlib
import contextvars
import sys

from . import settings
from .base import Backend, Random, Timer
from .cupy_backend import BackendUnavailable, CupyBackend, cupy_status
from .numpy_backend import NumpyBackend
from .settings import BACKENDS, DTYPES, ConfigError

__all__ = [
    "BACKENDS", "DTYPES", "Backend", "BackendUnavailable", "ConfigError", "NumpyBackend", "CupyBackend",
    "Random", "Timer", "current", "create", "use", "cupy_status",
]


def create(name: str, dtype=None, device: int | None = None, seed=None) -> Backend:
    """A new backend for `name` in BACKENDS; raises BackendUnavailable with the reason."""
    if name == "cpu":
        return NumpyBackend(dtype, seed)
    if name == "gpu":
        return CupyBackend.open(settings.device_ordinal() if device is None else device, dtype, seed)
    if name == "auto":
        try:
            return CupyBackend.open(settings.device_ordinal() if device is None else device, dtype, seed)
        except BackendUnavailable as exc:
            print(f"deepnet: warning: DEEPNET_BACKEND=auto found no usable GPU, using the CPU: {exc}", file=sys.stderr)
            return NumpyBackend(dtype, seed)
    raise ConfigError(f"unknown backend {name!r}; valid values: {', '.join(BACKENDS)}")


def _from_environment() -> Backend:
    name = settings.backend_name()
    try:
        return create(name)
    except BackendUnavailable as exc:
        raise BackendUnavailable(f"DEEPNET_BACKEND={name}: {exc}") from None


# The process-wide backend, made from the environment on first use (importing never raises), and
# the one a `use()` block makes active for its own context (thread or task) only.
_default: list = []
_override: contextvars.ContextVar = contextvars.ContextVar("deepnet_backend", default=None)


def current() -> Backend:
    """The active backend: the innermost `use()` block's, else the one DEEPNET_BACKEND names."""
    backend = _override.get()
    if backend is not None:
        return backend
    if not _default:
        _default.append(_from_environment())  # a bad setting raises here, on every call until fixed
    return _default[0]


@contextlib.contextmanager
def use(backend: Backend | str, dtype=None):
    """Make `backend` (an instance, or 'cpu'/'gpu') active inside the block, for this context only."""
    if isinstance(backend, str):
        backend = create(backend, dtype=dtype)
    elif dtype is not None:
        raise ValueError("pass dtype only with a backend name")
    token = _override.set(backend)
    try:
        yield backend
    finally:
        _override.reset(token)
