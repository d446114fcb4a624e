"""One run engine for every kind of training: Chainer's Trainer, its Updater and its extensions, in small.

    Engine(updater, path, extensions, progress=..., log=...).run()

An updater holds one algorithm (training.Trainer, gan.GanTrainer, rl.DQNRun). One
`update()` is one step of it (a batch; for the DQN, an episode), `round_over()` says when a round ends (an
epoch; the DQN's evaluation interval), and `end_round()` gives the round's record. The engine owns what every
kind shares: the loop, the progress bar, the files written atomically after each round into the run directory
(the checkpoint the updater's `state()` names, history.json, config.json naming the command that continues
the run) and the extensions, each called after a round or at the end: evaluation, the best checkpoint,
pictures, the GAN's judge, early stopping. The run directory itself (lock, refuse, resume, overwrite) is
training/rundir.py's; what a checkpoint must hold to be resumed is training/state.py's.
"""
from __future__ import annotations

import sys
from pathlib import Path

from .. import io


class Updater:
    """One algorithm's steps and state; see the module's docstring for the calls the engine makes."""

    #: the command whose run directory this is (rundir.RESUME_HINTS), written to config.json
    command = "train"
    #: the rounds' records, oldest first (what best-checkpoint and early-stopping extensions read)
    history: list
    #: what the progress bar counts, and whether it spans a round or the whole run
    unit, bar_per_round = "step", True
    #: compress last.npz (a DQN's replay buffer compresses well; weights do not)
    compress = False

    def done(self) -> bool:
        raise NotImplementedError

    def begin_round(self) -> None:
        """Before a round's first step (an epoch's permutation and running sums)."""

    def nothing_to_do(self) -> str:
        raise NotImplementedError

    def start_line(self) -> str:
        raise NotImplementedError

    def bar(self) -> tuple[str, int, int]:
        """(description, total, initial) of the progress bar."""
        raise NotImplementedError

    def update(self) -> int:
        """One step; returns how far the progress bar moves."""
        raise NotImplementedError

    def status(self, shown: bool) -> str | None:
        """After each step: the running figures for the bar (`shown`: a bar shows them), or None when this
        step reads nothing from the device."""
        return None

    def round_over(self) -> bool:
        raise NotImplementedError

    def end_round(self) -> dict:
        """The round's record (already kept in the updater's history); raises when training diverged."""
        raise NotImplementedError

    def round_line(self, record: dict) -> str:
        """The round's line in the log."""
        raise NotImplementedError

    #: the checkpoint's format (io.FORMATS), stamped by the engine
    format = "deepnet-checkpoint"

    def state(self) -> tuple[dict, dict]:
        """(arrays, metadata) of the checkpoint that resumes the run."""
        raise NotImplementedError

    def run_config(self) -> dict:
        """The run's settings, for config.json."""
        raise NotImplementedError

    def history_file(self) -> dict:
        """What history.json holds."""
        raise NotImplementedError


class Extension:
    """Something done after a round (`__call__(engine, record)`) or once at the end (`finish(engine)`).
    `before_checkpoint`: its result goes into the round's record, and so into the checkpoint."""

    before_checkpoint = False

    def __call__(self, engine: Engine, record: dict) -> None:
        pass

    def finish(self, engine: Engine) -> None:
        pass


class Engine:
    def __init__(self, updater: Updater, path, extensions=(), progress: bool | None = None, log=print,
                 writes: bool = True):
        self.updater, self.path, self.extensions = updater, Path(path), list(extensions)
        self.progress, self.log, self.writes = progress, log, writes
        self.stop = False  # set by an extension (early stopping)
        self._state = None  # within a round, its checkpoint's contents (run sets them, save writes them)

    def run(self) -> None:
        up = self.updater
        if up.done():
            self.log(up.nothing_to_do())
            return
        self.log(up.start_line())
        bar = None
        while not up.done() and not self.stop:
            up.begin_round()
            if bar is None or up.bar_per_round:
                bar = self._bar()
            while True:
                moved = up.update()
                line = up.status(bar is not None)
                if bar is not None:
                    bar.update(moved)
                    if line is not None:
                        bar.set_postfix_str(line, refresh=False)
                if up.round_over():
                    break
            if bar is not None and up.bar_per_round:
                bar.close()
                bar = None
            record = up.end_round()
            for ext in self.extensions:
                if ext.before_checkpoint:
                    ext(self, record)
            if self.writes:
                self._state = up.state()  # read from the device once, for last.npz and any best.npz
            self.save()
            self.log(up.round_line(record))
            for ext in self.extensions:
                if not ext.before_checkpoint:
                    ext(self, record)
            self._state = None
        if bar is not None:
            bar.close()
        for ext in self.extensions:
            ext.finish(self)

    def save(self, name: str = "last.npz") -> None:
        """The updater's checkpoint as `name`, with history.json and config.json (written after the first
        checkpoint: a directory with a config.json has a run to resume)."""
        if not self.writes:
            return
        up = self.updater
        arrays, meta = up.state() if self._state is None else self._state
        io.save_arrays(self.path / name, arrays, {**meta, **io.stamp(up.format)}, compress=up.compress)
        if name == "last.npz":
            io.write_json(self.path / "history.json", up.history_file())
            io.write_json(self.path / "config.json", {"command": up.command, **up.run_config()})

    def _bar(self):
        if self.progress is False:
            return None
        from tqdm.auto import tqdm

        desc, total, initial = self.updater.bar()
        per_round = self.updater.bar_per_round
        return tqdm(total=total, initial=initial, desc=desc, unit=self.updater.unit, leave=not per_round,
                    disable=None if self.progress is None else not self.progress, file=sys.stderr,
                    mininterval=0.5 if per_round else 1.0)


class BestCheckpoint(Extension):
    """best.npz: the checkpoint of the round whose `key` is the highest so far (every round's, without it)."""

    def __init__(self, key: str):
        self.key = key

    def __call__(self, engine: Engine, record: dict) -> None:
        history = engine.updater.history
        if self.key not in record or record[self.key] >= max(r[self.key] for r in history if self.key in r):
            engine.save("best.npz")


class EarlyStopping(Extension):
    """Stops the run when `key` (a loss) has not improved for `patience` rounds."""

    def __init__(self, key: str, patience: int):
        self.key, self.patience = key, patience

    def __call__(self, engine: Engine, record: dict) -> None:
        history, p = engine.updater.history, self.patience
        if self.key not in record or len(history) <= p:
            return
        best_before = min(r[self.key] for r in history[:-p])
        if min(r[self.key] for r in history[-p:]) >= best_before:
            engine.log(f"Early stopping: {self.key} has not improved for {p} epochs")
            engine.stop = True
