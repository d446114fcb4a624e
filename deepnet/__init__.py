"""deepnet: deep learning from scratch on NumPy, running unchanged on CuPy."""
from . import backends
from .backends import current as backend

__version__ = "0.1.0"

__all__ = ["backends", "backend", "__version__"]
