"""The run engine (deepnet/training/engine.py) on a toy updater: the loop, the files, the extensions' order."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from deepnet import io
from deepnet.errors import BadFile
from deepnet.training import state
from deepnet.training.engine import BestCheckpoint, EarlyStopping, Engine, Extension, Updater
from deepnet.validation import whole


class Counter(Updater):
    """Rounds of `steps` steps, each adding 1 to a counter; the record's score is given per round."""

    command, format = "train", "deepnet-checkpoint"

    def __init__(self, rounds, steps=3, scores=None):
        self.rounds, self.steps, self.scores = rounds, steps, scores or {}
        self.round = self.step = self.total = 0
        self.history, self.calls = [], []

    def done(self):
        return self.round >= self.rounds

    def nothing_to_do(self):
        return "nothing to do"

    def start_line(self):
        return "start"

    def begin_round(self):
        self.step = 0
        self.calls.append("begin")

    def bar(self):
        return "round", self.steps, 0

    def update(self):
        self.step += 1
        self.total += 1
        return 1

    def status(self, shown):
        self.calls.append(f"status {shown}")
        return None

    def round_over(self):
        return self.step >= self.steps

    def end_round(self):
        self.round += 1
        record = {"epoch": self.round, "total": self.total, **self.scores.get(self.round, {})}
        self.history.append(record)
        return record

    def round_line(self, record):
        return f"round {record['epoch']}"

    def state(self):
        return {"count": np.array([self.total])}, {"epoch": self.round}

    def run_config(self):
        return {"rounds": self.rounds}

    def history_file(self):
        return {"history": self.history}


class Spy(Extension):
    def __init__(self, seen, before):
        self.seen, self.before_checkpoint = seen, before

    def __call__(self, engine, record):
        on_disk = io.read_index(engine.path / "last.npz")[1]["epoch"] if (engine.path / "last.npz").exists() else 0
        self.seen.append((self.before_checkpoint, record["epoch"], on_disk))
        if self.before_checkpoint:
            record["judged"] = True

    def finish(self, engine):
        self.seen.append("finish")


def test_the_loop_writes_each_round_and_calls_extensions_around_the_checkpoint(tmp_path):
    up, seen, lines = Counter(2), [], []
    Engine(up, tmp_path, [Spy(seen, True), Spy(seen, False)], progress=False, log=lines.append).run()
    assert up.total == 6 and lines == ["start", "round 1", "round 2"]
    # before the checkpoint the file holds the previous round; after it, this one
    assert seen == [(True, 1, 0), (False, 1, 1), (True, 2, 1), (False, 2, 2), "finish", "finish"]
    arrays, meta = io.load_arrays(tmp_path / "last.npz")
    assert arrays["count"].tolist() == [6] and meta["format"] == "deepnet-checkpoint" and meta["epoch"] == 2
    assert json.loads((tmp_path / "config.json").read_text()) == {"command": "train", "rounds": 2}
    history = json.loads((tmp_path / "history.json").read_text())["history"]
    assert [r["judged"] for r in history] == [True, True]  # a before-checkpoint extension's result is kept
    assert up.calls.count("begin") == 2 and set(up.calls) == {"begin", "status False"}


def test_a_finished_run_does_nothing(tmp_path):
    up, lines = Counter(0), []
    Engine(up, tmp_path, progress=False, log=lines.append).run()
    assert lines == ["nothing to do"] and not (tmp_path / "last.npz").exists()


def test_a_run_that_writes_nothing_writes_nothing(tmp_path):
    Engine(Counter(1), tmp_path, [BestCheckpoint("acc")], progress=False, log=lambda *a: None, writes=False).run()
    assert list(tmp_path.iterdir()) == []


def test_best_checkpoint_follows_the_key(tmp_path):
    scores = {1: {"acc": 0.5}, 2: {"acc": 0.4}, 3: {"acc": 0.6}}
    up = Counter(3, scores=scores)
    written = []

    class Watch(Extension):
        def __call__(self, engine, record):
            written.append(io.read_index(tmp_path / "best.npz")[1]["epoch"])

    Engine(up, tmp_path, [BestCheckpoint("acc"), Watch()], progress=False, log=lambda *a: None).run()
    assert written == [1, 1, 3]


@pytest.mark.parametrize("losses, stops_after", [((1.0, 0.5, 0.6, 0.7, 0.1), 4), ((1.0, 0.5, 0.6, 0.4, 0.3), 5)])
def test_early_stopping_waits_patience_rounds_without_improvement(tmp_path, losses, stops_after):
    up, lines = Counter(5, scores={i + 1: {"val_loss": v} for i, v in enumerate(losses)}), []
    Engine(up, tmp_path, [EarlyStopping("val_loss", 2)], progress=False, log=lines.append).run()
    assert up.round == stops_after
    assert ("Early stopping: val_loss has not improved for 2 epochs" in lines) == (stops_after < 5)


# --- the declared-state checker (training/state.py) -------------------------------------------------------------

TOY = state.Declared("deepnet-gan", "toy run", legacy_model="toy", fields={"epoch": whole(0, 9)},
                     arrays={"w": (2, 3)}, optional={"m": (2, 3)})


@pytest.mark.parametrize("index, meta, expected", [
    ({"w": ((2, 3), "<f4")}, {"format": "deepnet-dqn", "epoch": 1}, "not a toy run"),
    ({"w": ((2, 3), "<f4")}, {"model": "other", "epoch": 1}, "not a toy run"),
    ({"w": ((2, 3), "<f4")}, {"format": "deepnet-gan", "epoch": 10}, "'epoch' must be a whole number from 0 to 9"),
    ({"w": ((2, 3), "<f4")}, {"format": "deepnet-gan", "epoch": 1, "version": 99}, "written by a newer deepnet"),
    ({"m": ((2, 3), "<f4")}, {"format": "deepnet-gan", "epoch": 1}, "arrays missing: w"),
    ({"w": ((2, 3), "<f4"), "x": ((1,), "<f4")}, {"model": "toy", "epoch": 1},
     "arrays that belong to no part of this toy run: x"),
    ({"w": ((3, 2), "<f4")}, {"format": "deepnet-gan", "epoch": 1},
     "arrays of the wrong shape: w (3, 2) (expected (2, 3))"),
    ({"w": ((2, 3), "<f4"), "m": ((2, 2), "<f4")}, {"format": "deepnet-gan", "epoch": 1}, "wrong shape: m"),
])
def test_a_checkpoint_is_checked_against_its_declaration(index, meta, expected):
    with pytest.raises(BadFile, match=r"^f\.npz:? .*" + re.escape(expected)):
        state.check("f.npz", index, meta, TOY)


def test_a_checkpoint_that_holds_what_it_declares_is_read():
    index = {"w": ((2, 3), "<f4"), "m": ((2, 3), "<f4")}
    assert state.check("f.npz", index, {"format": "deepnet-gan", "epoch": 3}, TOY) == {"w": (2, 3), "m": (2, 3)}
    assert state.check("f.npz", {"w": ((2, 3), "<f4")}, {"model": "toy", "epoch": 0}, TOY) == {"w": (2, 3)}
