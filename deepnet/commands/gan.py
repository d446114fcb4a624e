"""`deepnet gan`: a DCGAN run in a run directory (deepnet/gan.py has the networks, the trainer and the judge)."""
from __future__ import annotations

from pathlib import Path

from .. import io
from ..errors import InvalidValue
from ..gan import SETTINGS, GanTrainer, Judge, check_settings, describe_judgment
from ..training.rundir import RunDirectory
from .arguments import given, run_settings


def train(out, settings: dict | None = None, resume: bool = False, overwrite: bool = False, classifier=None,
        judge_every: int = 0, progress=None, log=print) -> dict:
    """`deepnet gan`: a new run in `out` with `settings` (see SETTINGS; missing ones take the defaults), or
    with resume=True the run there continued with its own settings (`settings` then holds the options the
    user gave again: only epochs may differ). The directory is opened, checked and locked as every run
    directory is (training/rundir.py)."""
    settings = dict(settings or {})
    if judge_every < 0:
        raise InvalidValue(f"--judge-every must be 0 (only at the end) or a number of epochs; got {judge_every}")
    if judge_every and not classifier:
        raise InvalidValue("--judge-every judges with the classifier of --judge-with: give both")
    if not resume:
        check_settings(settings)  # before the directory is touched
    directory = RunDirectory(out, "gan").open(resume=resume, overwrite=overwrite)
    try:
        judge_ = Judge(classifier) if classifier else None  # a bad classifier fails now, not after training
        if resume:
            trainer = GanTrainer.resume(out, progress=progress, log=log, given=settings)
            log(f"Resuming {out} after epoch {trainer.epoch}")
        else:
            trainer = GanTrainer(out, progress=progress, log=log, **settings)
        judged = directory.path / "judge.json"
        if judged.exists() and trainer.epoch < trainer.epochs:
            judged.unlink()  # it judged an older generator; a judgment made in training stays in history.json
            log(f"removed {judged}: it judged the generator of an earlier epoch")
        trainer.fit(judge_, judge_every)
        result = {"history": trainer.history}
        if judge_ is not None:
            last = trainer.history[-1]
            if "judge" not in last:
                last["judge"] = judge_(trainer.judged_samples())
                trainer.save()  # the judgment kept with the run, as a judgment made in training is
            result["judge"] = last["judge"]
            log(f"Judged by {classifier}: {describe_judgment(result['judge'])}")
            io.write_json(judged, {"epoch": trainer.epoch, **result["judge"]})
    finally:
        directory.close()
    log(f"Pictures: {Path(out) / 'samples.png'}, {Path(out) / 'progress.png'}")
    return result


NAME = "gan"
HELP = "DCGAN on MNIST (InfoGAN's networks): a generator of digits, with sample pictures per epoch"
DESCRIPTION = ("DCGAN on MNIST with InfoGAN's networks. The run directory follows the same rules as deepnet "
                   "train's: an existing run is refused (see --resume and --overwrite), the directory is locked while "
                   "the run writes, and --resume continues with the run's own settings (only --epochs may change).")
# options: (flag, gan.SETTINGS key, argparse settings); left out, an option is absent (see --resume).
GAN_OPTIONS = (
    ("--epochs", "epochs", dict(type=int, help="epochs to train to")),
    ("--batch-size", "batch_size", dict(type=int, help="digits a batch")),
    ("--seed", "seed", dict(type=int, help="seeds the weights, the batches and the pictures' noise")),
    ("--limit", "limit", dict(type=int, metavar="N", help="train on the first N training digits")),
    ("--width", "width", dict(type=int, help="the generator's channels at 7x7 (half as many at 14x14)")),
    ("--real-label", "real_label", dict(type=float, help="the discriminator's target on real digits: one-sided "
                                                         "label smoothing (1: none)")),
    ("--g-hidden", "g_hidden", dict(type=int, metavar="UNITS", help="the generator's affine layer between the "
                                                                    "noise and the 7x7 maps (InfoGAN's; 0: none, the "
                                                                    "plain DCGAN)")),
    ("--d-hidden", "d_hidden", dict(type=int, metavar="UNITS", help="the discriminator's affine layer before its "
                                                                    "logit (InfoGAN's; 0: none)")),
)




def add_arguments(p) -> None:
    run_settings(p, "runs/dcgan-mnist", GAN_OPTIONS, lambda name: "all" if SETTINGS[name] is None else SETTINGS[name],
                 "continue the run in --out with its own settings",
                 "replace the run already in --out (its files are deleted)")
    p.add_argument("--judge-with", default=None, metavar="RUN",
                   help="a trained classifier of MNIST digits (a run or weights file): judge 10,000 samples with it "
                        "at the end")
    p.add_argument("--judge-every", type=int, default=0, metavar="N",
                   help="with --judge-with, also judge after every N epochs (kept in history.json)")
    p.add_argument("--no-progress", action="store_true")


def run(args) -> int:
    train(args.out, given(args, GAN_OPTIONS), resume=args.resume, overwrite=args.overwrite,
          classifier=args.judge_with, judge_every=args.judge_every, progress=False if args.no_progress else None)
    return 0
