"""The backend package's two user errors, shared by every backend. The package imports nothing from deepnet,
so instead of deriving from deepnet.errors.UserError each marks itself with the class attribute the
`deepnet` command looks for (deepnet/errors.py): printed as one line, exit status 2."""
from __future__ import annotations


class ConfigError(ValueError):
    """A DEEPNET_* environment variable holds a value deepnet does not know."""

    deepnet_user_error = True  # printed as one line by the `deepnet` command (deepnet/errors.py)


class BackendUnavailable(RuntimeError):
    """The requested backend cannot run on this machine; the message says why and what to do."""

    deepnet_user_error = True  # printed as one line by the `deepnet` command (deepnet/errors.py)
