"""`deepnet eval`: test accuracy of trained runs, in float32 and a second dtype, and their ensemble."""
from __future__ import annotations

from . import datasets, io, models
from .backends import current
from .backends.settings import parse_dtype
from .errors import BadFile, InvalidValue
from .models import limits
from .training import checkpoint


def load_model_meta(path, meta: dict) -> tuple[str, tuple, int, dict]:
    """(model name, input shape, classes, {array name: shape}) that a file's metadata describes, each
    checked against sane bounds and nothing allocated: what is built is known before it is built."""
    cfg = meta.get("config") if isinstance(meta.get("config"), dict) else {}
    name = cfg.get("model") or meta.get("model_name") or meta.get("model") or "deepconvnet"
    try:
        name = limits.check_name(name, "model")
        shape = limits.check_input_shape(meta.get("input_shape", [1, 28, 28]), "input_shape")
        classes = limits.check_classes(meta.get("num_classes", 10), "num_classes")
        shapes = limits.state_shapes(name, input_shape=shape, num_classes=classes)
    except InvalidValue as exc:
        raise BadFile(f"{path}: its metadata does not describe a model deepnet builds: {exc}") from None
    return name, shape, classes, shapes


def load_model(run_or_file, dtype="float32"):
    """(model, metadata) for a run directory or a weights/checkpoint file, built in `dtype`.

    The file's metadata names the model; it is checked against sane bounds, and the arrays' shapes (read
    from their headers) against the model it names, before the model is built or any array is read."""
    path = checkpoint.find(run_or_file)
    index, meta = io.read_index(path)
    checkpoint.refuse_other_formats(path, meta)
    name, shape, classes, shapes = load_model_meta(path, meta)
    contents = checkpoint.read(path, shapes, index=index)
    model = models.create(name, input_shape=shape, num_classes=classes, dtype=dtype)
    checkpoint.load(path, model, contents=contents)
    cfg = meta.get("config") if isinstance(meta.get("config"), dict) else {}
    dataset = cfg.get("dataset", "mnist")
    return model, {**meta, "path": str(path), "dataset": dataset if isinstance(dataset, str) else "mnist"}


def output_kind(model) -> str:
    """'classifier' (one score per class for a whole image), 'segmenter' (a score map: a class per pixel)
    or 'other', from the layers' output shapes."""
    from .layers.base import output_shape_of

    try:
        out = output_shape_of(model.layers.values(), model.input_shape)
    except (ValueError, NotImplementedError, AttributeError, TypeError):
        return "other"
    return {1: "classifier", 3: "segmenter"}.get(len(out), "other")


def load_classifier(run_or_file, purpose: str, dtype="float32", input_shape=None, classes=None):
    """load_model for a use that needs a classifier (one score per class for a whole image), of
    `input_shape` and `classes` where given; anything else is refused, saying what `purpose` needs."""
    model, meta = load_model(run_or_file, dtype)
    kind = output_kind(model)
    if kind != "classifier":
        what = "scores every pixel (a segmentation model)" if kind == "segmenter" else "is not a classifier"
        raise InvalidValue(f"{meta['path']} {what}; {purpose} needs a classifier such as a DeepConvNet run")
    if input_shape is not None and tuple(model.input_shape or ()) != tuple(input_shape):
        raise InvalidValue(f"{meta['path']} takes input {'x'.join(map(str, model.input_shape or ()))}; {purpose} "
                           f"needs a classifier of {'x'.join(map(str, input_shape))} images")
    if classes is not None and model.num_classes != classes:
        raise InvalidValue(f"{meta['path']} scores {model.num_classes} classes; {purpose} needs {classes}")
    return model, meta


def probabilities(model, x, batch_size: int):
    """Softmax outputs for every sample, as a float32 device array, and the seconds it took."""
    bk = current()
    model.predict(x[:batch_size], batch_size)  # warm-up: first-call allocations are not timed
    bk.synchronize()
    with bk.timer() as t:
        out = model.predict(x, batch_size, probabilities=True)
    return out, t.seconds


def ensemble(probs: list):
    """The mean of the members' softmax outputs."""
    return sum(probs[1:], probs[0]) / len(probs)


def evaluate_runs(runs, dtype="float32", dataset=None, batch_size=500, data_dir=None, log=print) -> int:
    try:
        dtype = parse_dtype(dtype, "--dtype").name
    except ValueError as exc:
        raise InvalidValue(str(exc)) from None
    if batch_size < 1:
        raise InvalidValue(f"--batch-size must be at least 1; got {batch_size}")
    bk = current()
    dtypes = ["float32"] + ([dtype] if dtype != "float32" else [])
    members = {dt: [] for dt in dtypes}
    data = None
    kinds = {}
    for run in runs:
        for dt in dtypes:
            model, meta = load_model(run, dt)
            kinds.setdefault(output_kind(model), meta["path"])
            if len(kinds) > 1:
                (a, pa), (b, pb) = kinds.items()
                raise InvalidValue(f"an ensemble averages outputs of one kind, but {pa} is a {a} and {pb} a {b}; "
                                   f"evaluate them separately")
            if data is None:
                data = datasets.load(dataset or meta["dataset"], source_dir=data_dir)
                t = bk.to_device(data.test.y)
                xs = {}
            if dt not in xs:
                xs[dt] = datasets.to_model_input(data.test.x, dt)
            if model.input_shape is not None and tuple(xs[dt].shape[1:]) != tuple(model.input_shape):
                raise InvalidValue(f"{meta['path']} takes input {model.input_shape}, but {data.name}'s images are "
                                   f"{tuple(xs[dt].shape[1:])}; give the --dataset it was trained on")
            p, seconds = probabilities(model, xs[dt], batch_size)
            if not bool(bk.xp.isfinite(p).all()):
                raise InvalidValue(f"{meta['path']}: in {dt} its outputs are not finite (the activations overflow "
                                   f"{dt}'s range), so no accuracy is reported; evaluate it in float32")
            acc = float((p.argmax(axis=1) == t).mean())
            members[dt].append(p)
            log(f"{meta['path']}: {dt:<8} test accuracy {100 * acc:.2f}%{' of pixels' if t.ndim == 3 else ''} "
                f"({len(t)} images, {len(t) / seconds:,.0f} images/s{_precision_note(dt)})" + _iou_note(p, t, data))
    if len(runs) > 1:
        for dt in dtypes:
            acc = float((ensemble(members[dt]).argmax(axis=1) == t).mean())
            log(f"ensemble of {len(runs)} ({dt}): test accuracy {100 * acc:.2f}%")
    return 0


def _iou_note(p, t, data) -> str:
    """For per-pixel labels: each class's intersection over union and their mean."""
    if t.ndim != 3:
        return ""
    from .datasets.scenes import describe_iou

    bk = current()
    return "; IoU " + describe_iou(bk.to_numpy(p.argmax(axis=1)), bk.to_numpy(t), data.classes)


def _precision_note(dt: str) -> str:
    if dt == "float16" and not current().is_gpu:
        return "; weights and activations stored in float16, matrix products accumulated in float32"
    return ""
