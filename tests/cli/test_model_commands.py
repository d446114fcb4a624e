"""The commands that read a trained model get the model they expect and read it as it is: scan and the fully
convolutional network, binarize and its packed file, a segmenter where a classifier is expected, what a
limited or segmentation run builds and reports."""

import json

import numpy as np
import pytest

from deepnet import backends
from deepnet.cli import main
from deepnet.datasets import loaders

from ..cli_helpers import GAN, gan, one_line


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
    one_line(capsys, main(["scan", str(tmp_path / "r.npz"), "--out", str(tmp_path / "s.png")]),
                   "cannot be made fully convolutional")


def test_scan_of_a_binarynet_reads_what_the_model_reads(binarynet, tmp_path, capsys):
    from deepnet.backends import current

    from deepnet.commands.scan import digit_strip, scan
    from deepnet.loading import load_model

    result = scan(binarynet, count=6, seed=1, out=None, log=lambda *a: None)
    model, _ = load_model(binarynet)
    strip, labels = digit_strip(6, 1)
    from deepnet import datasets

    digits = datasets.to_model_input(np.stack([strip[:, 28 * i : 28 * (i + 1)] for i in range(6)])[:, None])
    assert result["read"] == [int(v) for v in current().to_numpy(model.predict_labels(digits))]


def test_a_segmenter_where_a_classifier_is_expected(fcn, clf, tmp_path, capsys):
    from PIL import Image

    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "d.png")
    one_line(capsys, main(["predict", str(tmp_path / "d.png"), "--weights", str(fcn)]),
                   "scores every pixel (a segmentation model); deepnet predict needs a classifier")
    one_line(capsys, main(["eval", str(fcn), str(clf)]), "an ensemble averages outputs of one kind")
    one_line(capsys, gan("--out", str(tmp_path / "g"), *GAN, "--judge-with", str(fcn)),
                   "judging generated digits (--judge-with) needs a classifier")
    assert not (tmp_path / "g" / "last.npz").exists()


def test_the_packed_file_loads_and_predicts_as_the_model(binarynet, tmp_path, cpu32):
    from deepnet import datasets
    from deepnet.binary_inference import load_packed
    from deepnet.loading import load_model

    assert main(["binarize", str(binarynet), "--limit", "20", "--out", str(tmp_path / "p" / "packed.npz")]) == 0
    net = load_packed(tmp_path / "p" / "packed.npz")
    model, _ = load_model(binarynet)
    x = datasets.to_model_input(datasets.load("mnist").test.x[:200])
    np.testing.assert_array_equal(net.predict_labels(x), cpu32.to_numpy(model.predict_labels(x)))


def test_fcn_run_records_augmentation_off_and_reports_iou(fcn, capsys):
    assert json.loads((fcn / "config.json").read_text())["augment"] == ""


def test_fcn_run_reports_pixel_accuracy_and_iou_without_plots(tmp_path, capsys):
    assert main(["train", "--model", "fcn", "--dataset", "mnist-scenes", "--epochs", "1", "--limit", "16",
                 "--batch-size", "16", "--out", str(tmp_path / "f"), "--no-progress", "--no-plots",
                 "--no-test-eval"]) == 0
    out = capsys.readouterr().out
    assert "Test pixel accuracy" in out and "mean IoU" in out and "Test accuracy" not in out


def test_a_limited_run_builds_only_the_scenes_it_trains_on(tmp_path, monkeypatch):
    from deepnet.datasets import captions

    counts = []
    real = captions.make_captioned_scenes

    def counted(images, labels, count, seed, *a, **k):
        counts.append(count)
        return real(images, labels, count, seed, *a, **k)

    monkeypatch.setattr(captions, "make_captioned_scenes", counted)
    with backends.use("cpu", dtype="float32"):
        assert main(["train", "--model", "nic", "--dataset", "mnist-captions", "--limit", "40", "--batch-size", "20",
                     "--epochs", "1", "--no-progress", "--no-plots", "--no-test-eval", "--out",
                     str(tmp_path / "nic")]) == 0
    assert max(counts) == 1000 and 40 in counts  # the 1,000 test scenes and the 40 trained on; not 60,000


def test_the_first_scenes_of_a_limited_set_are_the_whole_sets(cpu32):
    for name in loaders.BUILT:
        few = loaders.LOADERS[name](train_count=5, test_count=2)
        more = loaders.LOADERS[name](train_count=9, test_count=2)
        np.testing.assert_array_equal(few.train.x, more.train.x[:5], err_msg=name)


def test_per_epoch_evaluation_runs_at_the_training_batch(tmp_path, monkeypatch):
    from deepnet.models.sequential import Sequential

    seen = []
    real = Sequential.evaluate

    def spy(self, x, t, batch_size=1000):
        seen.append(batch_size)
        return real(self, x, t, batch_size)

    monkeypatch.setattr(Sequential, "evaluate", spy)
    with backends.use("cpu", dtype="float32"):
        assert main(["train", "--model", "simpleconvnet", "--limit", "64", "--batch-size", "32", "--epochs", "1",
                     "--no-progress", "--no-plots", "--out", str(tmp_path / "r"), "--recipe", "book"]) == 0
    assert seen and set(seen) == {32}


def test_the_epoch_line_says_the_training_accuracy_has_dropout_on(tmp_path, capsys):
    with backends.use("cpu", dtype="float32"):
        assert main(["train", "--limit", "100", "--batch-size", "50", "--epochs", "1", "--no-progress", "--no-plots",
                     "--no-test-eval", "--recipe", "book", "--out", str(tmp_path / "r")]) == 0
    assert "train_acc (dropout on): " in capsys.readouterr().out
