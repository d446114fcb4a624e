"""Checkpoints: weights, optimizer state, epoch, RNG state, history and config in one atomic .npz."""
from __future__ import annotations

from pathlib import Path

from .. import io
from ..backends import current
from ..errors import BadFile, MissingFile


def contents(model, optimizer, meta: dict) -> tuple[dict, dict]:
    """(arrays, metadata) of a checkpoint: the model's state as model/NAME, the optimizer's as optim/SLOT/NAME."""
    bk = current()
    arrays = {f"model/{k}": a for k, a in model.state_numpy().items()}
    opt = optimizer.state_dict()
    arrays.update({f"optim/{k}": bk.to_numpy(a) for k, a in opt["arrays"].items()})
    return arrays, {**meta, "model": type(model).__name__, "optimizer": opt["hyper"]}


def save(path, model, optimizer, meta: dict) -> None:
    """Write everything needed to resume to `path`, atomically (see deepnet.io)."""
    arrays, meta = contents(model, optimizer, meta)
    io.save_arrays(path, arrays, {**meta, **io.stamp("deepnet-checkpoint")})


def read(path, shapes: dict | None = None, index: dict | None = None) -> tuple[dict, dict, dict]:
    """(weights, optimizer arrays, metadata) from a checkpoint, or from a plain weights file written by
    model.save() (which has no optimizer arrays). With `shapes` (a model's {name: shape}), every array's
    shape is checked from the file's headers before any array is read: a file for another model, or one
    built to exhaust memory, is refused first. `index` is io.read_index(path)[0], when the caller has it."""
    expect = None
    if shapes is not None:
        if index is None:
            index, _ = io.read_index(path)
        prefixed = any(k.startswith("model/") for k in index)
        expect = {}
        for key in index:
            name = key.split("/", 2)[-1] if key.startswith("optim/") else key.removeprefix("model/")
            if key.startswith("optim/") or not prefixed or key.startswith("model/"):
                if name not in shapes:
                    raise BadFile(f"{path}: array {key!r} belongs to no parameter of the model "
                                  f"({len(shapes)} parameters, e.g. {next(iter(shapes))!r})")
                expect[key] = shapes[name]
    arrays, meta = io.load_arrays(path, expect=expect)
    if not any(k.startswith("model/") for k in arrays):
        return arrays, {}, meta
    weights = {k[len("model/"):]: a for k, a in arrays.items() if k.startswith("model/")}
    optim = {k[len("optim/"):]: a for k, a in arrays.items() if k.startswith("optim/")}
    return weights, optim, meta


def load(path, model, optimizer=None, contents=None) -> dict:
    """Restore `model` (and `optimizer`) from a checkpoint or a weights file; returns the metadata.
    `contents` is what read(path) returned, when the caller has read the file already."""
    if contents is None:
        contents = read(path, {k: tuple(a.shape) for k, a in model.state().items()})
    weights, optim, meta = contents
    model.load_state(weights, source=str(path))
    if optimizer is not None:
        if "optimizer" not in meta:
            raise BadFile(f"{path} holds weights only; resuming needs a checkpoint with optimizer state")
        optimizer.load_state_dict({"hyper": meta["optimizer"], "arrays": optim})
    return meta


#: The metadata's "format" of a packed BinaryNet file (binary_inference.PackedBinaryNet.save).
PACKED_FORMAT = "deepnet-packed-binarynet"
#: The formats that hold a model's weights: a checkpoint's and a weights file's.
MODEL_FORMATS = ("deepnet-checkpoint", "deepnet-weights")


def refuse_other_formats(path, meta: dict) -> None:
    """A file deepnet wrote for something else than a model's weights is named for what it is (by its format,
    or in a file written before formats were named, by its other keys); a newer format version is refused."""
    io.check_version(path, meta)
    fmt = meta.get("format")
    if fmt is not None and fmt not in io.FORMATS:
        raise BadFile(f"{path}: 'format' {fmt!r} is none of deepnet's ({', '.join(io.FORMATS)})")
    if fmt == "deepnet-dqn-weights":
        fmt = "deepnet-dqn"  # refused below as the run's checkpoint is, with the same advice
    if fmt == PACKED_FORMAT:
        raise BadFile(f"{path} is a packed BinaryNet written by deepnet binarize --out: its binary weights are "
                      f"bits for XNOR-popcount inference, not a model's weights; "
                      f"deepnet.binary_inference.load_packed reads it")
    if fmt == "deepnet-dqn" or (fmt is None and meta.get("model") == "dqn"):
        raise BadFile(f"{path} is a deepnet dqn checkpoint (Q-networks, their optimizer and replay buffer), not a "
                      f"trained model's weights; deepnet dqn --out RUN --resume continues it, and "
                      f"deepnet.rl.play_saved(path) plays its network")
    if fmt == "deepnet-gan" or (fmt is None and meta.get("model") == "dcgan"):
        raise BadFile(f"{path} is a deepnet gan checkpoint (a generator and a discriminator), not a classifier's "
                      f"weights; deepnet gan --out RUN --resume continues it")


def find(run_or_file) -> Path:
    """A checkpoint path from a run directory (its best, else last) or a file path."""
    p = Path(run_or_file)
    if p.is_dir():
        for name in ("best.npz", "last.npz"):
            if (p / name).is_file():
                return p / name
        raise MissingFile(f"{p} holds no best.npz or last.npz checkpoint")
    if not p.is_file():
        raise MissingFile(f"no such run directory or weights file: {p}")
    return p
