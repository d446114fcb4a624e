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
import importlib
import pkgutil
import sys

from . import registry, settings
from .base import Backend, Random, Timer
from .cpu.backend import NumpyBackend
from .cpu.threads import usable_cores
from .cuda.backend import CupyBackend
from .errors import BackendUnavailable, ConfigError
from .registry import register
from .settings import DTYPES

__all__ = [
    "DTYPES", "Backend", "BackendUnavailable", "ConfigError", "NumpyBackend", "CupyBackend",
    "Random", "Timer", "available", "current", "create", "register", "statuses", "usable_cores", "use",
]

# Every backend registers itself on import (none of them touches a device doing so): each folder
# backends/NAME/ (its __init__ imports the module that registers), and each single-module backend
# backends/NAME_backend.py.
for _module in pkgutil.iter_modules(__path__):
    if _module.ispkg or _module.name.endswith("_backend"):
        importlib.import_module(f".{_module.name}", __name__)


def available() -> tuple:
    """The backend names DEEPNET_BACKEND, create() and use() accept."""
    return registry.names()


def statuses() -> dict:
    """Backend name -> one line on its array library (version or why it is missing); opens nothing."""
    return registry.statuses()


def create(name: str, dtype=None, device: int | None = None, seed=None) -> Backend:
    """A new backend by registered name (or auto); raises BackendUnavailable with the reason."""
    if name == "auto":
        try:
            return create("gpu", dtype, device, seed)
        except BackendUnavailable as exc:
            print(f"deepnet: warning: DEEPNET_BACKEND=auto found no usable GPU, using the CPU: {exc}", file=sys.stderr)
            return create("cpu", dtype, device, seed)
    opener = registry.OPENERS.get(name)
    if opener is None:
        raise ConfigError(f"unknown backend {name!r}; valid values: {', '.join(available())}")
    return opener(dtype=dtype, device=device, seed=seed)


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
