"""deepnet: deep learning from scratch on NumPy, running unchanged on CuPy.

The array backend (NumPy or CuPy) is chosen once, when deepnet.backends is first
imported (any layer, model or the CLI imports it), from DEEPNET_BACKEND.
"""
import os as _os

__version__ = "0.1.0"

# Run from a source checkout that was never installed, backends/ sits beside deepnet/ rather than
# inside it: let the checkout's root serve as a search path for deepnet's subpackages, so
# `deepnet.backends` is that folder (installed copies have it inside and are left as they are).
_root = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if not _os.path.isdir(_os.path.join(__path__[0], "backends")) and _os.path.isfile(
        _os.path.join(_root, "backends", "__init__.py")):
    __path__.append(_root)


def __getattr__(name):
    # Imported lazily so that `deepnet --help` and error reporting work before a backend is chosen.
    if name in ("backends", "backend"):
        import importlib

        backends = importlib.import_module(".backends", __name__)
        return backends if name == "backends" else backends.current
    raise AttributeError(f"module 'deepnet' has no attribute {name!r}")
