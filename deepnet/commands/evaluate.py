"""`deepnet eval`: test accuracy of trained runs, in float32 and a second dtype, and their ensemble."""
from __future__ import annotations

from .. import coco, datasets, tasks
from ..backends import current
from ..backends.settings import parse_dtype
from ..datasets import loaders
from ..datasets.scenes import describe_iou
from ..errors import InvalidValue
from ..loading import load_model

BATCH, DETECTOR_BATCH = 500, 100  # --batch-size's defaults: a detector's pass holds its proposals' features too


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


def evaluate_runs(runs, dtype="float32", dataset=None, batch_size=None, data_dir=None, log=print) -> int:
    try:
        dtype = parse_dtype(dtype, "--dtype").name
    except ValueError as exc:
        raise InvalidValue(str(exc)) from None
    if batch_size is not None and batch_size < 1:
        raise InvalidValue(f"--batch-size must be at least 1; got {batch_size}")
    bk = current()
    dtypes = ["float32"] + ([dtype] if dtype != "float32" else [])
    members = {dt: [] for dt in dtypes}
    data = None
    kinds = {}
    for run in runs:
        for dt in dtypes:
            model, meta = load_model(run, dt)
            task = tasks.of(model)
            if task is not None and not task.ensembles:
                if len(runs) > 1:
                    raise InvalidValue(f"{meta['path']} is a {type(model).__name__}: an ensemble averages classifiers' "
                                       f"outputs; evaluate it alone")
                if task is tasks.CAPTION:
                    raise InvalidValue(f"{meta['path']} writes captions: score it with deepnet caption {run} (exact "
                                       f"match) or benchmarks/captioning.py (BLEU)")
                _evaluate_detector(model, meta, dt, dataset, batch_size or DETECTOR_BATCH, data_dir, log)
                continue
            kinds.setdefault(task.noun if task is not None else "model of another kind", meta["path"])
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
            p, seconds = probabilities(model, xs[dt], batch_size or BATCH)
            if not bk.item(bk.xp.isfinite(p).all()):
                advice = "; evaluate it in float32" if dt != "float32" else " (its weights are finite: the sums " \
                    "they make are not)"
                raise InvalidValue(f"{meta['path']}: in {dt} its outputs are not finite (the activations overflow "
                                   f"{dt}'s range), so no accuracy is reported{advice}")
            acc = bk.item((p.argmax(axis=1) == t).mean())
            members[dt].append(p)
            log(f"{meta['path']}: {dt:<8} test accuracy {100 * acc:.2f}%{' of pixels' if t.ndim == 3 else ''} "
                f"({len(t)} images, {len(t) / seconds:,.0f} images/s{_precision_note(dt)})" + _iou_note(p, t, data))
    if len(runs) > 1:
        for dt in dtypes:
            acc = bk.item((ensemble(members[dt]).argmax(axis=1) == t).mean())
            log(f"ensemble of {len(runs)} ({dt}): test accuracy {100 * acc:.2f}%")
    return 0


def _evaluate_detector(model, meta, dt, dataset, batch_size, data_dir, log) -> None:
    """A detector's COCO metrics on its data set's 1,000 test scenes, and its images per second."""
    name = dataset or meta["dataset"]
    if loaders.dataset_key(name) not in loaders.DETECTION:
        raise InvalidValue(f"{meta['path']} is a detector; --dataset must be one of: {', '.join(loaders.DETECTION)}; "
                           f"got {name}")
    test = loaders.detection_test_scenes(name, source_dir=data_dir)
    x = datasets.to_model_input(test.x, dt)
    if tuple(x.shape[1:]) != tuple(model.input_shape):
        raise InvalidValue(f"{meta['path']} takes input {model.input_shape}, but {name}'s scenes are "
                           f"{tuple(x.shape[1:])}; give the --dataset it was trained on")
    bk = current()
    model.detect(x[:batch_size], batch_size=batch_size)  # warm-up
    bk.synchronize()
    with bk.timer() as t:
        found = model.detect(x, batch_size=batch_size)
    scores = coco.evaluate(found, test.y, model.input_shape[1:], loaders.CLASS_NAMES["mnist_boxes"])
    log(f"{meta['path']}: {dt:<8} {coco.describe(scores)} ({len(x)} scenes, {len(x) / t.seconds:,.0f} images/s)")


def _iou_note(p, t, data) -> str:
    """For per-pixel labels: each class's intersection over union and their mean."""
    if t.ndim != 3:
        return ""
    bk = current()
    return "; IoU " + describe_iou(bk.to_numpy(p.argmax(axis=1)), bk.to_numpy(t), data.classes)


def _precision_note(dt: str) -> str:
    if dt == "float16" and not current().is_gpu:
        return "; weights and activations stored in float16, matrix products accumulated in float32"
    return ""


NAME = "eval"
HELP = "test accuracy of trained runs (several: their ensemble)"


def add_arguments(p) -> None:
    p.add_argument("runs", nargs="+", metavar="RUN_OR_WEIGHTS", help="run directories or weights/checkpoint files")
    p.add_argument("--dtype", default="float32", help="also evaluate in this dtype beside float32 (e.g. float16)")
    p.add_argument("--dataset", default=None, help="default: the run's dataset (mnist for a bare weights file)")
    p.add_argument("--batch-size", type=int, default=None, help="samples a forward pass (default 500; a detector's "
                                                                "100): memory grows with it")
    p.add_argument("--data-dir", default=None)


def run(args) -> int:
    return evaluate_runs(args.runs, dtype=args.dtype, dataset=args.dataset, batch_size=args.batch_size,
                         data_dir=args.data_dir)
