"""Training loop: per-epoch permutation on the device, progress bar, checkpoints, resume."""
from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from pathlib import Path

import numpy as np

from .. import datasets, distributed, io, models, optimizers, tasks
from ..augment import Augment
from ..backends import current
from ..distributed import shard
from ..errors import InvalidValue, UserError
from ..layers.base import output_shape_of
from ..layers.loss import SoftmaxWithLoss, check_classes, labels_checked
from ..layers.recurrent import TimeSoftmaxWithLoss
from ..machine import machine
from . import checkpoint, schedules
from .config import TrainConfig
from .engine import BestCheckpoint, EarlyStopping, Engine, Extension, Updater
from .loss_scale import DynamicLossScale
from .rundir import RunDirectory


class TrainingDiverged(UserError, RuntimeError):
    """The loss or the weights stopped being finite; no checkpoint of the diverged model is written."""


def _check_labels(model, data) -> bool:
    """Whether every split's labels were checked as class indices of the data set's classes (a model whose loss
    is SoftmaxWithLoss, or TimeSoftmaxWithLoss whose words are the vocabulary's; integer labels); raises
    ValueError on a label out of range."""
    if not isinstance(getattr(model, "loss_layer", None), (SoftmaxWithLoss, TimeSoftmaxWithLoss)):
        return False  # a detector's targets are boxes: its loss checks them itself
    splits = [s for s in (data.train, data.validation, data.test) if s is not None]
    if not all(s.y.dtype.kind in "iu" for s in splits):
        return False
    for s in splits:
        check_classes(s.y, len(data.classes))
    return True


def _device_data(split, dtype):
    return datasets.to_model_input(split.x, dtype), current().to_device(split.y)


class Trainer(Updater):
    """Trains `model` on `data` with `optimizer`, writing a run directory:

        config.json   the TrainConfig
        history.json  one record per epoch
        last.npz      checkpoint after the latest epoch (resume from here)
        best.npz      checkpoint with the best validation accuracy (or the latest, without validation)
    """

    def __init__(self, model, optimizer, data: datasets.Dataset, config: TrainConfig, progress: bool | None = None,
                 log=print, comm=None, run_directory: RunDirectory | None = None):
        config.validate()
        self.model, self.optimizer, self.data, self.config = model, optimizer, data, config
        self.run_dir = Path(config.out)
        self.directory = run_directory  # opened and locked by from_config/resume; fit() opens it otherwise
        self.comm = comm
        self.is_root = comm is None or comm.is_root
        # only rank 0 talks and writes files
        self.progress = progress if self.is_root else False
        self.log = log if self.is_root else (lambda *a, **k: None)
        self.history: list[dict] = []
        self.epoch = 0  # epochs completed
        self.schedule = schedules.parse(config.schedule, config.lr, config.epochs)
        self.augment = Augment.parse(config.augment)
        if self.augment is not None and data.train.y.ndim > 1:
            # shifts and rotations would move the images and not their per-pixel labels
            self.log(f"augmentation ({config.augment}) is off for {data.name}: its labels depend on where things "
                     f"are (per pixel, or captions in reading order)")
            self.augment, config.augment = None, ""  # config.json records what ran
        dtype = next(iter(model.params().values())).dtype
        # float16: mixed precision (float32 master weights in the optimizer, dynamic loss scaling here)
        self.loss_scale = DynamicLossScale() if dtype.itemsize < 4 else None
        train = data.train.take(config.limit)
        # class indices checked once here, on the host: no training step or evaluation then reads them back
        self.labels_checked = _check_labels(model, data)
        # The whole set goes to the device once; each epoch only draws a permutation.
        self.x_train, self.t_train = _device_data(train, dtype)
        self.x_val = self.t_val = None
        if data.validation is not None:
            self.x_val, self.t_val = _device_data(data.validation, dtype)
        self.x_test, self.t_test = _device_data(data.test, dtype)

    # --- construction ------------------------------------------------------------------
    @classmethod
    def from_config(cls, config: TrainConfig, overwrite: bool = False, resume: bool = False,
                    **kwargs) -> Trainer:
        """A trainer for a new run in config.out (an existing run there is refused unless `overwrite`)."""
        config.validate()
        if config.distributed and "comm" not in kwargs:
            kwargs["comm"] = distributed.init()  # first: a later failure on any rank then stops them all
        comm = kwargs.get("comm")
        if comm is None or comm.is_root:
            kwargs["run_directory"] = RunDirectory(config.out, "train").open(resume=resume, overwrite=overwrite)
        bk = current()
        bk.rng.seed(config.seed)
        key, _ = models.parse_name(config.model)
        _check_labels_agree(models.MODELS[key], config)  # before the data loads
        # a --limit run builds only the scenes it trains on (validation holds out the set's last scenes: all needed)
        count = config.limit if config.limit and not config.validation else None
        data = datasets.load(config.dataset, validation=config.validation, source_dir=config.data_dir,
                             train_count=count)
        c, h, w = data.train.x.shape[1:]
        try:
            model = models.create(config.model, input_shape=(c, h, w), num_classes=len(data.classes),
                                  dtype=config.dtype)
        except ValueError as exc:  # a model that cannot take this data set's images
            raise InvalidValue(f"`model` {config.model} cannot train on `dataset` {config.dataset} "
                               f"({c}x{h}x{w} images): {exc}", parameters=("model", "dataset")) from None
        _check_model_fits_labels(model, config, data)
        if config.init_from and not resume:  # a resumed run's weights come from its own checkpoint
            transfer(model, config.init_from, reinit=config.reinit,
                     log=kwargs.get("log", print) if comm is None or comm.is_root else (lambda *a: None))
        if config.freeze:
            model.freeze(*config.freeze)
        optimizer = optimizers.create(config.optimizer, lr=config.lr)
        if comm is not None:
            comm.broadcast_arrays(model.state())  # every rank starts from rank 0's weights
        return cls(model, optimizer, data, config, **kwargs)

    @classmethod
    def resume(cls, run_dir, changes: dict | None = None, epochs: int | None = None, **kwargs) -> Trainer:
        """Continue the run in `run_dir` from last.npz. `changes` are settings the user gave again: those
        in TrainConfig.RESUMABLE are applied, any other that differs from the saved run is refused."""
        directory = RunDirectory(run_dir, "train")
        directory.require_run()  # a run of `deepnet train` (another command's run is named, not misread)
        run_dir = directory.path
        config = TrainConfig.from_dict(*directory.read_config())
        changes = dict(changes or {})
        if epochs is not None:
            changes["epochs"] = epochs
        directory.check_changes(dataclasses.asdict(config), changes, TrainConfig.RESUMABLE)
        for k, v in changes.items():
            if k in TrainConfig.RESUMABLE:
                setattr(config, k, v)
        config.out = str(run_dir)
        trainer = cls.from_config(config, resume=True, **kwargs)
        last = run_dir / "last.npz"
        if last.is_file():
            meta = checkpoint.load(last, trainer.model, trainer.optimizer)
            trainer.epoch = int(meta["epoch"])
            trainer.history = list(meta["history"])
            if trainer.loss_scale is not None and isinstance(meta.get("loss_scale"), dict):
                trainer.loss_scale.load_state(meta["loss_scale"])
            current().rng.set_state(meta["rng"])
        if trainer.epoch > config.epochs:
            raise InvalidValue(f"{run_dir} has trained {trainer.epoch} epochs already; `epochs` {config.epochs} "
                               f"would end before that (give more epochs, or start a new run)", parameters=("epochs",))
        return trainer

    # --- the run: the trainer is supervised training's updater on the run engine (training/engine.py) ----------
    def fit(self) -> list[dict]:
        if self.is_root and self.directory is None:
            self.directory = RunDirectory(self.run_dir, "train").open(resume=self.epoch > 0)
        extensions = [Evaluate(self), BestCheckpoint("val_acc")]
        if self.config.patience:
            extensions.append(EarlyStopping("val_loss", self.config.patience))
        try:
            with self._trusted_labels():
                Engine(self, self.run_dir, extensions, progress=self.progress, log=self.log,
                       writes=self.is_root).run()
            return self.history
        finally:
            if self.directory is not None:
                self.directory.close()
                self.directory = None

    def _trusted_labels(self):
        """The loss's per-batch label check off when the whole label set was checked at the start."""
        return labels_checked() if self.labels_checked else contextlib.nullcontext()

    def done(self) -> bool:
        return self.epoch >= self.config.epochs

    def nothing_to_do(self) -> str:
        return f"{self.run_dir}: already trained for {self.epoch} of {self.config.epochs} epochs; nothing to do"

    def start_line(self) -> str:
        cfg, bk = self.config, current()
        ranks = f", {self.comm.size} ranks (global batch {cfg.batch_size * self.comm.size})" if self.comm else ""
        return (f"Training {type(self.model).__name__} ({self.model.num_params():,} parameters) on "
                f"{self.data.name}: {len(self.t_train)} training samples, backend {bk.name} on {bk.device_name}, "
                f"dtype {cfg.dtype}, {cfg.epochs} epochs of batch {cfg.batch_size}{ranks}")

    def begin_round(self) -> None:
        """An epoch: its learning rate, its permutation, its running sums on the device."""
        cfg, xp = self.config, current().xp
        self.optimizer.lr = self._lr = self.schedule(self.epoch)
        n = len(self.t_train)
        self._global_batch = cfg.batch_size * (self.comm.size if self.comm else 1)
        self._steps = math.ceil(n / self._global_batch)  # every sample once; the last batch may be smaller
        self._order = self._epoch_order(self.epoch, n)
        self._loss_sum = xp.zeros((), dtype=xp.float32)
        self._correct = xp.zeros((), dtype=xp.int64)
        self._seen = self._seen_labels = self._step = 0
        self._start = time.perf_counter()

    def bar(self) -> tuple[str, int, int]:
        return f"Epoch {self.epoch + 1}/{self.config.epochs}", self._steps, 0

    def update(self) -> int:
        """One training step on the epoch's next batch."""
        step, self._step = self._step, self._step + 1
        size, rank = (self.comm.size, self.comm.rank) if self.comm else (1, 0)
        global_idx = self._order[step * self._global_batch : (step + 1) * self._global_batch]
        idx = global_idx if self.comm is None else shard(global_idx, rank, size)
        if len(idx) == 0:  # a last global batch smaller than the ranks: this rank adds nothing
            grads = self.model.trainable_grads()
            self.comm.reduce_gradients(grads, 0.0)
            self.model.apply_update(self.optimizer, grads, self.loss_scale)  # as the other ranks do
            return 1
        x, t = self.x_train[idx], self.t_train[idx]
        self._last_batch = (x, t)
        if self.augment is not None:
            x = self.augment(x)
        share = len(idx) / len(global_idx)
        reduce = None
        if self.comm is not None:
            reduce = lambda grads, share=share: self.comm.reduce_gradients(grads, share)
        loss = self.model.train_step(x, t, self.optimizer, before_update=reduce, loss_scale=self.loss_scale)
        # the training pass's own softmax output gives the running accuracy: no extra forward pass
        right, labels = self.model.step_correct(t)  # a label per sample, pixel or caption word
        self._loss_sum += loss.astype(current().xp.float32) * len(t)
        self._correct += right
        self._seen += len(t)
        self._seen_labels += labels
        return 1

    def status(self, shown: bool) -> str | None:
        step = self._step - 1
        if not shown or not (step % 20 == 19 or step == self._steps - 1) or not self._seen:
            return None
        # the only host syncs in the loop, one read each, and only while a progress bar shows them
        running, right, labels = current().items(self._loss_sum, self._correct, self._seen_labels)
        running /= self._seen
        self._check_finite(running, self.epoch, step)
        return f"loss {running:.4f} acc {right / labels:.4f}"

    def round_over(self) -> bool:
        return self._step >= self._steps

    def end_round(self) -> dict:
        """The epoch's record; the weights checked finite before any checkpoint of them is written."""
        bk = current()
        # a caption's words counted on the device
        total_loss, total_correct, seen_labels = bk.items(self._loss_sum, self._correct, self._seen_labels)
        total_correct, seen_labels, seen = int(total_correct), int(seen_labels), self._seen
        if self.comm is not None:
            total_loss, total_correct, seen, seen_labels = self.comm.sum_scalars(
                [total_loss, total_correct, seen, seen_labels])
        train_loss = total_loss / seen
        self._check_finite(train_loss, self.epoch, self._steps - 1)
        record = {"epoch": self.epoch + 1, "lr": self._lr, "loss": train_loss, "acc": total_correct / seen_labels}
        if self.loss_scale is not None:
            record["loss_scale"], record["skipped_steps"] = self.loss_scale.scale, self.loss_scale.skipped
            if self.loss_scale.skipped:
                self.log(f"epoch {self.epoch + 1}: {self.loss_scale.skipped} of {self._steps} steps skipped "
                         f"(float16 gradients overflowed); loss scale now {self.loss_scale.scale:g}")
            self.loss_scale.skipped = 0
        bk.synchronize()
        record["seconds"] = time.perf_counter() - self._start
        self._check_model(record)
        self.history.append(record)
        self.epoch += 1
        return record

    def _epoch_order(self, epoch: int, n: int):
        """This epoch's permutation. Distributed: the same on every rank (seeded by seed and epoch), while
        each rank's own stream (dropout, augmentation) is re-seeded by (seed, epoch, rank)."""
        bk = current()
        if self.comm is None:
            return bk.rng.permutation(n)
        order = bk.to_device(np.random.default_rng([self.config.seed, epoch]).permutation(n))
        bk.rng.seed([self.config.seed, epoch, self.comm.rank])
        return order

    def evaluate(self, x, t, batch_size: int | None = None) -> tuple[float, float]:
        """(mean loss, accuracy) over every sample of (x, t), in inference mode, by default in batches of the
        training batch's size: inference keeps less than a training step of the same batch, so evaluating
        never raises a run's peak memory above its training's."""
        with self._trusted_labels():
            return self.model.evaluate(x, t, batch_size or self.config.batch_size)

    def test_accuracy(self) -> float:
        return self.evaluate(self.x_test, self.t_test)[1]

    # --- helpers --------------------------------------------------------------------------------
    def _check_finite(self, value: float, epoch: int, step: int) -> None:
        if not math.isfinite(value):
            raise self._diverged(f"the training loss became {value} at epoch {epoch + 1}, step {step + 1}")

    def _check_model(self, record: dict) -> None:
        """Before a checkpoint is written: the updated weights must be finite and still give a finite loss
        (the epoch's loss was measured before its last update, so a diverged last step can hide behind it)."""
        xp = current().xp
        params = self.model.params()
        finite = current().to_numpy(xp.stack([xp.isfinite(a).all() for a in params.values()]))  # one read
        bad = [k for k, ok in zip(params, finite) if not ok]
        if bad:
            raise self._diverged(f"weights became non-finite in epoch {record['epoch']} ({', '.join(bad[:4])})")
        if getattr(self, "_last_batch", None) is not None:
            x, t = self._last_batch
            loss = current().item(self.model.loss(x, t, train=False))
            if not math.isfinite(loss):
                raise self._diverged(f"after epoch {record['epoch']} the weights give a loss of {loss} on the "
                                     f"last training batch")

    def _diverged(self, what: str, saved: int | None = None) -> TrainingDiverged:
        """`saved`: the epoch of the last checkpoint written (by default the epochs completed)."""
        saved = self.epoch if saved is None else saved
        last = self.run_dir / "last.npz"
        if saved > 0 and last.is_file():
            kept = f"the last good checkpoint ({last}, epoch {saved}) is kept"
        else:
            kept = "no checkpoint was written"
        return TrainingDiverged(f"{what}; training stopped and {kept}. Try a smaller `lr` "
                                f"(now {self.optimizer.lr:g}) or `dtype` float32", parameters=("lr", "dtype"))

    # --- files: what the engine writes after each epoch --------------------------------------------------
    def state(self) -> tuple[dict, dict]:
        meta = {"epoch": self.epoch, "history": self.history, "rng": current().rng.get_state(),
                "input_shape": list(self.model.input_shape or ()), "num_classes": len(self.data.classes),
                "config": self.run_config(), "machine": machine_info()}
        if self.loss_scale is not None:
            meta["loss_scale"] = self.loss_scale.state()
        return checkpoint.contents(self.model, self.optimizer, meta)

    def run_config(self) -> dict:
        return dataclasses.asdict(self.config)

    def history_file(self) -> dict:
        return {"config": self.run_config(), "machine": machine_info(), "history": self.history}

    def round_line(self, record: dict) -> str:
        return self._format(record)

    def _format(self, r: dict) -> str:
        # the training figures are the training passes' own: with dropout on (and augmentation), so a book
        # network's train accuracy sits far below its test accuracy; the line says so rather than look broken
        dropout = any(type(layer).__name__ == "Dropout" for layer in self.model.layers.values())
        parts = [f"Epoch {r['epoch']}/{self.config.epochs}", f"{r['seconds']:.0f}s", f"loss: {r['loss']:.4f}",
                 f"train_acc{' (dropout on)' if dropout else ''}: {r['acc']:.4f}"]
        for k in ("val_loss", "val_acc", "test_loss", "test_acc"):
            if k in r:
                parts.append(f"{k}: {r[k]:.4f}")
        return " - ".join(parts)


class Evaluate(Extension):
    """After each epoch, before its checkpoint: the loss and accuracy on the validation set (when held out) and
    on the test set (unless eval_test is off), added to the epoch's record; a non-finite one stops the run before
    the checkpoint. The epoch's seconds include it. Distributed, rank 0 evaluates and every rank keeps its record
    (so early stopping agrees)."""

    before_checkpoint = True

    def __init__(self, trainer: Trainer):
        self.trainer = trainer

    def __call__(self, engine, record: dict) -> None:
        tr = self.trainer
        start = time.perf_counter()
        if tr.is_root:
            if tr.x_val is not None:
                record["val_loss"], record["val_acc"] = tr.evaluate(tr.x_val, tr.t_val)
            if tr.config.eval_test:
                record["test_loss"], record["test_acc"] = tr.evaluate(tr.x_test, tr.t_test)
            for k in ("val_loss", "test_loss"):
                if k in record and not math.isfinite(record[k]):
                    raise tr._diverged(f"after epoch {record['epoch']} the {k.split('_')[0]} loss is {record[k]}",
                                       saved=tr.epoch - 1)
        record["seconds"] += time.perf_counter() - start
        if tr.comm is not None:
            shared = tr.comm.bcast_object(record)
            record.clear()
            record.update(shared)


def transfer(model, source, reinit=(), log=print) -> list[str]:
    """Copy trained weights from a run or weights file into `model`, except the layers named in
    `reinit` (a new head keeps its fresh initialisation). A source that shares no parameter with the
    model is refused; a partial match is logged, naming what was not copied. Returns the names copied."""
    path = checkpoint.find(source)
    checkpoint.refuse_other_formats(path, io.read_index(path)[1])
    arrays, _, _ = checkpoint.read(path)
    unknown = [r for r in reinit if r not in model.layers]
    if unknown:
        raise InvalidValue(f"`reinit` names no layer of the model: {unknown}; layers: {', '.join(model.layers)}",
                           parameters=("reinit",))
    mine = model.state()
    keep = {k: a for k, a in arrays.items() if k.split(".", 1)[0] not in set(reinit) and k in mine}
    if not keep:
        raise InvalidValue(f"`init_from` {source}: {path} shares no parameter with the model (its arrays: "
                           f"{', '.join(list(arrays)[:4]) or 'none'}; the model's: {', '.join(list(mine)[:4])}"
                           f"{', ...' if len(mine) > 4 else ''})", parameters=("init_from",))
    model.load_state(keep, source=str(path), strict=False)
    left = [k for k in mine if k not in keep]
    if left:
        log(f"{path}: copied {len(keep)} of the model's {len(mine)} arrays; not copied (fresh): "
            f"{', '.join(left[:8])}{', ...' if len(left) > 8 else ''}")
    return sorted(keep)


def _check_labels_agree(model_class, config) -> None:
    """A captioner trains on captions and a detector on boxes, and nothing else does (tasks.check_dataset);
    checked before the data or the model is made."""
    tasks.check_dataset(tasks.named(model_class.task), config.model, config.dataset)


def _check_model_fits_labels(model, config, data) -> None:
    """A classifier (a score per class) needs a label per image; a segmenter (a score map) a label per pixel;
    a captioner captions."""
    if tasks.named(model.task) is not None and tasks.named(model.task).datasets is not None:
        return  # its data sets are its own, checked before it was built (_check_labels_agree)

    try:
        out = output_shape_of(model.layers.values(), model.input_shape)
    except (ValueError, NotImplementedError, AttributeError):
        return  # a model whose layers cannot say their shapes: the loss layer will check the batch
    per_pixel = data.train.y.ndim > 1
    if per_pixel and len(out) != 3:
        raise InvalidValue(f"`dataset` {config.dataset} labels every pixel, but `model` {config.model} gives one score "
                           f"per class for a whole image; use a segmentation model (`model` fcn)",
                           parameters=("dataset", "model"))
    if not per_pixel and len(out) == 3:
        raise InvalidValue(f"`model` {config.model} gives a score map (a class per pixel), but `dataset` "
                           f"{config.dataset} has one label per image; use `dataset` mnist-scenes, or a classifier",
                           parameters=("dataset", "model"))


def machine_info() -> dict:
    """The machine stamp saved with each checkpoint and history (deepnet.machine)."""
    return machine()
