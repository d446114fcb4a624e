"""Backends by name. A backend is one module, `backends/<something>_backend.py`, that registers an opener
for its name when imported (the package imports every such module); a backend defined elsewhere (a
test, a plug-in) registers itself the same way. DEEPNET_BACKEND's valid values come from here."""
from __future__ import annotations

#: name -> opener(dtype=None, device=None, seed=None) returning a Backend (or raising BackendUnavailable)
OPENERS: dict = {}
#: name -> status() returning one line about the backend's array library, without touching a device
STATUS: dict = {}


def register(name: str, opener, status=None) -> None:
    """Make `opener` the backend called `name` (for DEEPNET_BACKEND, backends.create and backends.use).

    `status`, if given, returns one line for `deepnet info` even when the backend cannot open (the
    library's version, or why it is missing); it must not touch a device."""
    if name == "auto":
        raise ValueError("'auto' is reserved: it picks the GPU backend if one answers, else the CPU")
    OPENERS[name] = opener
    if status is not None:
        STATUS[name] = status
    else:
        STATUS.pop(name, None)


def statuses() -> dict:
    """name -> one status line, for every registered backend (never raises: a failing status says so)."""
    out = {}
    for name in sorted(OPENERS):
        status = STATUS.get(name)
        try:
            out[name] = status() if status is not None else "registered"
        except Exception as exc:  # a broken library must not hide the rest of the report
            out[name] = f"status failed: {type(exc).__name__}: {exc}"
    return out


def names() -> tuple:
    """Every valid DEEPNET_BACKEND value: the registered backends, then auto."""
    return tuple(sorted(OPENERS)) + ("auto",)
