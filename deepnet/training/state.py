"""What a run's checkpoint must hold to be resumed, declared by each kind of run and checked by one checker.

A run kind (the GAN, the DQN) declares its checkpoint as a `Declared`: its format, the metadata's fields
(deepnet.validation), and the arrays with their shapes, required or optional. `check` reads only the file's
metadata and array headers: a file of another kind, a value out of bounds, an array missing, unknown or of
another shape is refused (BadFile) before any array is read or any network built, so a hostile file cannot make
deepnet allocate what it names.
"""
from __future__ import annotations

import dataclasses

from .. import io
from ..errors import BadFile
from ..validation import check_file


@dataclasses.dataclass
class Declared:
    format: str                     # the metadata's "format" (io.FORMATS)
    what: str                       # what the checkpoint is, in words ("deepnet gan checkpoint")
    legacy_model: str | None = None  # a file written before formats were named: its metadata's "model"
    fields: dict = dataclasses.field(default_factory=dict)    # metadata key -> validation.Field
    arrays: dict = dataclasses.field(default_factory=dict)    # required: name -> shape
    optional: dict = dataclasses.field(default_factory=dict)  # may be absent: name -> shape


def check_meta(path, meta: dict, declared: Declared) -> None:
    """The file is a checkpoint of this kind (by its format, or an older file's model), of a version this
    deepnet reads, whose metadata holds the declared fields. A kind whose arrays depend on its metadata checks
    this first, then declares the arrays from the values (check_arrays)."""
    io.check_version(path, meta)
    fmt = meta.get("format")
    ok = fmt == declared.format if fmt is not None else meta.get("model") == declared.legacy_model
    if not ok:
        raise BadFile(f"{path}: not a {declared.what} (its metadata names {fmt or meta.get('model')!r})")
    check_file(path, meta, declared.fields)


def check(path, index: dict, meta: dict, declared: Declared) -> dict:
    """{array name: shape} of a checkpoint that holds what `declared` says; raises BadFile naming what differs.
    `index` is io.read_index(path)[0]."""
    check_meta(path, meta, declared)
    return check_arrays(path, index, declared)


def check_arrays(path, index: dict, declared: Declared) -> dict:
    """{array name: shape}: every required array there, none unknown, each of its declared shape (from the
    headers in `index`)."""
    expect = {**declared.optional, **declared.arrays}
    absent = [k for k in declared.arrays if k not in index]
    if absent:
        raise BadFile(f"{path}: arrays missing: {', '.join(absent[:4])}")
    unknown = [k for k in index if k not in expect]
    if unknown:
        raise BadFile(f"{path}: arrays that belong to no part of this {declared.what}: {', '.join(unknown[:4])}")
    wrong = [f"{k} {index[k][0]} (expected {tuple(expect[k])})" for k in index
             if tuple(index[k][0]) != tuple(expect[k])]
    if wrong:
        raise BadFile(f"{path}: arrays of the wrong shape: {'; '.join(wrong[:4])}")
    return {k: tuple(expect[k]) for k in index}
