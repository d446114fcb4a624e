"""Mixed-precision training: float16 parameters and activations, float32 master weights and optimizer state,
dynamic loss scaling that skips a step whose gradients overflowed (training/loss_scale.py)."""
import numpy as np
import pytest

from deepnet import backends
from deepnet.errors import InvalidValue
from deepnet.models import SimpleConvNet
from deepnet.optimizers import SGD, Adam
from deepnet.training import TrainConfig, Trainer, checkpoint
from deepnet.training.loss_scale import DynamicLossScale


def test_master_weights_keep_updates_smaller_than_a_float16_step(cpu32):
    xp = cpu32.xp
    p = {"w": xp.ones(4, dtype=xp.float16)}
    g = {"w": xp.ones(4, dtype=xp.float16)}
    opt = SGD(lr=1e-4)  # 1e-4 is under half of float16's spacing at 1.0 (4.9e-4): rounding alone would lose it
    for _ in range(10):
        opt.update(p, g)
    master = opt.slots["master"]["w"]
    assert master.dtype == np.float32 and np.allclose(master, 0.999, atol=1e-6)
    assert np.all(p["w"] == np.float16(0.999)) and np.all(p["w"] < 1)
    plain = np.float16(1.0)
    for _ in range(10):
        plain = np.float16(np.float32(plain) - np.float32(1e-4))  # without a master, every step rounds back
    assert plain == 1.0


def test_master_weights_round_trip_through_the_optimizer_state(cpu32):
    xp = cpu32.xp
    p, g = {"w": xp.ones(3, dtype=xp.float16)}, {"w": xp.full(3, 0.5, dtype=xp.float16)}
    opt = Adam()
    opt.update(p, g)
    state = opt.state_dict()
    assert set(state["arrays"]) == {"m/w", "v/w", "master/w"}
    again = Adam()
    again.load_state_dict(state)
    np.testing.assert_array_equal(again.slots["master"]["w"], opt.slots["master"]["w"])


def test_grad_scale_divides_in_float32(cpu32):
    xp = cpu32.xp
    p = {"w": xp.zeros(2, dtype=xp.float16)}
    g = {"w": xp.full(2, 30000.0, dtype=xp.float16)}  # a scaled gradient
    SGD(lr=1.0).update(p, g, grad_scale=1.0 / 2 ** 15)
    np.testing.assert_allclose(p["w"].astype(np.float32), -30000.0 / 2 ** 15, rtol=1e-3)


def test_the_scale_backs_off_on_overflow_and_grows_after_clean_steps():
    s = DynamicLossScale(scale=1024, growth_interval=3)
    s.update(False)
    assert s.scale == 512 and s.skipped == 1 and s.good_steps == 0
    for _ in range(3):
        s.update(True)
    assert s.scale == 1024 and s.good_steps == 0
    with pytest.raises(InvalidValue):
        DynamicLossScale(scale=0.5)
    with pytest.raises(InvalidValue, match="bad loss scale"):
        s.load_state({"scale": float("nan")})


def test_an_overflowing_step_is_skipped_and_the_scale_comes_down(cpu32):
    with backends.use("cpu", dtype="float16") as bk:
        bk.rng.seed(0)
        model, opt = SimpleConvNet(dtype="float16"), Adam()
        x = bk.rng.uniform((4, 1, 28, 28)).astype(np.float16)
        t = np.arange(4) % 10
        scale = DynamicLossScale(scale=2.0 ** 24)  # (softmax - onehot) * 2^24 / 4 overflows float16
        before = {k: v.copy() for k, v in model.params().items()}
        model.train_step(x, t, opt, loss_scale=scale)
        assert scale.skipped == 1 and scale.scale == 2.0 ** 23 and opt.t == 0
        for k, v in model.params().items():
            np.testing.assert_array_equal(v, before[k], err_msg=f"{k} changed on a skipped step")
        for _ in range(12):
            model.train_step(x, t, opt, loss_scale=scale)
        assert opt.t > 0 and scale.scale <= 2.0 ** 16  # it found a scale the gradients fit
        assert any(not np.array_equal(v, before[k]) for k, v in model.params().items())


def small_config(tmp_path, **kw):
    base = dict(model="simpleconvnet", epochs=2, batch_size=50, limit=300, out=str(tmp_path / "run"), recipe="book",
                eval_test=False, dtype="float16")
    base.update(kw)
    return TrainConfig(**base)


def test_float16_training_keeps_masters_and_resumes_with_its_scale(tmp_path):
    with backends.use("cpu", dtype="float16"):
        lines = []
        trainer = Trainer.from_config(small_config(tmp_path, epochs=1), progress=False, log=lines.append)
        trainer.fit()
        assert trainer.model.dtype == np.float16
        record = trainer.history[-1]
        assert record["loss_scale"] > 0 and record["skipped_steps"] >= 0 and np.isfinite(record["loss"])
        masters = trainer.optimizer.slots["master"]
        assert masters and all(a.dtype == np.float32 for a in masters.values())
        _, optim, meta = checkpoint.read(tmp_path / "run" / "last.npz")
        assert meta["loss_scale"]["scale"] == record["loss_scale"]
        assert any(k.startswith("master/") for k in optim)
        trainer.loss_scale.scale = 123.0  # not what was saved: resume must restore the saved one
        resumed = Trainer.resume(tmp_path / "run", epochs=2, progress=False, log=lines.append)
        assert resumed.loss_scale.scale == record["loss_scale"]
        for k, a in masters.items():
            np.testing.assert_array_equal(resumed.optimizer.slots["master"][k], a)
        resumed.fit()
        assert len(resumed.history) == 2


def test_a_skipped_step_is_said_in_the_log(tmp_path):
    with backends.use("cpu", dtype="float16"):
        lines = []
        trainer = Trainer.from_config(small_config(tmp_path, epochs=1), progress=False, log=lines.append)
        trainer.loss_scale.scale = 2.0 ** 24
        trainer.fit()
        assert trainer.history[-1]["skipped_steps"] >= 1
        assert any("steps skipped (float16 gradients overflowed); loss scale now" in str(l) for l in lines)


def test_bfloat16_says_why_it_is_not_there():
    from deepnet.backends import ConfigError, settings

    with pytest.raises(ConfigError, match="no deepnet backend supports bfloat16"):
        settings.parse_dtype("bfloat16", "--dtype")
