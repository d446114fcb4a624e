import pickle

import numpy as np
import pytest

from deepnet import io
from deepnet.cli import main
from deepnet.datasets import loaders


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "simple"
    code = main(["train", "--model", "simpleconvnet", "--limit", "3000", "--epochs", "2", "--batch-size", "50",
                 "--out", str(out), "--no-progress", "--no-test-eval"])
    assert code == 0
    return out


def test_train_writes_a_run_directory(trained_run, capsys):
    names = {p.name for p in trained_run.iterdir()}
    assert {"config.json", "history.json", "last.npz", "best.npz", "curves.png", "misclassified.png"} <= names
    arrays, meta = io.load_arrays(trained_run / "last.npz")
    assert meta["epoch"] == 2 and meta["config"]["model"] == "simpleconvnet" and "rng" in meta
    assert any(k.startswith("optim/m/") for k in arrays)


def test_eval_reports_float32_and_float16(trained_run, capsys):
    assert main(["eval", str(trained_run), "--dtype", "float16"]) == 0
    out = capsys.readouterr().out
    acc = {line.split()[1]: float(line.split("accuracy ")[1].split("%")[0]) for line in out.splitlines()}
    assert acc["float32"] > 85 and abs(acc["float16"] - acc["float32"]) < 0.5


def test_eval_of_several_runs_is_an_ensemble(trained_run, capsys):
    assert main(["eval", str(trained_run), str(trained_run / "last.npz")]) == 0
    assert "ensemble of 2 (float32)" in capsys.readouterr().out


def test_predict_a_drawn_digit(trained_run, tmp_path, capsys):
    from PIL import Image

    from deepnet.datasets import to_model_input
    from deepnet.loading import load_model

    arrays, _ = loaders.fetch_mnist(verbose=False)
    model, _ = load_model(trained_run)
    x, y = arrays["x_test"][:50], arrays["y_test"][:50]
    pred = model.predict(to_model_input(x[:, None])).argmax(axis=1)
    i = int(np.flatnonzero(pred == y)[0])  # a digit the model gets right in memory
    # drawn as a person would: dark ink on white paper, at twice the size
    img = Image.fromarray(255 - x[i]).resize((56, 56), Image.Resampling.NEAREST)
    img.save(tmp_path / "digit.png")
    assert main(["predict", str(tmp_path / "digit.png"), "--weights", str(trained_run)]) == 0
    out = capsys.readouterr().out
    assert out.split(": ")[1].split()[0] == str(int(y[i]))


def test_predict_rejects_a_tiny_image(trained_run, tmp_path, capsys):
    from PIL import Image

    Image.new("L", (10, 10)).save(tmp_path / "tiny.png")
    assert main(["predict", str(tmp_path / "tiny.png"), "--weights", str(trained_run)]) == 2
    assert "expected at least 28x28" in capsys.readouterr().err


def _book_params():
    rng = np.random.default_rng(0)
    shapes = [(16, 1, 3, 3), (16, 16, 3, 3), (32, 16, 3, 3), (32, 32, 3, 3), (64, 32, 3, 3), (64, 64, 3, 3),
              (1024, 50), (50, 10)]
    params = {}
    for i, s in enumerate(shapes, 1):
        params[f"W{i}"] = rng.standard_normal(s)  # float64, as the book's file
        params[f"b{i}"] = rng.standard_normal(s[0] if len(s) == 4 else s[1])
    return params


def test_import_book_weights(tmp_path, capsys):
    from deepnet.models import DeepConvNet

    params = _book_params()
    (tmp_path / "deep_conv_net_params.pkl").write_bytes(pickle.dumps(params, protocol=2))
    assert main(["import-book-weights", str(tmp_path / "deep_conv_net_params.pkl"), str(tmp_path / "w.npz")]) == 0
    model = DeepConvNet()
    model.load(tmp_path / "w.npz")
    np.testing.assert_allclose(model.params()["conv4.W"], params["W4"].astype(np.float32))
    # the book's test-time dropout (x 0.5 twice) folded into the last layer
    np.testing.assert_allclose(model.params()["affine2.W"], (params["W8"] * 0.25).astype(np.float32))
    np.testing.assert_allclose(model.params()["affine2.b"], (params["b8"] * 0.5).astype(np.float32))


def test_import_book_weights_refuses_other_content(tmp_path, capsys):
    class Evil:
        def __reduce__(self):
            return (print, ("ran",))

    (tmp_path / "evil.pkl").write_bytes(pickle.dumps({"W1": Evil()}))
    assert main(["import-book-weights", str(tmp_path / "evil.pkl"), str(tmp_path / "w.npz")]) == 2
    err = capsys.readouterr()
    assert "refusing to load builtins.print" in err.err and "ran" not in err.out
    params = _book_params()
    params["W4"] = params["W4"][:, :, :2]
    (tmp_path / "bad.pkl").write_bytes(pickle.dumps(params))
    assert main(["import-book-weights", str(tmp_path / "bad.pkl"), str(tmp_path / "w.npz")]) == 2
    assert "'conv4.W' has shape (32, 32, 2, 3)" in capsys.readouterr().err
    assert not (tmp_path / "w.npz").exists()


def test_unknown_model_is_a_one_line_error(tmp_path, capsys):
    assert main(["train", "--model", "transformer", "--limit", "10", "--out", str(tmp_path / "r")]) == 2
    assert "unknown model 'transformer'; choose one of" in capsys.readouterr().err


def test_scan_reads_a_strip_in_one_pass(trained_run, tmp_path, capsys):
    # SimpleConvNet (conv 5x5, pool 2, two Affine layers) made fully convolutional: 2-pixel windows steps
    out = tmp_path / "scan.png"
    assert main(["scan", str(trained_run), "--digits", "3", "--seed", "1", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "a 28x84 strip of 3 MNIST test digits" in text and "windows, 2 pixels apart" in text
    truth = text.split("digits in the strip: ")[1].split("\n")[0].split()
    read = text.split("read at each digit:  ")[1].split("\n")[0].split()
    assert len(truth) == len(read) == 3 and out.stat().st_size > 1000
    assert main(["scan", str(trained_run), "--digits", "0"]) == 2  # a user's mistake: one line, status 2
