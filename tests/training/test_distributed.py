"""Data-parallel training over MPI, with real processes (mpiexec -n 2) on the CPU."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deepnet import io
from deepnet.distributed import shard

MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
needs_mpi = pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec: pip install 'deepnet[distributed]'")


def mpirun(n, args, tmp_path, timeout=300):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEEPNET_")}
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1")
    return subprocess.run([MPIEXEC, "-n", str(n), sys.executable, *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=tmp_path)


def test_shards_are_disjoint_and_cover_the_batch():
    batch = np.arange(103)
    parts = [shard(batch, r, 4) for r in range(4)]
    assert sorted(np.concatenate(parts).tolist()) == batch.tolist()
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_missing_mpi4py_says_what_to_install(monkeypatch):
    import deepnet.distributed as d

    monkeypatch.setitem(sys.modules, "mpi4py", None)
    with pytest.raises(ImportError, match=r"pip install 'deepnet\[distributed\]'"):
        d.Communicator()


@needs_mpi
def test_two_ranks_match_one_rank_with_the_same_global_batch(tmp_path):
    common = ["-m", "deepnet", "train", "--distributed", "--model", "simpleconvnet", "--limit", "430", "--epochs",
              "2", "--recipe", "book", "--no-progress", "--no-test-eval", "--no-plots"]
    one = mpirun(1, common + ["--batch-size", "100", "--out", "one"], tmp_path)
    assert one.returncode == 0, one.stderr
    two = mpirun(2, common + ["--batch-size", "50", "--out", "two"], tmp_path)
    assert two.returncode == 0, two.stderr
    a, meta_a = io.load_arrays(tmp_path / "one" / "last.npz")
    b, meta_b = io.load_arrays(tmp_path / "two" / "last.npz")
    for k in a:
        if k.startswith("model/"):
            np.testing.assert_allclose(b[k], a[k], rtol=2e-4, atol=2e-6, err_msg=k)
    # every sample once per epoch on both: the same training loss up to rounding
    assert meta_a["history"][1]["loss"] == pytest.approx(meta_b["history"][1]["loss"], rel=1e-4)
    # rank 0 alone writes and talks
    assert two.stdout.count("Epoch 2/2") == 1
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["best.npz", "config.json", "history.json",
                                                                    "last.npz"]
    # and the run resumes distributed
    more = mpirun(2, common[:8] + ["--epochs", "3", "--resume", "two", "--no-progress", "--no-test-eval",
                                    "--no-plots"], tmp_path)
    assert more.returncode == 0, more.stderr
    assert "Resuming two after epoch 2" in more.stdout and more.stdout.count("Epoch 3/3") == 1


CRASH = """
import sys
from deepnet.training import TrainConfig, Trainer
from deepnet.layers import SoftmaxWithLoss
trainer = Trainer.from_config(TrainConfig(model="simpleconvnet", epochs=1, batch_size=20, limit=400, out="crash",
                                          eval_test=False, distributed=True), progress=False)
calls = [0]
real = SoftmaxWithLoss.forward
def forward(self, x, t, train=False):
    calls[0] += 1
    if trainer.comm.rank == 1 and calls[0] == 3:
        raise RuntimeError("rank 1 dies (simulated)")
    return real(self, x, t)
SoftmaxWithLoss.forward = forward
trainer.fit()
"""


@needs_mpi
def test_a_dying_rank_stops_the_others(tmp_path):
    (tmp_path / "crash.py").write_text(CRASH)
    r = mpirun(2, ["crash.py"], tmp_path, timeout=120)  # a hang would hit the timeout and fail the test
    assert r.returncode != 0
    assert "rank 1 dies (simulated)" in r.stderr and "aborting all 2 ranks" in r.stderr
