"""Numbers that stop being finite: training stops without writing a diverged checkpoint, and no accuracy or
class is reported from non-finite outputs, in float32 or float16."""

import numpy as np
import pytest

from deepnet import backends, io
from deepnet.cli import main

from ..cli_helpers import TINY, one_line


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_diverged_first_epoch_writes_no_checkpoint(tmp_path, capsys):
    out = tmp_path / "r"
    # one step per epoch: the epoch's loss is from before its only update, which makes the weights +-1e38
    code = main(["train", *TINY, "--limit", "100", "--epochs", "2", "--lr", "1e38", "--out", str(out)])
    err = one_line(capsys, code, "no checkpoint was written")
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
    one_line(capsys, code, f"the last good checkpoint ({out / 'last.npz'}, epoch 1) is kept")
    assert (out / "last.npz").read_bytes() == good
    arrays, _ = io.load_arrays(out / "last.npz")
    assert all(np.isfinite(a).all() for a in arrays.values())


def test_float16_eval_of_weights_beyond_its_range(clf, tmp_path, capsys):
    arrays, meta = io.load_arrays(clf / "best.npz")
    arrays["model/affine1.W"] = arrays["model/affine1.W"].copy()
    arrays["model/affine1.W"][0, 0] = 1e6  # finite in float32, inf in float16
    io.save_arrays(tmp_path / "big.npz", arrays, meta)
    one_line(capsys, main(["eval", str(tmp_path / "big.npz"), "--dtype", "float16"]),
                   "parameter 'affine1.W' holds values beyond float16's range")
    assert "accuracy" not in capsys.readouterr().out


def test_non_finite_outputs_report_no_accuracy(clf, tmp_path, capsys):
    arrays, meta = io.load_arrays(clf / "best.npz")
    arrays["model/affine1.W"] = np.full_like(arrays["model/affine1.W"], 60000.0)  # fits float16; its sums do not
    io.save_arrays(tmp_path / "loud.npz", arrays, meta)
    one_line(capsys, main(["eval", str(tmp_path / "loud.npz"), "--dtype", "float16"]), "outputs are not finite")


def test_judge_and_binarize_under_a_float16_default(clf, binarynet):
    from deepnet.commands.binarize import report
    from deepnet.gan import Judge

    with backends.use("cpu", dtype="float16"):
        samples = np.random.default_rng(0).integers(0, 256, (50, 28, 28)).astype(np.uint8)
        j = Judge(clf, count_real=100)(samples)
        assert j["samples"] == 50 and np.isfinite(j["frechet_samples_vs_test"])
        r = report(binarynet, limit=20, log=lambda *a: None)
        assert r["checked"] == 20 and r["equal"] == 20
