"""What a model is for: to classify images, segment scenes (a class per pixel), detect objects (boxes) or caption
scenes. A task owns what differs between them above the model: which data sets it trains on, how a trained run
is scored and reported at the end of training, its pictures, and what its ONNX graph gives.

A model class names its task (`task = "detect"`); a plain chain (`Sequential`, task None) classifies or segments
as its output says: a score per class for the whole image, or a score map. `of(model)` gives the Task.
"""
from __future__ import annotations

from . import coco, plots
from .backends import current
from .boxes import match_counts
from .datasets import loaders
from .datasets.detection import objects
from .datasets.scenes import describe_iou
from .errors import InvalidValue, MissingDependency
from .layers.base import output_shape_of


class Task:
    name = ""
    noun = ""           # what a model of this task is called in messages
    samples = "images"  # what a test sample is called in reports
    train_hint = ""     # the command that trains one
    datasets: tuple | None = None  # the data sets (keys) whose labels are this task's; None: image or pixel labels
    ensembles = True    # deepnet eval may average several runs' outputs
    picture = ""        # the picture drawn after training, beside curves.png
    measure = "accuracy"  # what the test score measures
    verb = ""             # what a model of a task with its own data sets does, and
    label = ""            # what those data sets label each scene with
    model_option = ""     # the setting that trains such a model

    def require(self, model, source) -> None:
        """Refuse a model of another task, naming what `source` holds and how to train the right one."""
        if of(model) is not self:
            raise InvalidValue(f"{source} is a {type(model).__name__}, not a {self.noun}; train one with "
                               f"{self.train_hint}")

    def report(self, trainer, pictures: bool = True, log=print) -> None:
        """After training, on the test set: the score, then the pictures (curves.png and the task's own)."""
        acc = trainer.history[-1].get("test_acc") if trainer.history else None
        if acc is None:
            acc = trainer.test_accuracy()
        log(f"Test {self.measure}: {100 * acc:.2f}% on {len(trainer.t_test)} test {self.samples}; run saved in "
            f"{trainer.run_dir}")
        pred = self.after_score(trainer, log)
        if pictures:
            self._pictures(trainer, pred, log)

    def after_score(self, trainer, log):
        """What the report says after the score; returns the test predictions when it made them."""
        return None

    def _pictures(self, trainer, pred, log) -> None:
        try:
            curves = trainer.run_dir / "curves.png"
            plots.training_curves(trainer.history, curves, title=f"{trainer.config.model} on {trainer.config.dataset}")
            drawn = [curves]
            if self.picture:
                self.draw(trainer, pred, trainer.run_dir / self.picture)
                drawn.append(trainer.run_dir / self.picture)
            log(f"Pictures: {', '.join(map(str, drawn))}")
        except ImportError as exc:
            log(f"(no pictures: {exc})")

    def draw(self, trainer, pred, path) -> None:
        raise NotImplementedError

    def __repr__(self):
        return f"Task({self.name!r})"


def _labels(trainer):
    return current().to_numpy(trainer.model.predict_labels(trainer.x_test, batch_size=100))


class Classify(Task):
    name, noun, picture = "classify", "classifier", "misclassified.png"
    train_hint = "deepnet train --model deepconvnet"

    def draw(self, trainer, pred, path) -> None:
        pred = _labels(trainer) if pred is None else pred
        plots.misclassified(trainer.data.test.x, trainer.data.test.y, pred, path,
                            classes=trainer.data.classes if trainer.data.name != "mnist" else None)


class Segment(Task):
    name, noun, picture, samples = "segment", "segmenter", "segmentation.png", "scenes"
    measure = "pixel accuracy"
    train_hint = "deepnet train --model fcn --dataset mnist-scenes"

    def after_score(self, trainer, log):
        # pixel accuracy flatters a model that says "background" everywhere: IoU does not
        pred = _labels(trainer)
        log("IoU per class on the test scenes: " + describe_iou(pred, trainer.data.test.y, trainer.data.classes))
        return pred

    def draw(self, trainer, pred, path) -> None:
        plots.segmentation(trainer.data.test.x, trainer.data.test.y, pred, path, trainer.data.classes)


class Detect(Task):
    name, noun, samples, picture = "detect", "detector", "scenes", "detections.png"
    train_hint = "deepnet train --model fasterrcnn --dataset mnist-boxes"
    datasets, ensembles = loaders.DETECTION, False
    verb, label, model_option = "finds objects", "boxes", "`model` fasterrcnn"

    def report(self, trainer, pictures: bool = True, log=print) -> None:
        """Its hit rate, COCO's AP where pycocotools is installed, and a picture, from one detection pass over
        the test scenes."""
        found = trainer.model.detect(trainer.x_test)
        truth = objects(trainer.data.test.y)
        hits, alarms = match_counts([d[d[:, 4] >= 0.5] for d in found], truth)
        acc = hits / max(sum(len(g) for g in truth) + alarms, 1)
        log(f"Test hit rate: {100 * acc:.2f}% (hits / (digits + false alarms), score >= 0.5, IoU >= 0.5) on "
            f"{len(trainer.t_test)} test scenes; run saved in {trainer.run_dir}")
        try:
            log(coco.describe(coco.evaluate(found, trainer.data.test.y, trainer.model.input_shape[1:])))
        except MissingDependency as exc:
            log(f"(no COCO AP: {exc})")
        log(f"Detections in test scenes, drawn: deepnet detect {trainer.run_dir}")
        if pictures:
            self._pictures(trainer, found, log)

    def draw(self, trainer, found, path) -> None:
        keep = [d[d[:, 4] >= 0.5] for d in found[:8]]
        plots.detections(trainer.data.test.x[:8], objects(trainer.data.test.y[:8]), keep, path, trainer.data.classes)


class Caption(Task):
    name, noun, samples = "caption", "captioner", "scenes"
    measure = "captions exactly right (greedy decoding)"
    train_hint = "deepnet train --model nic --dataset mnist-captions"
    datasets, ensembles = ("mnist_captions",), False
    verb, label, model_option = "writes captions", "a caption", "`model` nic"

    def after_score(self, trainer, log):
        log(f"Captions of test scenes, with beam search: deepnet caption {trainer.run_dir}")
        return None


CLASSIFY, SEGMENT, DETECT, CAPTION = Classify(), Segment(), Detect(), Caption()
TASKS = {t.name: t for t in (CLASSIFY, SEGMENT, DETECT, CAPTION)}


def named(name: str | None) -> Task | None:
    """The Task a model class names (None for a plain chain)."""
    if name is None:
        return None
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; expected one of: {', '.join(TASKS)}")
    return TASKS[name]


def of(model) -> Task | None:
    """The model's task: the one its class names, else, for a chain, classify (a score per class for the whole
    image) or segment (a score map), from its layers' output shape; None where that cannot be told."""
    declared = named(model.task)
    if declared is not None:
        return declared
    try:
        out = output_shape_of(model.layers.values(), model.input_shape)
    except (ValueError, NotImplementedError, AttributeError, TypeError):
        return None
    return {1: CLASSIFY, 3: SEGMENT}.get(len(out))


def check_dataset(task: Task | None, model_name: str, dataset: str) -> None:
    """Refuse a data set whose labels the model's task (None: a chain's) does not train on, and a task with data
    sets of its own on any other; before anything is loaded or built."""
    key = loaders.dataset_key(dataset)
    for owner in (CAPTION, DETECT):
        mine, theirs = task is owner, key in owner.datasets
        if mine and not theirs:
            raise InvalidValue(f"`model` {model_name} {owner.verb} and trains on `dataset` "
                               f"{' or '.join(d.replace('_', '-') for d in owner.datasets)}",
                               parameters=("model", "dataset"))
        if theirs and not mine:
            raise InvalidValue(f"`dataset` {dataset} labels each scene with {owner.label}: train "
                               f"{owner.model_option}", parameters=("model", "dataset"))
