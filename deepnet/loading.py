"""Loading a trained model from a run directory or a weights file, checked before it is built: the library
under `deepnet eval`, `predict`, `scan`, `binarize` and the GAN's judge."""
from __future__ import annotations

from . import io, models, tasks
from . import onnx as donnx
from .errors import BadFile, InvalidValue
from .models import check_name, limits, state_shapes
from .training import checkpoint


def load_model_meta(path, meta: dict) -> tuple[str, tuple, int, dict]:
    """(model name, input shape, classes, {array name: shape}) that a file's metadata describes, each
    checked against sane bounds and nothing allocated: what is built is known before it is built."""
    cfg = meta.get("config") if isinstance(meta.get("config"), dict) else {}
    name = cfg.get("model") or meta.get("model_name") or meta.get("model") or "deepconvnet"
    try:
        name = check_name(name, "model")
        shape = limits.check_input_shape(meta.get("input_shape", [1, 28, 28]), "input_shape")
        classes = limits.check_classes(meta.get("num_classes", 10), "num_classes")
        shapes = state_shapes(name, input_shape=shape, num_classes=classes)
    except (InvalidValue, ValueError) as exc:  # ValueError: a model's constructor refusing the input shape
        detail = exc.render(repr) if isinstance(exc, InvalidValue) else str(exc)
        raise BadFile(f"{path}: its metadata does not describe a model deepnet builds: {detail}") from None
    return name, shape, classes, shapes


def load_model(run_or_file, dtype="float32"):
    """(model, metadata) for a run directory or a weights/checkpoint file, built in `dtype`.

    The file's metadata names the model; it is checked against sane bounds, and the arrays' shapes (read
    from their headers) against the model it names, before the model is built or any array is read."""
    path = checkpoint.find(run_or_file)
    if path.suffix == ".onnx":  # a graph from deepnet export or another exporter (deepnet.onnx.load)
        return _load_onnx(path, dtype)
    index, meta = io.read_index(path)
    checkpoint.refuse_other_formats(path, meta)
    name, shape, classes, shapes = load_model_meta(path, meta)
    contents = checkpoint.read(path, shapes, index=index)
    model = models.create(name, input_shape=shape, num_classes=classes, dtype=dtype)
    checkpoint.load(path, model, contents=contents)
    cfg = meta.get("config") if isinstance(meta.get("config"), dict) else {}
    dataset = cfg.get("dataset", "mnist")
    return model, {**meta, "path": str(path), "dataset": dataset if isinstance(dataset, str) else "mnist"}


def _load_onnx(path, dtype):
    model = donnx.load(path, dtype)
    try:
        import onnx

        props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    except Exception:  # read once already by donnx.load; its metadata is optional
        props = {}
    dataset = props.get("dataset") or "mnist"
    return model, {"path": str(path), "dataset": dataset, "model_name": props.get("model", "onnx"), "onnx": props}


def load_classifier(run_or_file, purpose: str, dtype="float32", input_shape=None, classes=None):
    """load_model for a use that needs a classifier (one score per class for a whole image), of
    `input_shape` and `classes` where given; anything else is refused, saying what `purpose` needs."""
    model, meta = load_model(run_or_file, dtype)
    task = tasks.of(model)
    if task is not tasks.CLASSIFY:
        what = "scores every pixel (a segmentation model)" if task is tasks.SEGMENT else "is not a classifier"
        raise InvalidValue(f"{meta['path']} {what}; {purpose} needs a classifier such as a DeepConvNet run")
    if input_shape is not None and tuple(model.input_shape or ()) != tuple(input_shape):
        raise InvalidValue(f"{meta['path']} takes input {'x'.join(map(str, model.input_shape or ()))}; {purpose} "
                           f"needs a classifier of {'x'.join(map(str, input_shape))} images")
    if classes is not None and model.num_classes != classes:
        raise InvalidValue(f"{meta['path']} scores {model.num_classes} classes; {purpose} needs {classes}")
    return model, meta
