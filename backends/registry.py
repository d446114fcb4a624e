"""Backends by name. A backend is one module, `backends/<something>_backend.py`, that registers an opener
for its name when imported (the package imports every such module); a backend defined elsewhere (a
test, a plug-in) registers itself the same way. DEEPNET_BACKEND's valid values come from here."""
from __future__ import annotations

#: name -> opener(dtype=None, device=None, seed=None) returning a Backend (or raising BackendUnavailable)
OPENERS: dict = {}


def register(name: str, opener) -> None:
    """Make `opener` the backend called `name` (for DEEPNET_BACKEND, backends.create and backends.use)."""
    if name == "auto":
        raise ValueError("'auto' is reserved: it picks the GPU backend if one answers, else the CPU")
    OPENERS[name] = opener


def names() -> tuple:
    """Every valid DEEPNET_BACKEND value: the registered backends, then auto."""
    return tuple(sorted(OPENERS)) + ("auto",)
