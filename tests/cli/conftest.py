"""The trained runs and saved models the command-line tests read: each built once a session (a test that
changes one copies it first)."""

import pytest

from deepnet import backends, models
from deepnet.cli import main

from ..cli_helpers import CLF, GAN, TINY, gan


@pytest.fixture(scope="session")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile") / "run"
    assert main(["train", *TINY, "--epochs", "1", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def clf(tmp_path_factory):
    out = tmp_path_factory.mktemp("cmd") / "clf"
    assert main(["train", *CLF, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def gan_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cmd") / "gan"
    assert gan("--out", str(out), "--epochs", "2", *GAN) == 0
    return out


@pytest.fixture(scope="session")
def fcn(tmp_path_factory):
    out = tmp_path_factory.mktemp("cmd") / "fcn"
    assert main(["train", "--model", "fcn", "--dataset", "mnist-scenes", "--epochs", "1", "--limit", "16",
                 "--batch-size", "16", "--out", str(out), "--no-progress", "--no-test-eval"]) == 0
    return out


@pytest.fixture(scope="session")
def binarynet(tmp_path_factory):
    out = tmp_path_factory.mktemp("cmd") / "bnn"
    assert main(["train", "--model", "binarynet", "--recipe", "book", "--epochs", "1", "--limit", "300",
                 "--out", str(out), "--no-progress", "--no-plots", "--no-test-eval"]) == 0
    return out


@pytest.fixture(scope="session")
def saved(tmp_path_factory):
    """Untrained NIC and Faster R-CNN written by the library's own model.save."""
    out = tmp_path_factory.mktemp("saved")
    with backends.use("cpu", dtype="float32"):
        for name in ("nic", "fasterrcnn"):
            models.create(name).save(out / f"{name}.npz")
    return out


@pytest.fixture(scope="session")
def dqn_run(tmp_path_factory):
    pytest.importorskip("minatar")
    out = tmp_path_factory.mktemp("dqn") / "run"
    with backends.use("cpu", dtype="float32"):
        assert main(["dqn", "--out", str(out), "--frames", "200", "--game", "breakout", "--replay-size", "500",
                     "--replay-start", "50", "--epsilon-frames", "100", "--eval-every", "100", "--eval-episodes", "1",
                     "--hidden", "8", "--no-progress"]) == 0
    return out
