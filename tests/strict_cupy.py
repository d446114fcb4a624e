"""A strict stand-in for CuPy, over NumPy, installed as `sys.modules["cupy"]` so that `DEEPNET_BACKEND=gpu` goes
through deepnet's real CuPy backend (backends/cuda/) on a machine with no GPU.

What it proves: host/device discipline. Its arrays (`ndarray`) are not NumPy arrays: like CuPy's they refuse
implicit conversion (`np.asarray(a)`, `__array__`), mixing with NumPy arrays in arithmetic or assignment, and,
stricter than CuPy, `float()`, `int()`, `bool()`, iteration and `.tolist()`: every device-to-host read must go
through an explicit transfer (`cupy.asnumpy`, `.get()`, `.item()`), and each is counted with its call site, as
is every host-to-device copy (`cupy.asarray` of host data) and every array call (a function of the module, a
method or an operator on a device array: what would be one or more kernel launches on a GPU); views (a reshape,
a transpose, a basic slice) and empty allocations launch nothing and are counted apart.

What it does not prove: anything about kernels or speed. The elementwise kernels run on the CPU through
tests/cuda_exec.py (their CUDA bodies compiled with g++), and every other call is NumPy's. A call count is a
proxy for launches, not a measurement of them.
"""
from __future__ import annotations

import collections
import contextlib
import os
import sys
import types

import numpy as np

HERE = os.path.abspath(__file__)


class Counts:
    """What a run did: array calls, device-to-host reads and host-to-device copies, each by call site."""

    sites = True  # attribute each count to its call site

    def __init__(self):
        self.calls, self.d2h, self.h2d = collections.Counter(), collections.Counter(), collections.Counter()
        self.views = collections.Counter()  # reshapes, transposes, basic slices: no launch on a GPU
        self.allocs = collections.Counter()  # empty arrays: memory, no launch

    def reset(self):
        self.__init__()

    def totals(self) -> dict:
        return {"calls": sum(self.calls.values()), "d2h": sum(self.d2h.values()), "h2d": sum(self.h2d.values()),
                "views": sum(self.views.values()), "allocs": sum(self.allocs.values())}


COUNTS = Counts()


def _short(f) -> str:
    name = f.f_code.co_filename
    for marker in ("/deepnet/", "/backends/", "/tests/", "/benchmarks/"):
        if marker in name:
            name = name[name.rindex(marker) + 1:]
            break
    return f"{name}:{f.f_lineno}"


def _site(caller: bool = False) -> str:
    """file:line of the first frame outside this module and NumPy: who asked. With `caller`, a site inside the
    backend is followed by the first frame above it outside the backend (who asked the backend). "-" when
    COUNTS.sites is off (a process that only needs the refusals, such as gpu_check.sh's dry run: faster)."""
    if not COUNTS.sites:
        return "-"
    f = sys._getframe(2)
    while f is not None and (os.path.abspath(f.f_code.co_filename) == HERE or "/numpy/" in f.f_code.co_filename):
        f = f.f_back
    if f is None:
        return "?"
    site = _short(f)
    if caller and site.startswith("backends/"):
        up = f.f_back
        while up is not None and _short(up).startswith("backends/"):
            up = up.f_back
        if up is not None:
            site += " <- " + _short(up)
    return site


class HostConversion(TypeError):
    """An implicit device-to-host (or host-to-device) conversion, which CuPy refuses or which hides a sync."""


def _refuse(what: str):
    raise HostConversion(f"strict CuPy stand-in: {what} at {_site()}; read device data with the backend's "
                         f"to_numpy (cupy.asnumpy) and send host data with to_device (cupy.asarray)")


def _unwrap(x):
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, np.ndarray) and x.ndim > 0:
        _refuse(f"a NumPy array of shape {x.shape} mixed with device arrays")
    if isinstance(x, (list, tuple)):
        return type(x)(_unwrap(v) for v in x)
    if isinstance(x, slice):
        return slice(_unwrap(x.start), _unwrap(x.stop), _unwrap(x.step))
    return x


def _wrap(x):
    if isinstance(x, np.ndarray):
        return ndarray(x)
    if isinstance(x, np.generic) and not isinstance(x, np.dtype):  # CuPy's reductions give 0-d arrays
        return ndarray(np.asarray(x))
    if isinstance(x, tuple):
        return tuple(_wrap(v) for v in x)
    if isinstance(x, list):
        return [_wrap(v) for v in x]
    return x


def _call(fn, args, kwargs):
    """fn on the arrays' NumPy buffers, counted: a result that is a view of a positional input's memory (a
    reshape, a transpose, a basic slice) launches nothing on a GPU and counts as a view; anything else, or
    anything written through `out=`, as an array call."""
    site = _site()
    out = kwargs.get("out")
    result = fn(*(_unwrap(a) for a in args), **{k: _unwrap(v) for k, v in kwargs.items()})
    view = out is None and isinstance(result, np.ndarray) and any(
        isinstance(a, ndarray) and np.may_share_memory(result, a._a) for a in args)
    (COUNTS.views if view else COUNTS.calls)[site] += 1
    if isinstance(out, ndarray) and isinstance(result, np.ndarray) and result is out._a:
        return out
    return _wrap(result)


class ndarray:  # noqa: N801 - CuPy's name
    """A device array: a NumPy array that does not leave the device except by an explicit, counted transfer."""

    __slots__ = ("_a",)
    __array_priority__ = 1000

    def __init__(self, a):
        self._a = a

    # --- what CuPy refuses, and the stricter refusals ------------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        _refuse("implicit conversion of a device array to NumPy (__array__)")

    def __float__(self):
        _refuse("float() of a device array (a hidden sync)")

    def __int__(self):
        _refuse("int() of a device array (a hidden sync)")

    def __index__(self):
        _refuse("a device array used as an index (a hidden sync)")

    def __bool__(self):
        _refuse("bool() of a device array (a hidden sync)")

    def __complex__(self):
        _refuse("complex() of a device array")

    def __iter__(self):
        _refuse("iteration over a device array (one sync an element)")

    def tolist(self):
        _refuse(".tolist() of a device array")

    def __reduce__(self):
        _refuse("pickling a device array")

    # --- explicit transfers: counted ------------------------------------------------------------------
    def get(self, stream=None, out=None):
        COUNTS.d2h[_site(caller=True)] += 1
        return self._a.copy()

    def item(self, *args):
        COUNTS.d2h[_site(caller=True)] += 1
        return self._a.item(*args)

    # --- attributes that need no device work ------------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    base = property(lambda self: None if self._a.base is None else ndarray(self._a.base))
    device = property(lambda self: _DEVICE)

    @property
    def T(self):  # noqa: N802 - NumPy's name
        return ndarray(self._a.T)

    def __len__(self):
        return len(self._a)

    def __repr__(self):
        return f"strict_cupy.ndarray(shape={self.shape}, dtype={self.dtype})"

    def __hash__(self):
        return id(self)

    # --- everything else: NumPy's method, counted as device work ------------------------------------------
    def __getattr__(self, name):
        if name.startswith("__"):  # __array_interface__, __array_struct__, __dlpack__: NumPy would convert through them
            raise AttributeError(name)
        method = getattr(self._a, name)
        if not callable(method):
            return method
        unbound = getattr(np.ndarray, name)
        return lambda *a, **k: _call(unbound, (self, *a), k)

    def __getitem__(self, key):
        return _call(np.ndarray.__getitem__, (self, key), {})

    def __setitem__(self, key, value):
        COUNTS.calls[_site()] += 1
        self._a[_unwrap(key)] = _unwrap(value)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):  # np.exp(a): CuPy answers it on the device
        return _call(getattr(ufunc, method), inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):  # np.sum(a), np.concatenate([a, b])
        return _call(func, args, kwargs)


def _operator(name):
    def op(self, *other):
        return _call(getattr(np.ndarray, name), (self, *other), {})

    op.__name__ = name
    return op


for _name in ("add", "radd", "sub", "rsub", "mul", "rmul", "truediv", "rtruediv", "floordiv", "rfloordiv", "mod",
              "rmod", "pow", "rpow", "matmul", "rmatmul", "neg", "pos", "abs", "invert", "and", "rand", "or", "ror",
              "xor", "rxor", "lshift", "rshift", "lt", "le", "gt", "ge", "eq", "ne", "iadd", "isub", "imul",
              "itruediv", "ifloordiv", "imod", "ipow", "iand", "ior", "ixor", "imatmul"):
    setattr(ndarray, f"__{_name}__", _operator(f"__{_name}__"))


def _inplace(name):
    def op(self, other):
        COUNTS.calls[_site()] += 1
        getattr(self._a, name)(_unwrap(other))
        return self

    op.__name__ = name
    return op


for _name in ("iadd", "isub", "imul", "itruediv", "ifloordiv", "imod", "ipow", "iand", "ior", "ixor"):
    setattr(ndarray, f"__{_name}__", _inplace(f"__{_name}__"))


# --- the module ------------------------------------------------------------------------------------------------
def asarray(a, dtype=None, order=None, blocking=False):
    if isinstance(a, ndarray):
        if dtype is None or np.dtype(dtype) == a.dtype:
            return a
        return _call(np.asarray, (a,), {"dtype": dtype})
    COUNTS.h2d[_site(caller=True)] += 1
    return ndarray(np.array(a, dtype=dtype, order=order or "K", copy=True))


def array(a, dtype=None, copy=True, order="K", ndmin=0):
    if isinstance(a, ndarray):
        return _call(np.array, (a,), {"dtype": dtype, "copy": copy, "order": order, "ndmin": ndmin})
    COUNTS.h2d[_site(caller=True)] += 1
    return ndarray(np.array(a, dtype=dtype, copy=True, order=order, ndmin=ndmin))


def asnumpy(a, stream=None, order="C", out=None, blocking=True):
    if isinstance(a, ndarray):
        COUNTS.d2h[_site(caller=True)] += 1
        return a._a.copy()
    return np.asarray(a, order=order)


class _Device:
    """cupy.cuda.Device: `with device:`, use(), synchronize(); one device, nothing to wait for."""

    id = 0

    def __init__(self, device=0):
        self.id = int(device)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def use(self):
        pass

    def synchronize(self):
        COUNTS.syncs = getattr(COUNTS, "syncs", 0) + 1


_DEVICE = _Device()


class _Event:
    def __init__(self, *a, **k):
        import time

        self._clock, self.t = time.perf_counter, None

    def record(self, stream=None):
        self.t = self._clock()

    def synchronize(self):
        pass


def _elapsed(start, end) -> float:
    return (end.t - start.t) * 1000.0


class _Pool:
    def used_bytes(self):
        return 0

    def total_bytes(self):
        return 0

    def free_all_blocks(self):
        pass


class _Runtime:
    """cupy.cuda.runtime's questions, answered for one pretend device with 16 GiB."""

    @staticmethod
    def getDeviceCount():  # noqa: N802 - CUDA's names
        return 1

    @staticmethod
    def getDeviceProperties(device):  # noqa: N802
        return {"name": b"strict CuPy stand-in (NumPy, no GPU)", "totalGlobalMem": 16 << 30}

    @staticmethod
    def memGetInfo():  # noqa: N802
        return 16 << 30, 16 << 30

    @staticmethod
    def runtimeGetVersion():  # noqa: N802
        return 0

    @staticmethod
    def driverGetVersion():  # noqa: N802
        return 0


class _Kernel:
    """cupy.ElementwiseKernel: the CUDA body compiled for the CPU (tests/cuda_exec.py), run on the arrays'
    NumPy buffers; one call a launch."""

    def __init__(self, in_params, out_params, operation, name="kernel", preamble="", **kwargs):
        from .backends.test_cupy_launch_standin import StandInKernel

        self.kernel = StandInKernel(in_params, out_params, operation, name, preamble)

    def __call__(self, *args, **kwargs):
        COUNTS.calls[_site()] += 1
        return _wrap(self.kernel(*(_unwrap(a) for a in args), **kwargs))


ALLOCATIONS = ("empty", "empty_like")  # cupy.empty: memory from the pool, no launch (zeros and ones launch a fill)


class _Ufunc:
    """A NumPy ufunc as CuPy offers it: called, or through .at (an unbuffered scatter, in place), .reduce,
    .accumulate and .outer; each a counted array call."""

    def __init__(self, ufunc):
        self.ufunc, self.__name__ = ufunc, ufunc.__name__

    def __call__(self, *args, **kwargs):
        return _call(self.ufunc, args, kwargs)

    def at(self, a, indices, b=None):
        COUNTS.calls[_site()] += 1
        self.ufunc.at(_unwrap(a), _unwrap(indices), *([] if b is None else [_unwrap(b)]))

    def __getattr__(self, name):
        method = getattr(self.ufunc, name)
        return lambda *a, **k: _call(method, a, k)


def _module() -> types.ModuleType:
    """A fresh `cupy` module: the names above, and every other NumPy function counted as device work."""
    cp = types.ModuleType("cupy")
    cp.__version__ = "0-strict-standin"
    cp.ndarray, cp.asarray, cp.array, cp.asnumpy = ndarray, asarray, array, asnumpy
    cp.ElementwiseKernel = _Kernel
    cp.get_default_memory_pool = lambda: _Pool()
    cp.get_default_pinned_memory_pool = lambda: _Pool()
    cuda = types.ModuleType("cupy.cuda")
    cuda.Device, cuda.Event, cuda.get_elapsed_time, cuda.runtime = _Device, _Event, _elapsed, _Runtime
    cp.cuda = cuda
    for name in ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint32", "uint64",
                 "bool_", "intp", "dtype", "newaxis", "inf", "nan", "pi", "e", "finfo", "iinfo", "result_type",
                 "can_cast", "promote_types", "isscalar", "ndim", "shape"):
        setattr(cp, name, getattr(np, name))

    def missing(name):
        fn = getattr(np, name)
        if isinstance(fn, np.ufunc):
            return _Ufunc(fn)
        if name in ALLOCATIONS:  # memory from the pool, no kernel: counted apart
            def allocate(*a, **k):
                COUNTS.allocs[_site()] += 1
                return _wrap(fn(*(_unwrap(v) for v in a), **{key: _unwrap(v) for key, v in k.items()}))

            return allocate
        if isinstance(fn, types.ModuleType):
            raise AttributeError(f"the strict stand-in has no cupy.{name} (NumPy's is a module)")
        if not callable(fn):
            return fn
        wrapped = lambda *a, **k: _call(fn, a, k)  # noqa: E731
        wrapped.__name__ = name
        return wrapped

    cp.__getattr__ = missing
    return cp


def install(sites: bool = True):
    """`import cupy` gives the strict stand-in from now on, in this process (tests/standin_site does it at start,
    without call sites)."""
    COUNTS.sites = sites
    cp = _module()
    sys.modules["cupy"], sys.modules["cupy.cuda"] = cp, cp.cuda
    return cp


@contextlib.contextmanager
def installed():
    """`import cupy` gives the strict stand-in inside the block; counts start at zero."""
    saved = {k: v for k, v in sys.modules.items() if k == "cupy" or k.startswith("cupy.")}
    for k in saved:
        del sys.modules[k]
    cp = _module()
    sys.modules["cupy"], sys.modules["cupy.cuda"] = cp, cp.cuda
    COUNTS.reset()
    try:
        yield cp
    finally:
        for k in [k for k in sys.modules if k == "cupy" or k.startswith("cupy.")]:
            del sys.modules[k]
        sys.modules.update(saved)


TRAIN_SHAPES = {"deepconvnet": (1, 28, 28), "alexnet": (3, 227, 227), "resnet20": (3, 32, 32)}


def train_step_counts(name: str, batch: int = 2) -> Counts:
    """The stand-in's counts for one training step (forward, backward, Adam) of model `name` on the GPU backend,
    as the trainer runs it (its labels checked once, up front), after a first step that allocates Adam's state;
    call inside installed() with the GPU backend active. (tests/backends/test_strict_standin.py asserts budgets on them,
    benchmarks/standin_counts.py records them.)"""
    import contextlib

    from deepnet import backends, models, optimizers

    try:
        from deepnet.layers.loss import labels_checked
    except ImportError:  # a deepnet from before the trainer checked labels once: the loss checks every batch
        labels_checked = contextlib.nullcontext
    bk = backends.current()
    rng = np.random.default_rng(0)
    model = models.create(name, input_shape=TRAIN_SHAPES[name])
    opt = optimizers.Adam(lr=0.001)
    x = bk.to_device(rng.random((batch, *TRAIN_SHAPES[name]), dtype=np.float32))
    t = bk.to_device(rng.integers(0, 10, batch))
    with labels_checked():
        for _ in range(2):
            COUNTS.reset()
            model.train_step(x, t, opt)
    return COUNTS
