"""Segmentation: MNIST scenes built deterministically, per-pixel softmax loss, the FCN, IoU, and a short
training run through `deepnet train` (the long run is a benchmark)."""
import numpy as np
import pytest

from deepnet import backends
from deepnet.cli import main
from deepnet.datasets.scenes import INK, iou, make_scenes
from deepnet.layers import SoftmaxWithLoss
from deepnet.models import FCN

from ..gradcheck import check_model, numerical


def digits(n=20, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28)).astype(np.uint8), rng.integers(0, 10, n)


def test_scenes_are_deterministic_and_labelled_by_ink():
    images, labels = digits()
    x1, y1 = make_scenes(images, labels, 5, seed=3)
    x2, y2 = make_scenes(images, labels, 5, seed=3)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert x1.shape == (5, 1, 64, 64) and y1.shape == (5, 64, 64)
    ink = x1[:, 0] >= INK
    assert np.all((y1 > 0) == ink)  # every ink pixel carries a digit class, every other pixel background
    assert set(np.unique(y1)) <= set(range(11))
    assert not np.array_equal(make_scenes(images, labels, 5, seed=4)[0], x1)


def test_iou_per_class():
    truth = np.array([[0, 0, 1, 1], [0, 2, 2, 1]])
    pred = np.array([[0, 1, 1, 1], [0, 2, 0, 1]])
    scores = iou(pred, truth, 4)
    np.testing.assert_allclose(scores[:3], [2 / 4, 3 / 4, 1 / 2])
    assert np.isnan(scores[3])  # a class in neither has no IoU (left out of the mean)


def test_per_pixel_loss_is_the_mean_over_pixels_and_its_gradient_checks(f64):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4, 5))
    t = rng.integers(0, 3, (2, 4, 5))
    layer = SoftmaxWithLoss()
    loss = float(layer.forward(x, t))
    flat = SoftmaxWithLoss()
    assert loss == pytest.approx(float(flat.forward(x.transpose(0, 2, 3, 1).reshape(-1, 3), t.reshape(-1))))
    dx = layer.backward()
    assert dx.shape == x.shape and layer.y.shape == x.shape
    idx = [tuple(int(v) for v in np.unravel_index(i, x.shape)) for i in range(0, x.size, 7)]
    num = numerical(lambda: float(SoftmaxWithLoss().forward(x, t)), x, idx)
    np.testing.assert_allclose([dx[i] for i in idx], num, rtol=1e-6, atol=1e-9)
    with pytest.raises(ValueError, match=r"per-pixel labels must have shape \(N, H, W\)"):
        layer.forward(x, t[:, :3])


def test_fcn_gives_scores_at_full_resolution_and_its_gradients_check(f64):
    model = FCN(input_shape=(1, 8, 8), num_classes=3, width=2)
    x = np.random.default_rng(1).uniform(size=(2, 1, 8, 8))
    t = np.random.default_rng(2).integers(0, 3, (2, 8, 8))
    assert model.forward(x).shape == (2, 3, 8, 8)
    check_model(model, x, t, limit=4)
    with pytest.raises(ValueError, match="multiples of 4"):
        FCN(input_shape=(1, 30, 30))


def test_a_short_segmentation_run_through_deepnet_train(tmp_path, capsys):
    out = tmp_path / "seg"
    code = main(["train", "--model", "fcn", "--dataset", "mnist-scenes", "--epochs", "1", "--limit", "64",
                 "--batch-size", "16", "--out", str(out), "--no-progress"])
    assert code == 0
    text = capsys.readouterr().out
    assert "augmentation" in text and "is off for mnist_scenes" in text
    assert "mean IoU" in text and (out / "segmentation.png").stat().st_size > 1000
    with backends.use("cpu"):
        assert main(["eval", str(out)]) == 0
    text = capsys.readouterr().out
    assert "test accuracy" in text and "of pixels" in text and "mean IoU" in text


@pytest.mark.parametrize("model,dataset,says", [("fcn", "mnist", "gives a score map"),
                                                ("simpleconvnet", "mnist-scenes", "labels every pixel")])
def test_a_model_that_does_not_fit_the_labels_is_a_user_error(tmp_path, capsys, model, dataset, says):
    code = main(["train", "--model", model, "--dataset", dataset, "--epochs", "1", "--limit", "50",
                 "--out", str(tmp_path / "r"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and says in err and "Traceback" not in err


def test_scan_refuses_a_segmenter(tmp_path, capsys):
    out = tmp_path / "seg"
    assert main(["train", "--model", "fcn", "--dataset", "mnist-scenes", "--epochs", "1", "--limit", "16",
                 "--batch-size", "16", "--out", str(out), "--no-progress", "--no-plots", "--no-test-eval"]) == 0
    assert main(["scan", str(out)]) == 2
    assert "scores every pixel (a segmentation model); scan needs a classifier" in capsys.readouterr().err
