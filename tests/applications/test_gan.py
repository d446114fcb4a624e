"""DCGAN: the loss, the generator and discriminator shapes and gradients, a few training steps through
`deepnet gan` with checkpoint and resume, and the Fréchet distance."""
import numpy as np
import pytest

from deepnet import backends, io
from deepnet.cli import main
from deepnet.gan import BinaryCrossEntropyWithLogits, discriminator, frechet_distance, generator

from ..gradcheck import check_model, numerical


def test_bce_with_logits_value_and_gradient(f64):
    x = np.array([[-3.0], [0.5], [2.0], [9.0]])
    t = np.array([0, 1, 1, 0])
    layer = BinaryCrossEntropyWithLogits()
    p = 1 / (1 + np.exp(-x[:, 0]))
    expected = -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))
    assert float(layer.forward(x, t)) == pytest.approx(expected, rel=1e-9)
    num = numerical(lambda: float(BinaryCrossEntropyWithLogits().forward(x, t)), x, [(i, 0) for i in range(4)])
    np.testing.assert_allclose(layer.backward()[:, 0], num, rtol=1e-6, atol=1e-9)
    # soft targets (one-sided label smoothing): the same formula, the gradient (sigmoid(x) - t) / N
    soft = np.array([0.9, 0.9, 0.0, 0.9])
    expected = -np.mean(soft * np.log(p) + (1 - soft) * np.log(1 - p))
    assert float(layer.forward(x, soft)) == pytest.approx(expected, rel=1e-9)
    np.testing.assert_allclose(layer.backward()[:, 0], (p - soft) / 4, rtol=1e-12)


def test_shapes_and_discriminator_gradients(f64):
    g, d = generator(), discriminator()
    z = np.random.default_rng(0).standard_normal((3, 100))
    img = g.forward(z, train=True)
    assert img.shape == (3, 1, 28, 28) and np.all(np.abs(img) <= 1)
    assert d.forward(img).shape == (3, 1)
    rng = np.random.default_rng(1)
    for k, a in d.params().items():  # larger than DCGAN's N(0, 0.02) start, so gradients stand above rounding
        a[...] = rng.standard_normal(a.shape) * (0.3 if a.ndim > 1 else 0.1) + (1.0 if k.endswith("gamma") else 0.0)
    x = rng.uniform(-1, 1, (4, 1, 28, 28))
    check_model(d, x, np.array([1, 0, 1, 0]), limit=3)


def test_frechet_distance():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4000, 3))
    assert frechet_distance(a, rng.standard_normal((4000, 3))) < 0.02
    assert frechet_distance(a, a + np.array([2.0, 0, 0])) == pytest.approx(4.0, rel=1e-6)


def test_a_few_gan_steps_checkpoint_and_resume(tmp_path, capsys):
    out = tmp_path / "gan"
    with backends.use("cpu", dtype="float32"):
        assert main(["gan", "--out", str(out), "--epochs", "1", "--limit", "64", "--batch-size", "32",
                     "--no-progress"]) == 0
        assert (out / "last.npz").is_file() and (out / "progress.png").stat().st_size > 1000
        assert io.read_index(out / "last.npz")[1]["format"] == "deepnet-gan"
        assert main(["gan", "--out", str(out), "--epochs", "1", "--limit", "64"]) == 2  # a run is there already
        assert main(["gan", "--out", str(out), "--epochs", "2", "--resume", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "Epoch 1/1" in text and "Resuming" in text and "Epoch 2/2" in text
    # the fixed noise's samples of every epoch survive the resume, for progress.png
    from deepnet.gan import GanTrainer

    with backends.use("cpu", dtype="float32"):
        resumed = GanTrainer.resume(out)
    assert resumed.epoch == 2 and len(resumed.grids) == 2 and resumed.first_grid_epoch == 1
    assert resumed.grids[0].shape == (10, 28, 28) and resumed.grids[0].dtype == np.uint8
    assert not np.array_equal(resumed.grids[0], resumed.grids[1])  # a step of training changed the samples


def test_width_and_label_smoothing_are_kept_through_resume(tmp_path, capsys):
    from deepnet.gan import GanTrainer

    out = tmp_path / "gan"
    args = ["gan", "--out", str(out), "--limit", "64", "--batch-size", "32", "--no-progress"]
    with backends.use("cpu", dtype="float32"):
        assert main(args + ["--epochs", "1", "--width", "3"]) == 2  # odd: no half as many channels at 14x14
        assert main(args + ["--epochs", "1", "--real-label", "0.3"]) == 2
        assert not (out / "last.npz").exists()
        assert main(args + ["--epochs", "1", "--width", "32", "--real-label", "0.9"]) == 0
        assert main(["gan", "--out", str(out), "--epochs", "2", "--resume", "--no-progress"]) == 0
        resumed = GanTrainer.resume(out)
    err = capsys.readouterr().err
    assert "--width must be an even number" in err and "--real-label must be a number in (0.5, 1]" in err
    assert resumed.epoch == 2 and resumed.width == 32 and resumed.real_label == 0.9
    assert resumed.G.params()["fc.W"].shape == (1024, 32 * 7 * 7)  # after the default hidden layer
    assert resumed.G.params()["up1.W"].shape[:2] == (32, 16)


def test_judging_samples_with_a_trained_classifier(tmp_path):
    from deepnet.gan import judge

    run = tmp_path / "clf"
    assert main(["train", "--model", "simpleconvnet", "--recipe", "book", "--epochs", "1", "--limit", "500",
                 "--out", str(run), "--no-progress", "--no-plots", "--no-test-eval"]) == 0
    from deepnet import datasets

    real = datasets.load("mnist").test.x[:120].reshape(-1, 28, 28)
    noise = np.random.default_rng(0).integers(0, 256, (120, 28, 28)).astype(np.uint8)
    good, bad = judge(real, run, count_real=300), judge(noise, run, count_real=300)
    assert good["samples"] == 120 and len(good["digit_shares_among_confident"]) == 10
    assert good["frechet_samples_vs_test"] < bad["frechet_samples_vs_test"]  # real digits sit nearer real digits
    assert good["frechet_train_vs_test"] >= 0
    # judged during training: every epoch's judgment in history.json, the last one in judge.json
    import json

    out = tmp_path / "gan"
    with backends.use("cpu", dtype="float32"):
        assert main(["gan", "--out", str(out), "--epochs", "2", "--limit", "64", "--batch-size", "32",
                     "--judge-with", str(run), "--judge-every", "1", "--no-progress"]) == 0
    history = json.loads((out / "history.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2] and all("judge" in h for h in history)
    assert json.loads((out / "judge.json").read_text()) == {"epoch": 2, **history[-1]["judge"]}
    assert history[-1]["judge"]["samples"] == 10000


def test_hidden_layers_are_kept_through_resume(tmp_path, capsys):
    from deepnet.gan import GanTrainer

    out = tmp_path / "gan"
    args = ["gan", "--out", str(out), "--limit", "64", "--batch-size", "32", "--no-progress", "--width", "8"]
    with backends.use("cpu", dtype="float32"):
        assert main(args + ["--epochs", "1", "--d-hidden", "-1"]) == 2
        assert not (out / "last.npz").exists()
        assert main(args + ["--epochs", "1", "--g-hidden", "24", "--d-hidden", "16"]) == 0
        assert main(["gan", "--out", str(out), "--epochs", "2", "--resume", "--no-progress"]) == 0
        resumed = GanTrainer.resume(out)
    assert "--d-hidden must be a whole number from 0 to 65,536; got -1" in capsys.readouterr().err
    assert resumed.epoch == 2 and (resumed.g_hidden, resumed.d_hidden) == (24, 16)
    g, d = resumed.G.params(), resumed.D.params()
    assert g["fc0.W"].shape == (100, 24) and g["fc.W"].shape == (24, 8 * 7 * 7)
    assert d["fc1.W"].shape == (128 * 7 * 7, 16) and d["fc.W"].shape == (16, 1)
    with backends.use("cpu", dtype="float32"):
        assert resumed.samples(3).shape == (3, 28, 28)


def test_the_networks_with_hidden_layers_pass_the_gradient_check():
    """Both hidden layers' batch norms in training mode (as the GAN trains them): every parameter's
    gradient, and the discriminator's input gradient that the generator learns through."""
    from deepnet.gan import backprop, discriminator, generator

    rng = np.random.default_rng(0)
    with backends.use("cpu", dtype="float64"):
        backends.current().rng.seed(0)  # fixed weights: no leaky ReLU input within a step of its kink
        D = discriminator(dtype="float64", hidden=5)
        x, t = rng.standard_normal((4, 1, 28, 28)), np.array([0.9, 0.0, 0.9, 0.0])
        loss = lambda: float(D.loss(x, t, train=True))
        loss()
        dx = D.backward()
        grads = {k: g.copy() for k, g in D.grads().items()}
        idx = [(0, 0, 3, 4), (1, 0, 14, 14), (3, 0, 27, 0)]
        np.testing.assert_allclose([dx[i] for i in idx], numerical(loss, x, idx, h=1e-5), rtol=1e-5, atol=1e-9)
        for name, p in D.params().items():  # gradients near 1e-5 (weights N(0, 0.02)): h = 1e-5, not 1e-6
            idx = [np.unravel_index(k, p.shape) for k in (0, p.size // 2, p.size - 1)]
            num = numerical(loss, p, idx, h=1e-5)
            np.testing.assert_allclose([grads[name][k] for k in idx], num, rtol=1e-5, atol=1e-9, err_msg=name)
        G = generator(dtype="float64", width=4, hidden=6)
        z = rng.standard_normal((5, 100))
        R = rng.standard_normal((5, 1, 28, 28))
        out = lambda: float((G.forward(z, train=True) * R).sum())
        out()
        backprop(G, R)
        for name in ("fc0.W", "bn0.gamma", "fc.W", "up1.W"):
            p, g = G.params()[name], G.grads()[name].copy()
            idx = [np.unravel_index(k, p.shape) for k in (0, p.size // 2, p.size - 1)]
            np.testing.assert_allclose([g[k] for k in idx], numerical(out, p, idx, h=1e-5), rtol=1e-5, atol=1e-9)


def test_new_runs_default_to_infogans_networks_and_old_checkpoints_keep_theirs(tmp_path):
    from deepnet import io
    from deepnet.gan import GanTrainer

    with backends.use("cpu", dtype="float32"):
        assert main(["gan", "--out", str(tmp_path / "new"), "--epochs", "1", "--limit", "32", "--batch-size", "16",
                     "--width", "8", "--no-progress"]) == 0
        new = GanTrainer.resume(tmp_path / "new")
        assert (new.g_hidden, new.d_hidden, new.real_label) == (1024, 1024, 0.9)
        old = GanTrainer(tmp_path / "old", limit=32, batch_size=16, width=8, g_hidden=0, d_hidden=0, real_label=1.0)
        old.save()
        path = tmp_path / "old" / "last.npz"
        arrays, meta = io.load_arrays(path)
        for key in ("g_hidden", "d_hidden", "real_label"):  # a checkpoint from before these settings existed
            del meta[key]
        io.save_arrays(path, arrays, meta)
        resumed = GanTrainer.resume(tmp_path / "old")
    assert (resumed.g_hidden, resumed.d_hidden, resumed.real_label) == (0, 0, 1.0)
    assert "fc0.W" not in resumed.G.params() and resumed.D.params()["fc.W"].shape == (128 * 7 * 7, 1)
