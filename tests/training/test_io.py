import numpy as np
import pytest

from deepnet import io


def test_atomic_write_survives_a_crash_mid_write(tmp_path):
    path = tmp_path / "ckpt.npz"
    io.save_arrays(path, {"w": np.ones(3)}, {"epoch": 1})
    good = path.read_bytes()
    with pytest.raises(RuntimeError):
        with io.atomic_open(path) as f:
            f.write(b"half a file")
            raise RuntimeError("simulated crash")
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.npz"]  # no temporary left behind
    arrays, meta = io.load_arrays(path)
    assert meta == {"epoch": 1}


def test_pickled_npz_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, obj=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="dtype object"):
        io.load_arrays(path)


def test_garbage_file_is_a_clear_error(tmp_path):
    path = tmp_path / "x.npz"
    path.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=str(path)):
        io.load_arrays(path)
    with pytest.raises(FileNotFoundError, match="no such file"):
        io.load_arrays(tmp_path / "missing.npz")
