"""Safe, atomic files: arrays as .npz (never pickle), written so a crash cannot leave half a file.

Every write goes to a temporary file in the destination's directory, is flushed
and fsync'ed, and then replaces the destination with os.replace (atomic on POSIX
and Windows). Metadata travels inside the .npz as a JSON string.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

META_KEY = "__meta__"


@contextlib.contextmanager
def atomic_open(path, mode: str = "wb"):
    """Open a temporary file beside `path`; on a clean exit it replaces `path`, on an error it vanishes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a finished file gets the usual permissions
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def write_json(path, obj) -> None:
    with atomic_open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=False)
        f.write("\n")


def save_arrays(path, arrays: dict, meta: dict | None = None, compress: bool = False) -> None:
    """Write host arrays (name -> np.ndarray) and JSON-able `meta` to `path` atomically."""
    out = {}
    for name, a in arrays.items():
        if name == META_KEY:
            raise ValueError(f"{META_KEY!r} is reserved")
        a = np.asarray(a)
        if a.dtype == object:
            raise TypeError(f"array {name!r} has dtype object; only numeric arrays are saved")
        out[name] = a
    if meta is not None:
        out[META_KEY] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    with atomic_open(path, "wb") as f:
        (np.savez_compressed if compress else np.savez)(f, **out)


def load_arrays(path) -> tuple[dict, dict]:
    """(arrays, meta) from a file written by save_arrays; pickled objects are refused."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise ValueError(f"{path} is not a readable deepnet .npz file ({type(exc).__name__}: {exc})") from exc
    meta_raw = arrays.pop(META_KEY, None)
    meta = json.loads(meta_raw.tobytes().decode("utf-8")) if meta_raw is not None else {}
    return arrays, meta
