"""Options and settings out of their bounds, or meaningless together, are refused in one line before anything
is loaded, built or written; what the library cannot take is named, not guessed."""

import shutil
import time
import tracemalloc

import pytest

from deepnet.cli import main

from ..cli_helpers import GAN, TINY, gan, one_line, run_cli


@pytest.mark.parametrize("lr", ["nan", "inf", "-inf", "0", "-1"])
def test_bad_learning_rates_are_refused_before_training(tmp_path, capsys, lr):
    code = main(["train", *TINY, f"--lr={lr}", "--out", str(tmp_path / "r")])
    one_line(capsys, code, "--lr must be a finite number above 0")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("value", ["maybe", "2"])
def test_deepnet_numba_refuses_unknown_values(value):
    r = run_cli("info", env={"DEEPNET_NUMBA": value})
    assert r.returncode == 2 and f"DEEPNET_NUMBA={value!r} is not on or off" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_deepnet_numba_off_turns_the_kernels_off():
    pytest.importorskip("numba")
    r = run_cli("info", env={"DEEPNET_NUMBA": "off"})
    assert r.returncode == 0 and "plain NumPy" in r.stdout, r.stdout + r.stderr


@pytest.mark.parametrize("args, expected", [
    (["--reinit", "affine2"], "no --init-from was given"),
    (["--patience", "2"], "needs --validation as well"),
    (["--out", ""], "--out must name a directory"),
    (["--freeze", "conv99"], "no layer named 'conv99' to freeze"),
    (["--augment", "rotate=nan"], "augmentation rotate needs a finite number"),
    (["--augment", "rotate=abc"], "augmentation rotate needs a finite number"),
    (["--recipe", "fast"], "unknown recipe 'fast'"),
])
def test_meaningless_train_options_are_refused(tmp_path, capsys, args, expected):
    argv = ["train", *TINY] + (args if "--out" in args else args + ["--out", str(tmp_path / "r")])
    one_line(capsys, main(argv), expected)


def test_describe_refuses_a_huge_input(capsys):
    one_line(capsys, main(["describe", "alexnet", "--input-shape", "3x100000x100000"]),
                   "beyond what deepnet builds")
    one_line(capsys, main(["describe", "--input-shape", "28x28"]), "--input-shape must look like CxHxW")


@pytest.mark.parametrize("args, expected", [
    (["--batch-size", "0"], "--batch-size must be at least 1"),
    (["--batch-size", "-10"], "--batch-size must be at least 1"),
    (["--dtype", "int8"], "--dtype='int8' is not a supported dtype"),
])
def test_eval_checks_its_options_first(run, capsys, args, expected):
    start = time.perf_counter()
    one_line(capsys, main(["eval", str(run), *args]), expected)
    assert time.perf_counter() - start < 5  # before any pass over the test set


def test_far_too_many_threads_gets_a_warning():
    r = run_cli("info", env={"DEEPNET_THREADS": "512"})
    assert r.returncode == 0 and "far above the" in r.stderr, r.stderr


def test_describe_a_huge_input_allocates_nothing(capsys):
    tracemalloc.start()
    try:
        assert main(["describe", "deepconvnet", "--input-shape", "1x4096x4096"]) == 0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100 << 20, peak  # the model's weights would be 6.7 GB
    assert "total" in capsys.readouterr().out
    one_line(capsys, main(["describe", "binarynet", "--input-shape", "1x2048x2048"]), "parameters (at most")


@pytest.mark.parametrize("limit", ["-1", "-59900", "0"])
def test_gan_refuses_a_limit_below_one(tmp_path, capsys, limit):
    one_line(capsys, gan("--out", str(tmp_path / "g"), *GAN, "--limit", limit), "--limit must be a whole number")
    assert not (tmp_path / "g").exists()


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_binarize_refuses_a_limit_below_one(binarynet, capsys, limit):
    one_line(capsys, main(["binarize", str(binarynet), "--limit", limit]), "--limit must be at least 1")


@pytest.mark.parametrize("value", ["bfloat16", "int8"])
def test_a_bad_dtype_variable_leaves_help_working(value):
    r = run_cli("--help", env={"DEEPNET_DTYPE": value})
    assert r.returncode == 0 and "usage: deepnet" in r.stdout, r.stderr
    r = run_cli("train", "--help", env={"DEEPNET_DTYPE": value})
    assert r.returncode == 0, r.stderr
    r = run_cli("info", env={"DEEPNET_DTYPE": value})
    assert r.returncode == 2 and "Traceback" not in r.stderr and "DEEPNET_DTYPE" in r.stderr, r.stderr


def test_negative_seeds_are_refused(clf, tmp_path, capsys):
    one_line(capsys, gan("--out", str(tmp_path / "g"), *GAN, "--seed", "-1"), "--seed must be a whole number")
    one_line(capsys, main(["scan", str(clf), "--seed", "-3", "--out", str(tmp_path / "s.png")]),
                   "--seed must be 0 or more")


@pytest.mark.parametrize("model, shape, expected", [
    ("fcn", "1x30x30", "multiples of 4"),
    ("binarynet", "1x8x8", "does not fit"),
    ("binarynet", "1x5x5", "does not fit"),
])
def test_describe_an_input_too_small(capsys, model, shape, expected):
    one_line(capsys, main(["describe", model, "--input-shape", shape]),
                   f"{model} cannot be built with input {shape}")


def test_describe_fcn_is_the_model_training_builds(capsys):
    assert main(["describe", "fcn"]) == 0
    out = capsys.readouterr().out
    assert "144,017" in out and "(11, 64, 64)" in out


def test_scenes_validation_is_range_checked(tmp_path, capsys):
    one_line(capsys, main(["train", "--model", "fcn", "--dataset", "mnist-scenes", "--validation", "8000",
                                 "--out", str(tmp_path / "f"), "--no-progress"]),
                   "validation must be between 1 and 7999 samples")


@pytest.mark.parametrize("args, expected", [
    (["--out", ""], "--out must name a directory"),
    (["--width", "100000"], "--width must be a whole number from 2 to 4,096"),
    (["--g-hidden", "100000"], "--g-hidden must be a whole number from 0 to 65,536"),
    (["--width", "4096", "--g-hidden", "60000"], "parameters; at most"),
    (["--judge-every", "2"], "--judge-every judges with the classifier of --judge-with"),
])
def test_gan_refuses_what_it_cannot_build(tmp_path, capsys, args, expected):
    argv = [a for a in GAN if a not in ("--out",)]
    one_line(capsys, gan("--out", str(tmp_path / "g"), *argv, *args), expected)


def test_a_huge_beam_is_refused(saved, capsys):
    one_line(capsys, main(["caption", str(saved / "nic.npz"), "--beam", "1000000000"]), "--beam must be from 1 to 100")


@pytest.mark.parametrize("hidden, expected", [("1000000000", "--hidden must be 1 to 64 widths, each from 1 to 65,536"),
                                              ("20000,20000", "parameters")])
def test_huge_dqn_layers_are_refused(dqn_run, tmp_path, capsys, hidden, expected):
    kept = tmp_path / "kept"
    shutil.copytree(dqn_run, kept)
    before = sorted(p.name for p in kept.iterdir())
    one_line(capsys, main(["dqn", "--hidden", hidden, "--out", str(kept), "--overwrite", "--no-progress"]), expected)
    assert sorted(p.name for p in kept.iterdir()) == before  # refused before --overwrite deleted anything


@pytest.mark.parametrize("seed", ["-1", "4294967296"])
def test_dqn_seeds_out_of_range_are_one_line(tmp_path, capsys, seed):
    pytest.importorskip("minatar")
    one_line(capsys, main(["dqn", "--game", "breakout", "--seed", seed, "--out", str(tmp_path / "r"),
                           "--no-progress"]), "--seed must be a whole number from 0 to")


def test_describe_blames_the_classes_not_the_input(capsys):
    err = one_line(capsys, main(["describe", "fasterrcnn", "--classes", "1"]), "fasterrcnn cannot be built with 1 "
                                                                               "classes")
    assert "input" not in err.split("built with")[1].split(":")[0]


def test_export_help_names_safetensors(capsys):
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    assert ".safetensors" in capsys.readouterr().out
