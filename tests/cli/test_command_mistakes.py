"""The newer commands keep the promises `deepnet train` keeps (#25): one run per directory, resume that
resumes, checked files, advice that works. One test (or more) per numbered finding; each failed before
its fix."""
import json
import os
import shutil
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

from deepnet import backends, io
from deepnet.cli import main
from ..cli_helpers import one_line as one_line_error

GAN = ["--limit", "64", "--batch-size", "32", "--width", "4", "--g-hidden", "8", "--d-hidden", "8", "--no-progress"]
CLF = ["--model", "simpleconvnet", "--limit", "200", "--batch-size", "100", "--no-progress", "--no-plots",
       "--no-test-eval", "--epochs", "1", "--recipe", "book"]


def run_cli(*argv, env=None, timeout=300):
    full = {k: v for k, v in os.environ.items() if not k.startswith("DEEPNET_")}
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "deepnet", *argv], capture_output=True, text=True, env=full,
                          timeout=timeout)


def gan(*argv):
    with backends.use("cpu", dtype="float32"):
        return main(["gan", *argv])


@pytest.fixture(scope="module")
def clf(tmp_path_factory):
    out = tmp_path_factory.mktemp("cmd") / "clf"
    assert main(["train", *CLF, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cmd") / "gan"
    assert gan("--out", str(out), "--epochs", "2", *GAN) == 0
    return out


@pytest.fixture(scope="module")
def fcn(tmp_path_factory):
    out = tmp_path_factory.mktemp("cmd") / "fcn"
    assert main(["train", "--model", "fcn", "--dataset", "mnist-scenes", "--epochs", "1", "--limit", "16",
                 "--batch-size", "16", "--out", str(out), "--no-progress", "--no-test-eval"]) == 0
    return out


@pytest.fixture(scope="module")
def binarynet(tmp_path_factory):
    out = tmp_path_factory.mktemp("cmd") / "bnn"
    assert main(["train", "--model", "binarynet", "--recipe", "book", "--epochs", "1", "--limit", "300",
                 "--out", str(out), "--no-progress", "--no-plots", "--no-test-eval"]) == 0
    return out


def copy(run, tmp_path, name="copy"):
    dst = tmp_path / name
    shutil.copytree(run, dst)
    return dst


def rewrite(path, meta_changes=None, drop=(), arrays_changes=None, meta_drop=()):
    """Rewrite a checkpoint with some metadata or arrays changed (what a hostile or damaged file holds)."""
    arrays, meta = io.load_arrays(path)
    meta.update(meta_changes or {})
    for k in meta_drop:
        meta.pop(k)
    arrays = {k: a for k, a in arrays.items() if k not in drop}
    arrays.update(arrays_changes or {})
    io.save_arrays(path, arrays, meta)


# --- 1: two GAN runs into one directory ---------------------------------------------------------------------
def test_a_second_gan_run_into_a_locked_directory_fails_at_once(tmp_path, capsys):
    from deepnet.training.rundir import RunDirectory

    held = RunDirectory(tmp_path / "busy", "gan").open()
    try:
        one_line_error(capsys, gan("--out", str(tmp_path / "busy"), "--epochs", "1", *GAN),
                       "another deepnet run is writing to")
    finally:
        held.close()
    assert not (tmp_path / "busy" / "last.npz").exists()


def test_gan_into_a_finished_gan_run_is_refused_and_names_the_resume(gan_run, capsys):
    before = (gan_run / "last.npz").read_bytes()
    err = one_line_error(capsys, gan("--out", str(gan_run), "--epochs", "1", *GAN), "already holds a deepnet gan run")
    assert f"deepnet gan --out {gan_run} --resume" in err
    assert (gan_run / "last.npz").read_bytes() == before


# --- 2: --resume keeps the run's settings ---------------------------------------------------------------------
def test_gan_resume_keeps_the_runs_epochs(gan_run, tmp_path, capsys):
    run = copy(gan_run, tmp_path)
    assert gan("--out", str(run), "--resume", "--no-progress") == 0  # not the CLI's default of 5 epochs
    assert "already trained for 2 of 2 epochs; nothing to do" in capsys.readouterr().out
    assert io.read_index(run / "last.npz")[1]["epoch"] == 2
    assert json.loads((run / "config.json").read_text())["epochs"] == 2
    one_line_error(capsys, gan("--out", str(run), "--resume", "--epochs", "1"), "has trained 2 epochs already")
    assert gan("--out", str(run), "--resume", "--epochs", "3", "--no-progress") == 0
    assert io.read_index(run / "last.npz")[1]["epoch"] == 3


def test_gan_resume_refuses_changed_settings_and_lists_them(gan_run, capsys):
    before = (gan_run / "last.npz").read_bytes()
    err = one_line_error(capsys, gan("--out", str(gan_run), "--resume", "--width", "64", "--seed", "5",
                                     "--batch-size", "7", "--g-hidden", "0"), "these settings differ")
    for part in ("--width 64 (the run has 4)", "--seed 5 (the run has 0)", "--batch-size 7 (the run has 32)",
                 "--g-hidden 0 (the run has 8)", "Only --epochs may change"):
        assert part in err
    assert gan("--out", str(gan_run), "--resume", "--width", "4", "--epochs", "2", "--no-progress") == 0  # same again
    assert (gan_run / "last.npz").read_bytes() == before


# --- 3: scan reads the network the model is --------------------------------------------------------------------
def test_fully_convolutional_binarynet_gives_the_models_logits(cpu32):
    from deepnet.models import BinaryNet
    from deepnet.models.fully_convolutional import fully_convolutional

    model = BinaryNet()
    x = cpu32.rng.normal((6, 1, 28, 28))
    for name in ("bn1", "bn2", "bn3", "bn4"):  # running statistics away from 0/1, as after training
        model.layers[name].running_mean[...] = cpu32.rng.normal(model.layers[name].running_mean.shape)
    want = model.forward(x, train=False)
    got = fully_convolutional(model).forward(x, train=False)
    assert got.shape == (6, 10, 1, 1)
    np.testing.assert_allclose(got[:, :, 0, 0], want, rtol=1e-5, atol=1e-5)


def test_fully_convolutional_refuses_a_residual_network(cpu32):
    from deepnet.errors import InvalidValue
    from deepnet.models import create
    from deepnet.models.fully_convolutional import fully_convolutional

    with pytest.raises(InvalidValue, match=r"\(Residual\) cannot be made fully convolutional"):
        fully_convolutional(create("resnet8"))


def test_scan_a_resnet_run_is_one_line(tmp_path, capsys, cpu32):
    from deepnet.models import create

    create("resnet8").save(tmp_path / "r.npz", {"model_name": "resnet8"})
    one_line_error(capsys, main(["scan", str(tmp_path / "r.npz"), "--out", str(tmp_path / "s.png")]),
                   "cannot be made fully convolutional")


def test_scan_of_a_binarynet_reads_what_the_model_reads(binarynet, tmp_path, capsys):
    from deepnet.backends import current
    from deepnet.loading import load_model
    from deepnet.commands.scan import digit_strip, scan

    result = scan(binarynet, count=6, seed=1, out=None, log=lambda *a: None)
    model, _ = load_model(binarynet)
    strip, labels = digit_strip(6, 1)
    from deepnet import datasets

    digits = datasets.to_model_input(np.stack([strip[:, 28 * i : 28 * (i + 1)] for i in range(6)])[:, None])
    assert result["read"] == [int(v) for v in current().to_numpy(model.predict_labels(digits))]


# --- 4: --init-from a source that shares nothing ----------------------------------------------------------------
def test_init_from_a_gan_run_is_refused(gan_run, tmp_path, capsys):
    one_line_error(capsys, main(["train", *CLF, "--out", str(tmp_path / "t"), "--init-from", str(gan_run)]),
                   "is a deepnet gan checkpoint")
    assert not (tmp_path / "t" / "config.json").exists()


def test_init_from_a_packed_file_is_refused(binarynet, tmp_path, capsys):
    assert main(["binarize", str(binarynet), "--limit", "20", "--out", str(tmp_path / "packed.npz")]) == 0
    one_line_error(capsys, main(["train", *CLF, "--model", "binarynet", "--out", str(tmp_path / "t"),
                                 "--init-from", str(tmp_path / "packed.npz")]), "is a packed BinaryNet")


def test_init_from_a_file_sharing_no_parameter_is_refused(tmp_path, capsys):
    io.save_arrays(tmp_path / "other.npz", {"something.W": np.zeros((3, 3), np.float32)}, {"model": "Other"})
    one_line_error(capsys, main(["train", *CLF, "--out", str(tmp_path / "t"), "--init-from",
                                 str(tmp_path / "other.npz")]), "shares no parameter with the model")


def test_init_from_a_partial_match_says_what_was_copied(clf, tmp_path, capsys):
    arrays, meta = io.load_arrays(clf / "best.npz")
    io.save_arrays(tmp_path / "part.npz", {k: a for k, a in arrays.items() if k.startswith("model/conv1.")}, meta)
    assert main(["train", *CLF, "--out", str(tmp_path / "t"), "--init-from", str(tmp_path / "part.npz")]) == 0
    out = capsys.readouterr().out
    assert "copied 2 of the model's 6 arrays; not copied (fresh): affine1.W" in out


# --- 5: GAN checkpoints checked before use -----------------------------------------------------------------------
@pytest.mark.parametrize("change, expected", [
    (dict(meta_changes={"g_hidden": 200_000_000}), "'g_hidden' must be a whole number from 0 to 65,536"),
    (dict(meta_drop=["optG"]), "'optG' must be an Adam optimizer's settings"),
    (dict(drop=["optG/m/fc.W"]), "arrays missing: optG/m/fc.W"),
    (dict(arrays_changes={"optD/v/fc.W": np.zeros((3, 3), np.float32)}), "arrays of the wrong shape: optD/v/fc.W"),
    (dict(meta_changes={"history": 5}), "'history' must be a list of 2 epoch records"),
    (dict(meta_changes={"rng": [1, 2]}), "'rng' must be a random generator's state"),
    (dict(meta_changes={"limit": -1}), "'limit' must be a whole number from 2 to 60,000"),
    (dict(meta_changes={"epoch": "2"}), "'epoch' must be a whole number from 0 to 100,000; got '2'"),
    (dict(arrays_changes={"G/extra": np.zeros(3, np.float32)}), "arrays that belong to no part of this DCGAN: G/extra"),
])
def test_a_damaged_gan_checkpoint_is_refused_before_building(gan_run, tmp_path, capsys, change, expected):
    run = copy(gan_run, tmp_path)
    rewrite(run / "last.npz", **change)
    tracemalloc.start()
    try:
        err = one_line_error(capsys, gan("--out", str(run), "--resume", "--epochs", "3"), expected)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 200 << 20  # nothing large was built
    assert str(run / "last.npz") in err


def test_a_bad_rng_state_in_a_gan_checkpoint_is_one_line(gan_run, tmp_path, capsys):
    run = copy(gan_run, tmp_path)
    rewrite(run / "last.npz", meta_changes={"rng": {"bit_generator": "nonsense"}})
    one_line_error(capsys, gan("--out", str(run), "--resume", "--epochs", "3"), "random generator state")


# --- 6: describe allocates no weights ---------------------------------------------------------------------------
def test_describe_a_huge_input_allocates_nothing(capsys):
    tracemalloc.start()
    try:
        assert main(["describe", "deepconvnet", "--input-shape", "1x4096x4096"]) == 0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100 << 20, peak  # the model's weights would be 6.7 GB
    assert "total" in capsys.readouterr().out
    one_line_error(capsys, main(["describe", "binarynet", "--input-shape", "1x2048x2048"]), "parameters (at most")


# --- 7: negative limits ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("limit", ["-1", "-59900", "0"])
def test_gan_refuses_a_limit_below_one(tmp_path, capsys, limit):
    one_line_error(capsys, gan("--out", str(tmp_path / "g"), *GAN, "--limit", limit), "--limit must be a whole number")
    assert not (tmp_path / "g").exists()


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_binarize_refuses_a_limit_below_one(binarynet, capsys, limit):
    one_line_error(capsys, main(["binarize", str(binarynet), "--limit", limit]), "--limit must be at least 1")


# --- 8: an output that is an input ---------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["scan", "binarize"])
def test_out_that_is_the_checkpoint_read_is_refused(binarynet, capsys, command):
    before = (binarynet / "best.npz").read_bytes()
    for out in (binarynet / "best.npz", binarynet / "last.npz"):
        one_line_error(capsys, main([command, str(binarynet), "--out", str(out)]), "which this command reads")
    assert (binarynet / "best.npz").read_bytes() == before
    assert main(["eval", str(binarynet)]) == 0


def test_scan_creates_the_parent_directory(clf, tmp_path):
    assert main(["scan", str(clf), "--out", str(tmp_path / "a" / "b" / "scan.png")]) == 0
    assert (tmp_path / "a" / "b" / "scan.png").stat().st_size > 1000


# --- 9: --overwrite deletes every file of the old run ------------------------------------------------------------
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


# --- 10: float16 evaluation never reports an accuracy from non-finite outputs ------------------------------------
def test_float16_eval_of_weights_beyond_its_range(clf, tmp_path, capsys):
    arrays, meta = io.load_arrays(clf / "best.npz")
    arrays["model/affine1.W"] = arrays["model/affine1.W"].copy()
    arrays["model/affine1.W"][0, 0] = 1e6  # finite in float32, inf in float16
    io.save_arrays(tmp_path / "big.npz", arrays, meta)
    one_line_error(capsys, main(["eval", str(tmp_path / "big.npz"), "--dtype", "float16"]),
                   "parameter 'affine1.W' holds values beyond float16's range")
    assert "accuracy" not in capsys.readouterr().out


def test_non_finite_outputs_report_no_accuracy(clf, tmp_path, capsys):
    arrays, meta = io.load_arrays(clf / "best.npz")
    arrays["model/affine1.W"] = np.full_like(arrays["model/affine1.W"], 60000.0)  # fits float16; its sums do not
    io.save_arrays(tmp_path / "loud.npz", arrays, meta)
    one_line_error(capsys, main(["eval", str(tmp_path / "loud.npz"), "--dtype", "float16"]), "outputs are not finite")


# --- 11: a bad DEEPNET_DTYPE ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["bfloat16", "int8"])
def test_a_bad_dtype_variable_leaves_help_working(value):
    r = run_cli("--help", env={"DEEPNET_DTYPE": value})
    assert r.returncode == 0 and "usage: deepnet" in r.stdout, r.stderr
    r = run_cli("train", "--help", env={"DEEPNET_DTYPE": value})
    assert r.returncode == 0, r.stderr
    r = run_cli("info", env={"DEEPNET_DTYPE": value})
    assert r.returncode == 2 and "Traceback" not in r.stderr and "DEEPNET_DTYPE" in r.stderr, r.stderr


# --- 12: a segmentation run where a classifier is expected --------------------------------------------------------
def test_a_segmenter_where_a_classifier_is_expected(fcn, clf, tmp_path, capsys):
    from PIL import Image

    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "d.png")
    one_line_error(capsys, main(["predict", str(tmp_path / "d.png"), "--weights", str(fcn)]),
                   "scores every pixel (a segmentation model); deepnet predict needs a classifier")
    one_line_error(capsys, main(["eval", str(fcn), str(clf)]), "an ensemble averages outputs of one kind")
    one_line_error(capsys, gan("--out", str(tmp_path / "g"), *GAN, "--judge-with", str(fcn)),
                   "judging generated digits (--judge-with) needs a classifier")
    assert not (tmp_path / "g" / "last.npz").exists()


# --- 13: float16 as the default dtype -------------------------------------------------------------------------------
def test_judge_and_binarize_under_a_float16_default(clf, binarynet):
    from deepnet.commands.binarize import report
    from deepnet.gan import Judge

    with backends.use("cpu", dtype="float16"):
        samples = np.random.default_rng(0).integers(0, 256, (50, 28, 28)).astype(np.uint8)
        j = Judge(clf, count_real=100)(samples)
        assert j["samples"] == 50 and np.isfinite(j["frechet_samples_vs_test"])
        r = report(binarynet, limit=20, log=lambda *a: None)
        assert r["checked"] == 20 and r["equal"] == 20


# --- 14: negative seeds -----------------------------------------------------------------------------------------------
def test_negative_seeds_are_refused(clf, tmp_path, capsys):
    one_line_error(capsys, gan("--out", str(tmp_path / "g"), *GAN, "--seed", "-1"), "--seed must be a whole number")
    one_line_error(capsys, main(["scan", str(clf), "--seed", "-3", "--out", str(tmp_path / "s.png")]),
                   "--seed must be 0 or more")


# --- 15: describe with an input the model cannot take -----------------------------------------------------------------
@pytest.mark.parametrize("model, shape, expected", [
    ("fcn", "1x30x30", "multiples of 4"),
    ("binarynet", "1x8x8", "does not fit"),
    ("binarynet", "1x5x5", "does not fit"),
])
def test_describe_an_input_too_small(capsys, model, shape, expected):
    one_line_error(capsys, main(["describe", model, "--input-shape", shape]),
                   f"{model} cannot be built with input {shape}")


def test_describe_fcn_is_the_model_training_builds(capsys):
    assert main(["describe", "fcn"]) == 0
    out = capsys.readouterr().out
    assert "144,017" in out and "(11, 64, 64)" in out


# --- 16: the scenes' validation split ---------------------------------------------------------------------------------
def test_scenes_validation_is_range_checked(tmp_path, capsys):
    one_line_error(capsys, main(["train", "--model", "fcn", "--dataset", "mnist-scenes", "--validation", "8000",
                                 "--out", str(tmp_path / "f"), "--no-progress"]),
                   "validation must be between 1 and 7999 samples")


# --- 17: every next step named works --------------------------------------------------------------------------------
def test_gan_into_a_classifier_run_names_deepnet_train(clf, capsys):
    err = one_line_error(capsys, gan("--out", str(clf), *GAN), "already holds a deepnet train run")
    assert f"deepnet train --out {clf} --resume" in err
    err = one_line_error(capsys, gan("--out", str(clf), "--resume"), "holds a deepnet train run, not a deepnet gan")
    assert f"deepnet train --out {clf} --resume" in err


def test_train_resume_of_a_gan_run_names_deepnet_gan(gan_run, capsys):
    err = one_line_error(capsys, main(["train", "--resume", str(gan_run)]), "holds a deepnet gan run")
    assert f"deepnet gan --out {gan_run} --resume" in err
    err = one_line_error(capsys, main(["train", *CLF, "--out", str(gan_run)]), "already holds a deepnet gan run")
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
    err = one_line_error(capsys, main(["train", "--resume", str(run)]), "holds no run to resume")
    assert f"deepnet train --out {run} --overwrite" in err
    err = one_line_error(capsys, main(["train", *CLF, "--out", str(run)]), "already holds files of an earlier run")
    assert "--overwrite" in err and "--resume" not in err
    assert main(["train", *CLF, "--out", str(run), "--overwrite"]) == 0


# --- smaller findings -------------------------------------------------------------------------------------------------
def test_the_packed_file_loads_and_predicts_as_the_model(binarynet, tmp_path, cpu32):
    from deepnet import datasets
    from deepnet.binary_inference import load_packed
    from deepnet.loading import load_model

    assert main(["binarize", str(binarynet), "--limit", "20", "--out", str(tmp_path / "p" / "packed.npz")]) == 0
    net = load_packed(tmp_path / "p" / "packed.npz")
    model, _ = load_model(binarynet)
    x = datasets.to_model_input(datasets.load("mnist").test.x[:200])
    np.testing.assert_array_equal(net.predict_labels(x), cpu32.to_numpy(model.predict_labels(x)))


def test_eval_of_a_packed_file_says_what_reads_it(binarynet, tmp_path, capsys):
    assert main(["binarize", str(binarynet), "--limit", "20", "--out", str(tmp_path / "packed.npz")]) == 0
    one_line_error(capsys, main(["eval", str(tmp_path / "packed.npz")]), "binary_inference.load_packed reads it")


def test_judge_json_says_which_epoch_and_goes_with_a_resume(clf, tmp_path):
    out = tmp_path / "g"
    assert gan("--out", str(out), "--epochs", "1", *GAN, "--judge-with", str(clf)) == 0
    judged = json.loads((out / "judge.json").read_text())
    assert judged["epoch"] == 1 and judged["samples"] == 10000
    assert "judge" in json.loads((out / "history.json").read_text())["history"][0]  # kept with the run
    assert gan("--out", str(out), "--resume", "--epochs", "2", "--no-progress") == 0
    assert not (out / "judge.json").exists()  # it judged epoch 1's generator


def test_gan_checkpoint_records_its_dtype_and_settings(gan_run):
    meta = io.read_index(gan_run / "last.npz")[1]
    config = json.loads((gan_run / "config.json").read_text())
    assert meta["dtype"] == config["dtype"] == "float32" and config["command"] == "gan"
    assert {k: config[k] for k in ("width", "g_hidden", "d_hidden", "limit")} == dict(width=4, g_hidden=8, d_hidden=8,
                                                                                        limit=64)


def test_gan_removes_temporary_files_of_a_killed_write(gan_run, tmp_path):
    run = copy(gan_run, tmp_path)
    (run / ".last.npz.x9.tmp").write_bytes(b"half")
    assert gan("--out", str(run), "--resume", "--epochs", "3", "--no-progress") == 0
    assert not list(run.glob(".*.tmp"))


@pytest.mark.parametrize("args, expected", [
    (["--out", ""], "--out must name a directory"),
    (["--width", "100000"], "--width must be a whole number from 2 to 4,096"),
    (["--g-hidden", "100000"], "--g-hidden must be a whole number from 0 to 65,536"),
    (["--width", "4096", "--g-hidden", "60000"], "parameters; at most"),
    (["--judge-every", "2"], "--judge-every judges with the classifier of --judge-with"),
])
def test_gan_refuses_what_it_cannot_build(tmp_path, capsys, args, expected):
    argv = [a for a in GAN if a not in ("--out",)]
    one_line_error(capsys, gan("--out", str(tmp_path / "g"), *argv, *args), expected)


def test_fcn_run_records_augmentation_off_and_reports_iou(fcn, capsys):
    assert json.loads((fcn / "config.json").read_text())["augment"] == ""


def test_fcn_run_reports_pixel_accuracy_and_iou_without_plots(tmp_path, capsys):
    assert main(["train", "--model", "fcn", "--dataset", "mnist-scenes", "--epochs", "1", "--limit", "16",
                 "--batch-size", "16", "--out", str(tmp_path / "f"), "--no-progress", "--no-plots",
                 "--no-test-eval"]) == 0
    out = capsys.readouterr().out
    assert "Test pixel accuracy" in out and "mean IoU" in out and "Test accuracy" not in out


def test_layers_refuse_fractional_strides_and_integer_leaky_input(cpu32):
    from deepnet.layers import Convolution, LeakyRelu, Pooling, TransposedConvolution

    with pytest.raises(ValueError, match="stride must be a whole number; got 1.5"):
        TransposedConvolution(2, 2, stride=1.5)
    with pytest.raises(ValueError, match="stride must be a whole number"):
        Convolution(1, 2, 3, stride=2.5)
    with pytest.raises(ValueError, match="stride must be a whole number"):
        Pooling(2, stride=0.5)
    assert TransposedConvolution(2, 2, stride=2.0).stride == 2
    with pytest.raises(TypeError, match="LeakyRelu expects floating-point input; got int64"):
        LeakyRelu(0.2).forward(np.array([-5, 5]))


def test_predict_on_an_empty_batch_says_so(cpu32):
    from deepnet.models import SimpleConvNet

    with pytest.raises(ValueError, match="got an empty batch"):
        SimpleConvNet().predict(np.zeros((0, 1, 28, 28), np.float32))


# --- every command that trains resumes with --out DIR --resume -------------------------------------------------
def test_train_resumes_with_out_and_resume_as_gan_and_dqn_do(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["--model", "simpleconvnet", "--limit", "200", "--batch-size", "50", "--no-progress", "--no-plots",
            "--no-test-eval"]
    assert main(["train", "--out", str(run), "--epochs", "1", *args]) == 0
    assert main(["train", "--out", str(run), "--resume", "--epochs", "2", "--no-progress", "--no-plots"]) == 0
    assert f"Resuming {run} after epoch 1" in capsys.readouterr().out
    assert [h["epoch"] for h in json.loads((run / "history.json").read_text())["history"]] == [1, 2]
    one_line_error(capsys, main(["train", "--out", str(run), "--resume", str(tmp_path / "other")]),
                   "name two runs: give --out DIR --resume")
