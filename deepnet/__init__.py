"""deepnet: deep learning from scratch on NumPy, running unchanged on CuPy.

The array backend (NumPy or CuPy) is chosen once, when deepnet.backends is first
imported (any layer, model or the CLI imports it), from DEEPNET_BACKEND.
"""
__version__ = "0.1.0"


def __getattr__(name):
    # Imported lazily so that `deepnet --help` and error reporting work before a backend is chosen.
    if name in ("backends", "backend"):
        import importlib

        backends = importlib.import_module(".backends", __name__)
        return backends if name == "backends" else backends.current
    raise AttributeError(f"module 'deepnet' has no attribute {name!r}")
