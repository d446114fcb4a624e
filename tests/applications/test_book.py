"""The book's published DeepConvNet weights, imported: deepnet must give the book's own logits.

The reference below is the book's test-time forward pass written out in plain NumPy (its
Convolution, Pooling, Affine, Relu and its non-inverted Dropout, which multiplies by 1 - 0.5 at test
time), independent of deepnet's layers.
"""
import pickle

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from deepnet.cli import main
from deepnet.loading import load_model

SHAPES = [(16, 1, 3, 3), (16, 16, 3, 3), (32, 16, 3, 3), (32, 32, 3, 3), (64, 32, 3, 3), (64, 64, 3, 3),
          (64 * 4 * 4, 50), (50, 10)]
PADS = [1, 1, 1, 2, 1, 1]


def book_params(seed=0):
    rng = np.random.default_rng(seed)
    params = {}
    for i, s in enumerate(SHAPES, 1):
        fan_in = np.prod(s[1:]) if len(s) == 4 else s[0]
        params[f"W{i}"] = rng.standard_normal(s) * np.sqrt(2.0 / fan_in)  # float64, as the book's file
        params[f"b{i}"] = rng.standard_normal(s[0] if len(s) == 4 else s[1]) * 0.1
    return params


def book_forward(params, x):
    """The book's DeepConvNet.predict(x, train_flg=False), in float64."""
    def conv(x, w, b, pad):
        xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        win = sliding_window_view(xp, w.shape[2:], axis=(2, 3))  # (N, C, OH, OW, KH, KW)
        return np.einsum("nchwij,ocij->nohw", win, w) + b[None, :, None, None]

    def pool(x):
        n, c, h, w = x.shape
        return x[:, :, : h // 2 * 2, : w // 2 * 2].reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))

    relu = lambda v: np.maximum(v, 0)  # noqa: E731
    h = x
    for i in range(6):
        h = relu(conv(h, params[f"W{i + 1}"], params[f"b{i + 1}"], PADS[i]))
        if i % 2 == 1:
            h = pool(h)
    h = relu(h.reshape(len(h), -1) @ params["W7"] + params["b7"])
    h = h * (1 - 0.5)  # the book's Dropout at test time
    h = h @ params["W8"] + params["b8"]
    return h * (1 - 0.5)  # its second Dropout, after the last affine layer


def test_imported_book_weights_give_the_books_logits(tmp_path, cpu32):
    params = book_params()
    (tmp_path / "deep_conv_net_params.pkl").write_bytes(pickle.dumps(params, protocol=2))
    assert main(["import-book-weights", str(tmp_path / "deep_conv_net_params.pkl"), str(tmp_path / "w.npz")]) == 0
    model, _ = load_model(tmp_path / "w.npz")
    x = np.random.default_rng(1).random((20, 1, 28, 28))
    ref = book_forward({k: v.astype(np.float32).astype(np.float64) for k, v in params.items()}, x)
    ours = model.forward(x.astype(np.float32), train=False)
    np.testing.assert_allclose(ours, ref, rtol=2e-4, atol=2e-5 * np.abs(ref).max())
    assert (ours.argmax(axis=1) == ref.argmax(axis=1)).all()


def test_without_the_folding_the_logits_differ(cpu32):
    """The check above can fail: the book's weights copied as they are (the old import) do not give its logits."""
    from deepnet.book import convert
    from deepnet.models import DeepConvNet

    params = book_params()
    model = DeepConvNet()
    model.load_state(convert(params))
    x = np.random.default_rng(1).random((20, 1, 28, 28))
    ref = book_forward(params, x)
    assert not np.allclose(model.forward(x.astype(np.float32)), ref, rtol=2e-4, atol=2e-5 * np.abs(ref).max())


@pytest.mark.parametrize("bad", ["nan", "inf"])
def test_non_finite_book_weights_are_refused(tmp_path, capsys, bad):
    params = book_params()
    params["W3"][0, 0, 0, 0] = float(bad)
    (tmp_path / "p.pkl").write_bytes(pickle.dumps(params, protocol=2))
    assert main(["import-book-weights", str(tmp_path / "p.pkl"), str(tmp_path / "w.npz")]) == 2
    assert "W3 holds 1 NaN or infinite values" in capsys.readouterr().err
    assert not (tmp_path / "w.npz").exists()
