"""NIC, the captioner (deepnet/models/captioning.py): its gradients, its decoding, and `deepnet train --model nic`
with `deepnet caption` from the command line, bad input included."""
import numpy as np
import pytest

from deepnet import backends, io
from deepnet.cli import main
from deepnet.datasets import captions as words
from deepnet.models import NIC

from ..cli_helpers import drawn, one_line
from ..gradcheck import check_model


def tiny(dtype=None):
    return NIC(input_shape=(1, 16, 16), hidden=5, embed=3, widths=(2, 2, 2), dtype=dtype)


def captions(n, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        out.append(words.caption_tokens(rng.integers(0, 10, rng.integers(1, 5))))
    return np.stack(out)


def test_nic_gradients(f64):
    model = tiny()
    # word vectors of unit size (not the 0.01 they start at), so that the LSTM's input weights get gradients
    # well above the central difference's rounding
    model.embed.W[...] = f64.rng.normal(model.embed.W.shape)
    x = f64.rng.uniform((3, 1, 16, 16))
    check_model(model, x, captions(3), limit=6)


def test_greedy_is_beam_one_and_a_wider_beam_scores_no_worse(f64):
    from deepnet.layers import log_softmax

    model = tiny()
    model.words.b[...] = f64.rng.normal(model.words.b.shape)  # a model with preferences
    x = f64.rng.uniform((4, 1, 16, 16))
    greedy = model.caption(x, beam=1)

    def score(caps):  # the sum of the decoder's log-probabilities of each caption's words, END included
        totals = []
        for i, cap in enumerate(caps):
            h, c, total = model.encode(x[i : i + 1]), np.zeros((1, 5)), 0.0
            for s in range(len(cap) - 1):
                logp, h, c = model._step(np.array([cap[s]]), h, c)
                total += float(logp[0, cap[s + 1]])
                if cap[s + 1] == words.END:
                    break
            totals.append(total)
        return np.array(totals)

    manual = []
    for i in range(len(x)):  # greedy by hand: the most probable next word, step by step
        h, c, seq = model.encode(x[i : i + 1]), np.zeros((1, 5)), [words.START]
        for _ in range(words.MAX_DIGITS + 1):
            logp, h, c = model._step(np.array([seq[-1]]), h, c)
            seq.append(int(log_softmax(logp)[0].argmax()))
            if seq[-1] == words.END:
                break
        manual.append(words.caption_text(seq))
    assert [words.caption_text(g) for g in greedy] == manual
    wide = model.caption(x, beam=4)
    assert (score(wide) >= score(greedy) - 1e-9).all()
    with pytest.raises(ValueError, match="beam width must be at least 1"):
        model.caption(x, beam=0)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("nic") / "run"
    assert main(["train", "--model", "nic", "--dataset", "mnist-captions", "--limit", "64", "--batch-size", "32",
                 "--epochs", "1", "--no-progress", "--no-plots", "--no-test-eval", "--out", str(out)]) == 0
    return out


def test_train_resume_and_caption_from_the_command_line(run, tmp_path, capsys):
    assert main(["train", "--resume", str(run), "--epochs", "2", "--no-progress", "--no-plots"]) == 0
    assert io.read_index(run / "best.npz")[1]["epoch"] == 2
    picture = tmp_path / "c.png"
    out = drawn(capsys, ["caption", run, "--count", "3", "--beam", "2", "--out", picture], picture)
    assert out.count("test scene") == 3 and "exactly right (beam 2)" in out


def test_bad_caption_requests(run, tmp_path, capsys):
    one_line(capsys, main(["caption", str(run), "--beam", "0"]), "--beam must be from 1 to 100")
    one_line(capsys, main(["caption", str(run), "--out", str(run / "best.npz")]), "which this command reads")
    from deepnet.models import SimpleConvNet

    with backends.use("cpu", dtype="float32"):
        SimpleConvNet().save(tmp_path / "clf.npz", {"model_name": "simpleconvnet"})
    one_line(capsys, main(["caption", str(tmp_path / "clf.npz")]), "not a captioner")
    from PIL import Image

    Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / "small.png")
    one_line(capsys, main(["caption", str(run), str(tmp_path / "small.png"), "--out", ""]), "expected at least 64x64")
