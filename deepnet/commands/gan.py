"""`deepnet gan`: a DCGAN run in a run directory (deepnet/gan.py has the networks, the trainer and the judge)."""
from __future__ import annotations

from pathlib import Path

from .. import io
from ..errors import InvalidValue
from ..gan import GanTrainer, Judge, check_settings, describe_judgment
from ..training.rundir import RunDirectory


def run(out, settings: dict | None = None, resume: bool = False, overwrite: bool = False, classifier=None,
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
