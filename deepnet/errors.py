"""Which exceptions are the user's to fix (printed as one line by the CLI) rather than bugs."""
from __future__ import annotations

# Matched by name: the backend's own errors may come from a failed import of deepnet.backends,
# which cannot be imported again to fetch the classes.
USER_ERRORS = {"BackendUnavailable", "ConfigError", "FileNotFoundError", "ValueError", "UnpicklingError",
               "ImportError", "DatasetError", "TrainingDiverged", "IdxError"}


def is_user_error(exc: BaseException) -> bool:
    return any(cls.__name__ in USER_ERRORS for cls in type(exc).__mro__)
