"""Safe, atomic files: arrays as .npz (never pickle), written so a crash cannot leave half a file; and
safetensors files (the `onnx`/`style` extras' safetensors package), read and checked the same way: a path
ending .safetensors is read as one wherever deepnet reads arrays (eval, predict, --init-from), its
metadata kept as JSON under the "deepnet" key of the file's string metadata.

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
import zlib
from pathlib import Path

import numpy as np

from .errors import BadFile, MissingDependency, MissingFile

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
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename is None and exc.errno is not None:
            # a failed write (a full disk) names no file: name the one being written, once, without the
            # chain of cleanup errors after it
            raise OSError(exc.errno, exc.strerror, str(path)) from None
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


#: What each file deepnet writes holds, named in its metadata as "format", beside the "version" of that
#: format's layout (FORMAT_VERSION when written). A reader names another format for what it is
#: (training/checkpoint.refuse_other_formats) and refuses a version newer than it knows; a file written before
#: formats were named is told by its other keys.
FORMATS = {
    "deepnet-checkpoint": "a training checkpoint (deepnet train)",
    "deepnet-weights": "a model's weights (model.save)",
    "deepnet-gan": "a deepnet gan checkpoint (a generator and a discriminator)",
    "deepnet-dqn": "a deepnet dqn checkpoint (Q-networks, their optimizer and replay buffer)",
    "deepnet-dqn-weights": "a deepnet dqn run's best Q-network",
    "deepnet-packed-binarynet": "a packed BinaryNet (deepnet binarize --out)",
}
FORMAT_VERSION = 1


def stamp(fmt: str) -> dict:
    """The metadata that names a file's format and version."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown file format {fmt!r}")
    return {"format": fmt, "version": FORMAT_VERSION}


def check_version(path, meta: dict) -> None:
    """Refuse a file whose format version is newer than this deepnet reads, or not a version at all."""
    version = meta.get("version", FORMAT_VERSION)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise BadFile(f"{path}: 'version' should be a format version (1, 2, ...); got {version!r}")
    if version > FORMAT_VERSION:
        raise BadFile(f"{path} was written by a newer deepnet (its format version {version}; this one reads up to "
                      f"{FORMAT_VERSION}): upgrade deepnet to read it")


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


#: Largest metadata a file may carry, and largest total of arrays read unless the caller allows more:
#: both far above any real checkpoint (VGG-16 with Adam's state is 1.7 GB), far below a zip bomb's claim.
MAX_META_BYTES = 16 << 20
MAX_ARRAY_BYTES = 8 << 30


SAFETENSORS_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "I64": "int64", "I32": "int32",
                      "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool"}


def is_safetensors(path) -> bool:
    return Path(path).suffix == ".safetensors"


def _safetensors_index(path: Path) -> tuple[dict, dict]:
    """A safetensors file's header, read here (8 bytes of length, then JSON) and checked: bounded, every
    tensor's byte range inside the file and as long as its shape and dtype say."""
    size = path.stat().st_size
    try:
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            if not 2 <= n <= min(MAX_META_BYTES, size - 8):
                raise BadFile(f"{path} is not a readable safetensors file (a header of {n:,} bytes in a file of "
                              f"{size:,})")
            header = json.loads(f.read(n).decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadFile(f"{path} is not a readable safetensors file ({type(exc).__name__}: {exc})") from None
    if not isinstance(header, dict):
        raise BadFile(f"{path}: its header is not a JSON object")
    extra = header.pop("__metadata__", None) or {}
    meta = {}
    if isinstance(extra, dict) and isinstance(extra.get("deepnet"), str):
        try:
            meta = json.loads(extra["deepnet"])
        except ValueError:
            raise BadFile(f"{path}: its 'deepnet' metadata is not JSON") from None
        if not isinstance(meta, dict):
            raise BadFile(f"{path}: its 'deepnet' metadata is a JSON {type(meta).__name__}, not an object")
    index, data = {}, size - 8 - n
    for name, info in header.items():
        try:
            dtype = np.dtype(SAFETENSORS_DTYPES[info["dtype"]])
            shape = tuple(int(d) for d in info["shape"])
            start, end = (int(v) for v in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise BadFile(f"{path}: tensor {name!r} has an unreadable entry ({str(info)[:120]}); dtypes read: "
                          f"{', '.join(SAFETENSORS_DTYPES)}") from None
        if any(d < 0 for d in shape) or not 0 <= start <= end <= data or \
                end - start != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
            raise BadFile(f"{path}: tensor {name!r} declares shape {shape} of {dtype} at bytes {start}-{end} of "
                          f"{data}; they do not agree")
        index[name] = (shape, dtype)
    return index, meta


def save_safetensors(path, arrays: dict, meta: dict | None = None) -> None:
    """Write host arrays and JSON-able `meta` as a safetensors file, atomically."""
    try:
        from safetensors.numpy import save
    except ImportError:
        raise MissingDependency("writing safetensors files needs the safetensors package: pip install "
                                "'deepnet[onnx]'") from None
    blob = save({k: np.ascontiguousarray(a) for k, a in arrays.items()},
                metadata={"deepnet": json.dumps(meta or {})})
    with atomic_open(path, "wb") as f:
        f.write(blob)


def read_index(path) -> tuple[dict, dict]:
    """({name: (shape, dtype)}, meta) of a file written by save_arrays, from the array headers alone:
    no array data is decompressed, so a caller can check the shapes before anything large is read."""
    path = Path(path)
    if not path.is_file():
        raise MissingFile(f"no such file: {path}")
    if is_safetensors(path):
        return _safetensors_index(path)
    index, meta = {}, {}
    try:
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                with z.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                                   (2, 0): np.lib.format.read_array_header_2_0}.get(version)
                    if read_header is None:
                        raise BadFile(f"{path}: array {name!r} uses .npy format {version}; expected 1.0 or 2.0")
                    shape, _, dtype = read_header(f, max_header_size=10000)
                    header = f.tell()
                if dtype.hasobject:
                    raise BadFile(f"{path}: array {name!r} has dtype object; only numeric arrays are read")
                size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
                if info.file_size != header + size:
                    raise BadFile(f"{path}: array {name!r} declares shape {shape} ({size} bytes) but holds "
                                  f"{info.file_size - header} bytes")
                if name == META_KEY:
                    if size > MAX_META_BYTES:
                        raise BadFile(f"{path}: metadata of {size:,} bytes (at most {MAX_META_BYTES:,} are read)")
                    meta = json.loads(np.lib.format.read_array(z.open(info), allow_pickle=False)
                                      .tobytes().decode("utf-8"))
                    if not isinstance(meta, dict):
                        raise BadFile(f"{path}: metadata is a JSON {type(meta).__name__}, not an object")
                else:
                    index[name] = (tuple(int(d) for d in shape), dtype)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, UnicodeDecodeError, zlib.error) as exc:
        if isinstance(exc, BadFile):
            raise
        raise BadFile(f"{path} is not a readable deepnet .npz file ({type(exc).__name__}: {exc})") from None
    return index, meta


def load_arrays(path, expect: dict | None = None, max_bytes: int = MAX_ARRAY_BYTES) -> tuple[dict, dict]:
    """(arrays, meta) from a file written by save_arrays; pickled objects are refused.

    The headers are read first: with `expect` ({name: shape}) every array must have that shape before
    any is read (names not in `expect` are skipped), and the arrays read may total at most `max_bytes`."""
    path = Path(path)
    index, meta = read_index(path)
    if expect is not None:
        wrong = [f"{k}: {index[k][0]} (expected {tuple(v)})" for k, v in expect.items()
                 if k in index and tuple(index[k][0]) != tuple(v)]
        if wrong:
            raise BadFile(f"{path}: arrays of the wrong shape: {'; '.join(wrong[:5])}")
        index = {k: v for k, v in index.items() if k in expect}
    total = sum(int(np.prod(shape, dtype=np.int64)) * dtype.itemsize for shape, dtype in index.values())
    if total > max_bytes:
        raise BadFile(f"{path}: its arrays would take {total / 2**30:.1f} GiB in memory "
                      f"(at most {max_bytes / 2**30:.1f} GiB are read)")
    if is_safetensors(path):
        try:
            from safetensors import safe_open
        except ImportError:
            raise MissingDependency("reading safetensors files needs the safetensors package: pip install "
                                    "'deepnet[onnx]'") from None
        try:
            with safe_open(str(path), framework="numpy") as f:
                return {k: f.get_tensor(k) for k in index}, meta
        except Exception as exc:  # the package's own errors for a file that passed the header check
            raise BadFile(f"{path} is not a readable safetensors file ({exc})") from None
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in index}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, zlib.error) as exc:
        raise BadFile(f"{path} is not a readable deepnet .npz file ({type(exc).__name__}: {exc})") from None
    return arrays, meta
