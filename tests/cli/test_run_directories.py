"""A run directory holds one run, for every command that trains (train, gan, dqn): a finished run is
refused unless resumed or overwritten, a second writer fails at once, a resume keeps the run's settings
and refuses others with the list, the advice given names the command that works, nothing is lost."""

import errno
import json
import os
import shutil
import sys
import time

import numpy as np
import pytest

from deepnet import io
from deepnet.cli import main

from ..cli_helpers import CLF, GAN, TINY, copy, gan, one_line, run_cli


def test_resume_takes_epochs_from_argv_not_sys_argv(run, tmp_path, monkeypatch, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    monkeypatch.setattr(sys, "argv", ["deepnet"])  # nothing there: main(argv) alone must decide
    assert main(["train", "--resume", str(copy), "--epochs", "2", "--no-progress", "--no-plots"]) == 0
    assert json.loads((copy / "history.json").read_text())["history"][-1]["epoch"] == 2


def test_training_into_a_finished_run_is_refused(run, capsys):
    before = (run / "last.npz").read_bytes()
    code = main(["train", *TINY, "--out", str(run)])
    err = one_line(capsys, code, "already holds a deepnet train run")
    assert f"deepnet train --out {run} --resume" in err and "--overwrite" in err
    assert (run / "last.npz").read_bytes() == before


def test_overwrite_replaces_the_run(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["train", *TINY, "--epochs", "1", "--out", str(out)]) == 0
    assert main(["train", *TINY, "--epochs", "1", "--model", "deepconvnet", "--out", str(out), "--overwrite"]) == 0
    _, meta = io.load_arrays(out / "last.npz")
    assert meta["model"] == "DeepConvNet" and json.loads((out / "config.json").read_text())["model"] == "deepconvnet"


def test_a_second_writer_fails_at_once(tmp_path, capsys):
    from deepnet.training.rundir import RunDirectory

    held = RunDirectory(tmp_path / "busy").open()
    try:
        start = time.perf_counter()
        code = main(["train", *TINY, "--out", str(tmp_path / "busy")])
        one_line(capsys, code, "another deepnet run is writing to")
        assert time.perf_counter() - start < 10
    finally:
        held.close()


def test_the_lock_holds_across_processes(tmp_path):
    from deepnet.training.rundir import RunDirectory

    held = RunDirectory(tmp_path / "busy").open()
    try:
        r = run_cli("train", *TINY, "--out", str(tmp_path / "busy"))
        assert r.returncode == 2 and "another deepnet run is writing to" in r.stderr, r.stderr
    finally:
        held.close()


def test_a_run_killed_in_its_first_epoch_leaves_no_half_run(tmp_path, monkeypatch, capsys):
    from deepnet.layers import SoftmaxWithLoss

    out = tmp_path / "r"
    real = SoftmaxWithLoss.forward
    calls = [0]

    def dies(self, x, t, train=False):
        calls[0] += 1
        if calls[0] == 2:
            raise KeyboardInterrupt
        return real(self, x, t)

    monkeypatch.setattr(SoftmaxWithLoss, "forward", dies)
    assert main(["train", *TINY, "--epochs", "1", "--out", str(out)]) == 130
    assert not any((out / n).exists() for n in ("config.json", "last.npz", "best.npz", "history.json"))
    monkeypatch.setattr(SoftmaxWithLoss, "forward", real)
    (out / ".last.npz.x1y2.tmp").write_bytes(b"")  # what a kill during a checkpoint write leaves
    assert main(["train", *TINY, "--epochs", "1", "--model", "deepconvnet", "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["model"] == "deepconvnet"
    assert not list(out.glob(".*.tmp"))


def test_resume_refuses_changed_settings_and_lists_them(run, capsys):
    code = main(["train", "--resume", str(run), "--lr", "0.01", "--batch-size", "50", "--model", "deepconvnet"])
    err = one_line(capsys, code, "--resume continues")
    for part in ("--lr 0.01 (the run has 0.001)", "--batch-size 50 (the run has 100)",
                 "--model 'deepconvnet' (the run has 'simpleconvnet')", "--epochs, --patience, --data-dir"):
        assert part in err, err


def test_resume_accepts_the_same_settings_again(run, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    assert main(["train", "--resume", str(copy), "--model", "simpleconvnet", "--lr", "0.001", "--epochs", "2",
                 "--no-progress", "--no-plots", "--no-test-eval"]) == 0


def test_out_that_is_a_file_or_a_symlink_loop(tmp_path, capsys):
    (tmp_path / "file").write_text("mine")
    one_line(capsys, main(["train", *TINY, "--out", str(tmp_path / "file")]), "is a file, not a directory")
    assert (tmp_path / "file").read_text() == "mine"
    os.symlink("loop", tmp_path / "loop")
    one_line(capsys, main(["train", *TINY, "--out", str(tmp_path / "loop")]), "cannot use")


def test_a_full_disk_is_one_line_and_keeps_the_old_checkpoint(run, tmp_path, monkeypatch, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    before = (copy / "last.npz").read_bytes()

    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np, "savez", full)
    code = main(["train", "--resume", str(copy), "--epochs", "2", "--no-progress", "--no-plots"])
    err = one_line(capsys, code, "No space left on device")
    assert err.count("No space") == 1
    assert (copy / "last.npz").read_bytes() == before and not list(copy.glob(".*.tmp"))


@pytest.mark.parametrize("text, expected", [
    ('{"model": "simpleconvnet", "epochs": "ten"}', "'epochs' must be a whole number from 1 to 100,000; got 'ten'"),
    ('{"model": "simpleconvnet", "epo', "truncated or not JSON"),
    ('[1, 2]', "expected a JSON object"),
])
def test_a_damaged_config_names_the_file(run, tmp_path, capsys, text, expected):
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    (copy / "config.json").write_text(text)
    err = one_line(capsys, main(["train", "--resume", str(copy)]), expected)
    assert str(copy / "config.json") in err


def test_a_second_gan_run_into_a_locked_directory_fails_at_once(tmp_path, capsys):
    from deepnet.training.rundir import RunDirectory

    held = RunDirectory(tmp_path / "busy", "gan").open()
    try:
        one_line(capsys, gan("--out", str(tmp_path / "busy"), "--epochs", "1", *GAN),
                       "another deepnet run is writing to")
    finally:
        held.close()
    assert not (tmp_path / "busy" / "last.npz").exists()


def test_gan_into_a_finished_gan_run_is_refused_and_names_the_resume(gan_run, capsys):
    before = (gan_run / "last.npz").read_bytes()
    err = one_line(capsys, gan("--out", str(gan_run), "--epochs", "1", *GAN), "already holds a deepnet gan run")
    assert f"deepnet gan --out {gan_run} --resume" in err
    assert (gan_run / "last.npz").read_bytes() == before


def test_gan_resume_keeps_the_runs_epochs(gan_run, tmp_path, capsys):
    run = copy(gan_run, tmp_path)
    assert gan("--out", str(run), "--resume", "--no-progress") == 0  # not the CLI's default of 5 epochs
    assert "already trained for 2 of 2 epochs; nothing to do" in capsys.readouterr().out
    assert io.read_index(run / "last.npz")[1]["epoch"] == 2
    assert json.loads((run / "config.json").read_text())["epochs"] == 2
    one_line(capsys, gan("--out", str(run), "--resume", "--epochs", "1"), "has trained 2 epochs already")
    assert gan("--out", str(run), "--resume", "--epochs", "3", "--no-progress") == 0
    assert io.read_index(run / "last.npz")[1]["epoch"] == 3


def test_gan_resume_refuses_changed_settings_and_lists_them(gan_run, capsys):
    before = (gan_run / "last.npz").read_bytes()
    err = one_line(capsys, gan("--out", str(gan_run), "--resume", "--width", "64", "--seed", "5",
                                     "--batch-size", "7", "--g-hidden", "0"), "these settings differ")
    for part in ("--width 64 (the run has 4)", "--seed 5 (the run has 0)", "--batch-size 7 (the run has 32)",
                 "--g-hidden 0 (the run has 8)", "Only --epochs may change"):
        assert part in err
    assert gan("--out", str(gan_run), "--resume", "--width", "4", "--epochs", "2", "--no-progress") == 0  # same again
    assert (gan_run / "last.npz").read_bytes() == before


def test_gan_overwrite_deletes_the_old_runs_pictures_and_reports(gan_run, tmp_path):
    run = copy(gan_run, tmp_path)
    (run / "judge.json").write_text("{}")
    assert (run / "samples.png").exists() and (run / "progress.png").exists()
    assert gan("--out", str(run), "--overwrite", "--epochs", "1", *GAN) == 0
    assert not (run / "judge.json").exists()
    assert io.read_index(run / "last.npz")[1]["epoch"] == 1


def test_train_overwrite_deletes_a_segmentation_picture(fcn, tmp_path):
    run = copy(fcn, tmp_path)
    assert (run / "segmentation.png").exists()
    assert main(["train", *CLF, "--out", str(run), "--overwrite"]) == 0
    assert not (run / "segmentation.png").exists()


def test_gan_into_a_classifier_run_names_deepnet_train(clf, capsys):
    err = one_line(capsys, gan("--out", str(clf), *GAN), "already holds a deepnet train run")
    assert f"deepnet train --out {clf} --resume" in err
    err = one_line(capsys, gan("--out", str(clf), "--resume"), "holds a deepnet train run, not a deepnet gan")
    assert f"deepnet train --out {clf} --resume" in err


def test_train_resume_of_a_gan_run_names_deepnet_gan(gan_run, capsys):
    err = one_line(capsys, main(["train", "--resume", str(gan_run)]), "holds a deepnet gan run")
    assert f"deepnet gan --out {gan_run} --resume" in err
    err = one_line(capsys, main(["train", *CLF, "--out", str(gan_run)]), "already holds a deepnet gan run")
    assert f"deepnet gan --out {gan_run} --resume" in err


def test_a_run_killed_before_its_config_resumes(clf, tmp_path, capsys):
    run = copy(clf, tmp_path)
    for name in ("config.json", "history.json", "best.npz"):  # killed right after writing last.npz
        (run / name).unlink()
    (run / ".best.npz.a1b2.tmp").write_bytes(b"half")
    assert main(["train", "--resume", str(run), "--epochs", "2", "--no-progress", "--no-plots"]) == 0
    assert json.loads((run / "config.json").read_text())["epochs"] == 2
    assert not list(run.glob(".*.tmp"))


def test_a_directory_with_only_pictures_names_overwrite(tmp_path, capsys):
    run = tmp_path / "r"
    run.mkdir()
    (run / "curves.png").write_bytes(b"x")
    err = one_line(capsys, main(["train", "--resume", str(run)]), "holds no run to resume")
    assert f"deepnet train --out {run} --overwrite" in err
    err = one_line(capsys, main(["train", *CLF, "--out", str(run)]), "already holds files of an earlier run")
    assert "--overwrite" in err and "--resume" not in err
    assert main(["train", *CLF, "--out", str(run), "--overwrite"]) == 0


def test_judge_json_says_which_epoch_and_goes_with_a_resume(clf, tmp_path):
    out = tmp_path / "g"
    assert gan("--out", str(out), "--epochs", "1", *GAN, "--judge-with", str(clf)) == 0
    judged = json.loads((out / "judge.json").read_text())
    assert judged["epoch"] == 1 and judged["samples"] == 10000
    assert "judge" in json.loads((out / "history.json").read_text())["history"][0]  # kept with the run
    assert gan("--out", str(out), "--resume", "--epochs", "2", "--no-progress") == 0
    assert not (out / "judge.json").exists()  # it judged epoch 1's generator


def test_gan_removes_temporary_files_of_a_killed_write(gan_run, tmp_path):
    run = copy(gan_run, tmp_path)
    (run / ".last.npz.x9.tmp").write_bytes(b"half")
    assert gan("--out", str(run), "--resume", "--epochs", "3", "--no-progress") == 0
    assert not list(run.glob(".*.tmp"))


def test_train_resumes_with_out_and_resume_as_gan_and_dqn_do(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["--model", "simpleconvnet", "--limit", "200", "--batch-size", "50", "--no-progress", "--no-plots",
            "--no-test-eval"]
    assert main(["train", "--out", str(run), "--epochs", "1", *args]) == 0
    assert main(["train", "--out", str(run), "--resume", "--epochs", "2", "--no-progress", "--no-plots"]) == 0
    assert f"Resuming {run} after epoch 1" in capsys.readouterr().out
    assert [h["epoch"] for h in json.loads((run / "history.json").read_text())["history"]] == [1, 2]
    one_line(capsys, main(["train", "--out", str(run), "--resume", str(tmp_path / "other")]),
                   "name two runs: give --out DIR --resume")


def test_the_resume_refusal_names_the_replay_size_option(capsys, tmp_path):
    pytest.importorskip("minatar")
    one_line(capsys, main(["dqn", "--replay-size", "5", "--out", str(tmp_path / "r"), "--no-progress"]),
             "--replay-size 5 holds fewer transitions than a batch")
