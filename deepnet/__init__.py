"""deepnet: deep learning from scratch on NumPy, running unchanged on CuPy.

The array backend (NumPy, CuPy, or any registered one) is chosen from DEEPNET_BACKEND the first
time something asks for it (deepnet.backends.current()); importing never raises.
"""
import os as _os
import sys as _sys

__version__ = "0.1.0"


def _backends_beside_checkout():
    # Run from a source checkout that was never installed, backends/ sits beside deepnet/ instead of
    # inside it (pyproject maps it to deepnet.backends at install). Import that one folder under its
    # installed name, and nothing else of the checkout's root: `deepnet.tests` stays unimportable.
    here = _os.path.dirname(_os.path.abspath(__file__))
    beside = _os.path.join(_os.path.dirname(here), "backends")
    if _os.path.isdir(_os.path.join(here, "backends")) or not _os.path.isfile(_os.path.join(beside, "__init__.py")):
        return
    import importlib.abc
    import importlib.util

    class _Finder(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname, path=None, target=None):
            if fullname != __name__ + ".backends":
                return None
            return importlib.util.spec_from_file_location(
                fullname, _os.path.join(beside, "__init__.py"), submodule_search_locations=[beside])

    _sys.meta_path.insert(0, _Finder())


_backends_beside_checkout()


def __getattr__(name):
    # Imported lazily so that `deepnet --help` and error reporting work before a backend is chosen.
    if name in ("backends", "backend"):
        import importlib

        backends = importlib.import_module(".backends", __name__)
        return backends if name == "backends" else backends.current
    raise AttributeError(f"module 'deepnet' has no attribute {name!r}")
