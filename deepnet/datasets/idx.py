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

UBYTE = 0x08


class IdxError(ValueError):
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


def decode(raw: bytes, source: str = "<bytes>") -> np.ndarray:
    if len(raw) < 4:
        raise IdxError(f"{source}: {len(raw)} bytes is too short for an IDX header")
    zero1, zero2, code, ndim = raw[:4]
    if zero1 or zero2 or code != UBYTE or not 1 <= ndim <= 4:
        raise IdxError(f"{source}: bad IDX magic {raw[:4].hex()} (expected 000008 then 01..04 dimensions)")
    if len(raw) < 4 + 4 * ndim:
        raise IdxError(f"{source}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    expected = int(np.prod(shape)) + 4 + 4 * ndim
    if len(raw) != expected:
        raise IdxError(f"{source}: IDX header promises shape {shape} ({expected} bytes) but the file has {len(raw)} "
                       f"bytes (truncated or corrupt)")
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape).copy()


def read(path) -> np.ndarray:
    """A uint8 array from an IDX file, gzip-compressed (.gz) or not."""
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                raw = f.read()
        else:
            raw = path.read_bytes()
    except (OSError, EOFError) as exc:  # gzip raises these for truncated or non-gzip files
        raise IdxError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from exc
    return decode(raw, str(path))


def write(path, array: np.ndarray) -> None:
    path = Path(path)
    data = encode(array)
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
