import json

import numpy as np
import pytest

from deepnet.datasets import Dataset, Split
from deepnet.layers import SoftmaxWithLoss
from deepnet.models import SimpleConvNet
from deepnet.optimizers import Adam
from deepnet.training import TrainConfig, Trainer, TrainingDiverged, checkpoint


def small_config(tmp_path, **kw):
    base = dict(model="simpleconvnet", epochs=2, batch_size=50, limit=300, out=str(tmp_path / "run"), recipe="book",
                eval_test=False)
    base.update(kw)
    return TrainConfig(**base)


def test_resume_gives_the_same_parameters_as_an_uninterrupted_run(cpu32, tmp_path):
    straight = Trainer.from_config(small_config(tmp_path / "a"), progress=False, log=lambda *a: None)
    straight.fit()
    first = Trainer.from_config(small_config(tmp_path / "b", epochs=1), progress=False, log=lambda *a: None)
    first.fit()
    resumed = Trainer.resume(tmp_path / "b" / "run", epochs=2, progress=False, log=lambda *a: None)
    assert resumed.epoch == 1
    resumed.fit()
    for name, p in straight.model.params().items():
        np.testing.assert_array_equal(p, resumed.model.params()[name], err_msg=name)  # bit for bit on the CPU
    assert [r["loss"] for r in straight.history] == [r["loss"] for r in resumed.history]
    saved = json.loads((tmp_path / "b" / "run" / "history.json").read_text())
    assert len(saved["history"]) == 2 and saved["machine"]["backend"] == "cpu"


def test_each_epoch_uses_every_sample_once(cpu32, tmp_path):
    n = 230  # not a multiple of the batch: the last batch is partial, not dropped or resampled
    x = np.zeros((n, 1, 28, 28), np.uint8)
    x[:, 0, 0, 0] = np.arange(n)
    y = np.arange(n) % 10
    data = Dataset("toy", Split(x, y), Split(x[:10], y[:10]))
    model = SimpleConvNet()
    seen = []
    real_loss = model.loss

    def spy(xb, tb, train=True):
        if train:  # training batches only (the divergence check re-scores the last batch in inference mode)
            seen.append(np.rint(xb[:, 0, 0, 0] * 255).astype(int))
        return real_loss(xb, tb, train)

    model.loss = spy
    trainer = Trainer(model, Adam(), data, small_config(tmp_path, epochs=2, batch_size=100, limit=None),
                      progress=False, log=lambda *a: None)
    trainer.fit()
    assert [len(s) for s in seen] == [100, 100, 30, 100, 100, 30]
    for epoch in (seen[:3], seen[3:]):
        assert sorted(np.concatenate(epoch).tolist()) == list(range(n))
    assert not np.array_equal(np.concatenate(seen[:3]), np.concatenate(seen[3:]))  # reshuffled per epoch


def test_checkpoint_crash_keeps_the_previous_one(cpu32, tmp_path, monkeypatch):
    model, opt = SimpleConvNet(), Adam()
    path = tmp_path / "last.npz"
    checkpoint.save(path, model, opt, {"epoch": 1})
    good = path.read_bytes()

    def crash(f, **arrays):
        f.write(b"PK\x03\x04 partial")
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="simulated"):
        checkpoint.save(path, model, opt, {"epoch": 2})
    assert path.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.npz"]


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_checkpoint(cpu32, tmp_path, monkeypatch):
    trainer = Trainer.from_config(small_config(tmp_path, epochs=1), progress=False, log=lambda *a: None)
    trainer.fit()
    before = (tmp_path / "run" / "last.npz").read_bytes()
    real = SoftmaxWithLoss.forward
    monkeypatch.setattr(SoftmaxWithLoss, "forward", lambda self, x, t, train=False: real(self, x, t) * np.nan)
    resumed = Trainer.resume(tmp_path / "run", epochs=2, progress=False, log=lambda *a: None)
    with pytest.raises(TrainingDiverged, match=r"loss became nan at epoch 2.*last good checkpoint"):
        resumed.fit()
    assert (tmp_path / "run" / "last.npz").read_bytes() == before


def test_bad_config_is_a_clear_error():
    with pytest.raises(ValueError, match="`batch_size` must be a whole number at least 1"):
        TrainConfig(batch_size=0).validate()
    with pytest.raises(ValueError, match="step:EPOCHS:FACTOR"):
        TrainConfig(schedule="step:x").validate()


def test_a_short_real_run_learns(cpu32, tmp_path):
    """2,000 real MNIST digits, 2 epochs of SimpleConvNet: far above chance (10%) on all 10,000 test digits."""
    cfg = small_config(tmp_path, epochs=2, batch_size=50, limit=2000, eval_test=True)
    trainer = Trainer.from_config(cfg, progress=False, log=lambda *a: None)
    history = trainer.fit()
    assert history[-1]["test_acc"] > 0.85, history
    assert history[1]["loss"] < history[0]["loss"]
