"""The IDX file format of MNIST and Fashion-MNIST (LeCun et al.), read and written.

An IDX file is: two zero bytes, a type code (0x08 = unsigned byte), the number of
dimensions, each dimension as a big-endian int32, then the data in C order.
"""
from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np

from ..errors import UserError

#: The largest IDX array read (MNIST's training images are 47 MB): a file claiming more is refused
#: from its header, before anything is decompressed.
MAX_BYTES = 1 << 29

UBYTE = 0x08


class IdxError(UserError, ValueError):
    """An IDX file is malformed or truncated; the message names the file."""


def encode(array: np.ndarray) -> bytes:
    """The uncompressed IDX bytes of a uint8 array."""
    array = np.ascontiguousarray(array)
    if array.dtype != np.uint8:
        raise TypeError(f"IDX encoding here is for uint8 arrays; got {array.dtype}")
    header = bytes([0, 0, UBYTE, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def sha256_of(array: np.ndarray) -> str:
    """sha256 of the array's uncompressed IDX encoding: comparable with the official files' checksums."""
    array = np.ascontiguousarray(array)
    h = hashlib.sha256(bytes([0, 0, UBYTE, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape))
    h.update(memoryview(array).cast("B"))
    return h.hexdigest()


def _header(raw: bytes, source: str) -> tuple:
    """The shape an IDX header promises, from the header's bytes (raw may run on into the data)."""
    if len(raw) < 4:
        raise IdxError(f"{source}: {len(raw)} bytes is too short for an IDX header")
    zero1, zero2, code, ndim = raw[:4]
    if zero1 or zero2 or code != UBYTE or not 1 <= ndim <= 4:
        raise IdxError(f"{source}: bad IDX magic {raw[:4].hex()} (expected 000008 then 01..04 dimensions)")
    if len(raw) < 4 + 4 * ndim:
        raise IdxError(f"{source}: truncated IDX header")
    return struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])


def read(path, max_bytes: int = MAX_BYTES) -> np.ndarray:
    """A uint8 array from an IDX file, gzip-compressed (.gz) or not (see read_stream)."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            return read_stream(f, str(path), max_bytes)
    except (OSError, EOFError) as exc:  # gzip raises these for truncated or non-gzip files
        raise IdxError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from None


def read_stream(f, source: str, max_bytes: int = MAX_BYTES) -> np.ndarray:
    """A uint8 array from an open IDX stream: the header is read first, then the data only up to the
    size it promises, so a gzip bomb is never decompressed past that."""
    head = f.read(4)
    ndim = head[3] if len(head) == 4 else 0
    head += f.read(4 * ndim) if 1 <= ndim <= 4 else b""
    shape = _header(head, source)
    size = int(np.prod(shape, dtype=np.int64))
    if size > max_bytes:
        raise IdxError(f"{source}: IDX header promises shape {shape} ({size:,} bytes); at most {max_bytes:,} "
                       f"bytes are read")
    data = f.read(size + 1)  # one byte more than promised shows trailing data
    if len(data) != size:
        what = "more" if len(data) > size else f"only {len(data):,}"
        raise IdxError(f"{source}: IDX header promises shape {shape} ({size:,} bytes of data) but the file has "
                       f"{what} bytes (truncated or corrupt)")
    return np.frombuffer(data, dtype=np.uint8).reshape(shape).copy()


def write(path, array: np.ndarray) -> None:
    path = Path(path)
    data = encode(array)
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
