"""`deepnet train`: train a model on a data set in a run directory, then report on the test set and draw."""
from __future__ import annotations

import argparse
from pathlib import Path

from .. import tasks
from ..errors import InvalidValue
from ..training import TrainConfig, Trainer
from .arguments import given, names

NAME = "train"
HELP = "train a model (DeepConvNet on MNIST by default)"
DESCRIPTION = ("Train a model. Defaults: the book's DeepConvNet on MNIST, Adam, lr 0.001, batch 100, 20 epochs, with "
               "the default recipe (--recipe book for the book's exact settings). Set DEEPNET_BACKEND=gpu to train "
               "on a CUDA GPU.")

# options: (flag, TrainConfig field, argparse settings). Defaults come from TrainConfig;
# an option left out is simply absent from the parsed arguments, so `--resume` and `--recipe` know
# which settings the user gave.
TRAIN_OPTIONS = (
    ("--model", "model", dict(help="deepconvnet (default), simpleconvnet, alexnet, vgg, resnetN, plainnetN, "
                                   "googlenet, binarynet, fcn or segnet (segmentation: with --dataset mnist-scenes), "
                                   "nic (captioning: with --dataset mnist-captions), fasterrcnn (detection: with "
                                   "--dataset mnist-boxes or mnist-clutter)")),
    ("--dataset", "dataset", dict(help="mnist (default), fashion_mnist, mnist-scenes (segmentation scenes), "
                                       "mnist-captions (captioned scenes), mnist-boxes and mnist-clutter (detection "
                                       "scenes)")),
    ("--recipe", "recipe", dict(help="default (cosine learning-rate decay and light augmentation: lands at the "
                                     "end) or book (the book's exact settings); --schedule and --augment "
                                     "override either")),
    ("--epochs", "epochs", dict(type=int)),
    ("--batch-size", "batch_size", dict(type=int)),
    ("--optimizer", "optimizer", dict(help="sgd, momentum, nesterov, adagrad, rmsprop, adam (default)")),
    ("--lr", "lr", dict(type=float)),
    ("--schedule", "schedule", dict(help="learning-rate schedule: none, cosine, step:EPOCHS:FACTOR (default: the "
                                         "recipe's)")),
    ("--seed", "seed", dict(type=int)),
    ("--validation", "validation", dict(type=int, metavar="N",
                                        help="hold out the last N training samples for validation")),
    ("--patience", "patience", dict(type=int, help="early stopping: epochs without val_loss improvement "
                                                   "(needs --validation)")),
    ("--limit", "limit", dict(type=int, metavar="N", help="train on the first N samples only")),
    ("--dtype", "dtype", dict(help="float32 (default, or DEEPNET_DTYPE), float64, float16")),
    ("--out", "out", dict(help="run directory (default runs/MODEL-DATASET); an existing run is refused: "
                               "see --resume and --overwrite")),
    ("--data-dir", "data_dir", dict(help="directory holding the dataset's four IDX .gz files")),
    ("--augment", "augment", dict(metavar="SPEC", help="training-time augmentation, e.g. shift=2,rotate=10,"
                                                       "scale=0.1 (also crop=N, flip, brightness=B, contrast=C); "
                                                       "'' for none (default: the recipe's)")),
    ("--init-from", "init_from", dict(metavar="RUN", help="start from the weights of a run or file "
                                                          "(transfer learning)")),
    ("--freeze", "freeze", dict(type=names, help="comma-separated layers the optimizer leaves alone, e.g. "
                                                 "conv1,conv2")),
    ("--reinit", "reinit", dict(type=names, help="comma-separated layers not copied by --init-from (a new head)")),
    ("--distributed", "distributed", dict(action="store_true", help="data-parallel over MPI ranks: "
                                                                    "mpiexec -n N deepnet train --distributed")),
    ("--no-test-eval", "eval_test", dict(action="store_false", help="skip the test-set evaluation after each "
                                                                    "epoch")),
)


def add_arguments(p) -> None:
    """The options of TRAIN_OPTIONS (each help ending in TrainConfig's default), then the run directory's and the
    report's."""
    defaults = TrainConfig(dtype="float32")  # not DEEPNET_DTYPE's: a bad value there must not break --help
    for flag, name, kwargs in TRAIN_OPTIONS:
        kwargs = dict(kwargs)
        if kwargs.get("action") is None and name != "dtype" and getattr(defaults, name) not in (None, [], ""):
            kwargs["help"] = (kwargs.get("help", "") + f" (default {getattr(defaults, name)})").strip()
        p.add_argument(flag, dest=name, default=argparse.SUPPRESS, **kwargs)
    p.add_argument("--resume", nargs="?", const=True, default=None, metavar="DIR",
                   help="continue the run in --out from its last checkpoint (only --epochs, --patience, --data-dir "
                        "and --no-test-eval may change); --resume DIR is the same as --out DIR --resume")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run already in --out (its checkpoints and history are deleted)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG pictures at the end")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (one log line per epoch only)")


def run(args) -> int:
    """Train (or with --resume, continue), then the test report and the pictures on the root rank."""
    settings = given(args, TRAIN_OPTIONS)
    progress = False if args.no_progress else None
    if args.resume:
        if args.overwrite:
            raise InvalidValue("--resume continues a run and --overwrite replaces one: give only one of them")
        run_dir = _resumed(args.resume, settings)
        trainer = Trainer.resume(run_dir, changes=settings, progress=progress)
        print(f"Resuming {run_dir} after epoch {trainer.epoch}")
    else:
        trainer = Trainer.from_config(TrainConfig(**settings), progress=progress, overwrite=args.overwrite)
    trainer.fit()
    if trainer.is_root:  # the report and pictures belong to the model's task (deepnet/tasks.py)
        (tasks.of(trainer.model) or tasks.CLASSIFY).report(trainer, pictures=not args.no_plots)
    return 0


def _resumed(resume, settings: dict) -> str:
    """The run directory --resume continues: --out's (as every command that trains spells it), --resume DIR's (the
    same, kept as an alias), or with neither the default run directory of --model and --dataset. --out leaves the
    settings, as it is not one the run may change."""
    out = settings.pop("out", None)
    if resume is not True:
        if out is not None and Path(out) != Path(resume):
            raise InvalidValue(f"--out {out} and --resume {resume} name two runs: give --out DIR --resume")
        return resume
    if out is not None:
        return out
    named = {k: settings[k] for k in ("model", "dataset") if k in settings}
    return TrainConfig(dtype="float32", **named).out
