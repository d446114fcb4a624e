"""The sequence layers (deepnet/layers/recurrent.py): float64 gradient checks of every one, the LSTM against
its equations written out here in plain NumPy, the stateful (truncated BPTT) path, the masked loss,
clipping, and their bad input."""
import numpy as np
import pytest

from deepnet.layers import LSTM, RNN, Embedding, TimeAffine, TimeSoftmaxWithLoss
from deepnet.optimizers import clip_grads

from ..gradcheck import check_layer, numerical


def test_rnn_gradients(f64):
    layer = RNN(3, 4)
    check_layer(layer, f64.rng.normal((2, 5, 3)))


def test_lstm_gradients(f64):
    layer = LSTM(3, 4)
    layer.b[...] = f64.rng.normal(layer.b.shape)  # every gate away from 0.5
    check_layer(layer, f64.rng.normal((2, 5, 3)))


def test_time_affine_gradients(f64):
    check_layer(TimeAffine(3, 6), f64.rng.normal((2, 4, 3)))


def test_embedding_gradient_sums_repeated_indices(f64):
    emb = Embedding(5, 3)
    idx = np.array([[1, 2, 1], [1, 4, 0]])
    y = emb.forward(idx)
    np.testing.assert_array_equal(y[0, 0], emb.W[1])
    dout = f64.rng.normal(y.shape)
    assert emb.backward(dout) is None
    np.testing.assert_allclose(emb.dW[1], dout[0, 0] + dout[0, 2] + dout[1, 0])  # three times, summed
    np.testing.assert_array_equal(emb.dW[3], 0)
    num = numerical(lambda: float((emb.forward(idx) * dout).sum()), emb.W, [(1, 0), (4, 2), (0, 1)])
    np.testing.assert_allclose(num, [emb.dW[1, 0], emb.dW[4, 2], emb.dW[0, 1]], rtol=1e-7)


@pytest.mark.parametrize("kind", [RNN, LSTM])
def test_initial_state_gradient(f64, kind):
    """dh0 (and dc0) are the gradients of the loss with respect to the given initial state."""
    layer = kind(3, 4)
    x = f64.rng.normal((2, 3, 3))
    h0 = f64.rng.normal((2, 4))
    extra = {"c0": f64.rng.normal((2, 4))} if kind is LSTM else {}
    r = f64.rng.normal((2, 3, 4))
    layer.forward(x, h0=h0, **extra)
    layer.backward(r)
    pairs = [(h0, layer.dh0)] + ([(extra["c0"], layer.dc0)] if extra else [])
    for state, grad in pairs:
        idx = [(0, 0), (1, 3), (0, 2)]
        num = numerical(lambda: float((layer.forward(x, h0=h0, **extra) * r).sum()), state, idx)
        np.testing.assert_allclose(num, [grad[i] for i in idx], rtol=1e-6)


def test_lstm_matches_its_equations_written_out(f64):
    """Gate order i, f, g, o (PyTorch's), one bias: the layer against a plain NumPy loop of the equations."""
    d, h, n, t = 3, 5, 2, 4
    layer = LSTM(d, h)
    layer.b[...] = f64.rng.normal(layer.b.shape)
    x = f64.rng.normal((n, t, d))
    got = layer.forward(x)

    def sigmoid(v):
        return 1 / (1 + np.exp(-v))

    hs, hprev, c = [], np.zeros((n, h)), np.zeros((n, h))
    for s in range(t):
        a = x[:, s] @ layer.Wx + hprev @ layer.Wh + layer.b
        i, f, g, o = sigmoid(a[:, :h]), sigmoid(a[:, h : 2 * h]), np.tanh(a[:, 2 * h : 3 * h]), sigmoid(a[:, 3 * h :])
        c = f * c + i * g
        hprev = o * np.tanh(c)
        hs.append(hprev)
    np.testing.assert_allclose(got, np.stack(hs, axis=1), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(layer.c, c, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kind", [RNN, LSTM])
def test_stateful_windows_continue_the_sequence(f64, kind):
    """Truncated BPTT: two stateful calls on halves give the outputs of one call on the whole sequence, and
    each window's gradients stop at its start (the second window's gradient check holds with its h0 fixed)."""
    whole, halves = kind(3, 4), kind(3, 4, stateful=True)
    for name in ("Wx", "Wh", "b"):
        getattr(halves, name)[...] = getattr(whole, name)
    x = f64.rng.normal((2, 6, 3))
    full = whole.forward(x)
    first = halves.forward(x[:, :3])
    second = halves.forward(x[:, 3:])
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), full, rtol=1e-12)
    halves.reset_state()
    assert halves.h is None


def test_stateful_gradient_check_with_a_fixed_carried_state(f64):
    layer = LSTM(3, 4, stateful=True)
    layer.forward(f64.rng.normal((2, 3, 3)))
    h, c = layer.h.copy(), layer.c.copy()

    class Window:  # each check forward starts from the same carried state
        param_names = ()

        def __init__(self):
            self.params, self.grads = layer.params, layer.grads

        def forward(self, x, train=False):
            layer.h, layer.c = h, c
            return layer.forward(x)

        def backward(self, d):
            return layer.backward(d)

    check_layer(Window(), f64.rng.normal((2, 3, 3)))


def test_masked_loss_value_and_gradient(f64):
    loss = TimeSoftmaxWithLoss(ignore_label=-1)
    x = f64.rng.normal((2, 4, 5))
    t = np.array([[1, 4, 0, -1], [2, -1, -1, -1]])
    value = float(loss.forward(x, t))
    logp = x - np.log(np.exp(x).sum(axis=2, keepdims=True))
    kept = [(0, 0), (0, 1), (0, 2), (1, 0)]
    assert value == pytest.approx(-np.mean([logp[n, s, t[n, s]] for n, s in kept]), rel=1e-12)
    dx = loss.backward()
    assert not dx[0, 3].any() and not dx[1, 1:].any()  # padding gets no gradient
    idx = [(0, 0, 1), (0, 2, 3), (1, 0, 2), (1, 2, 0)]
    num = numerical(lambda: float(loss.forward(x, t)), x, idx)
    np.testing.assert_allclose(num, [dx[i] for i in idx], rtol=1e-6, atol=1e-10)


def test_clip_grads_by_global_norm(f64):
    grads = {"a": np.full(4, 3.0), "b": np.full(9, 4.0 / 3)}  # norm sqrt(36 + 16) = sqrt(52)
    total = clip_grads(grads, 1.0)
    assert total == pytest.approx(np.sqrt(52))
    assert np.sqrt(sum((g ** 2).sum() for g in grads.values())) == pytest.approx(1.0, rel=1e-5)
    small = {"a": np.full(2, 0.1)}
    clip_grads(small, 1.0)
    np.testing.assert_array_equal(small["a"], 0.1)  # under the bound: untouched
    with pytest.raises(ValueError, match="max_norm"):
        clip_grads(grads, 0)


def test_bad_sequences_and_states_say_what_was_expected(f64):
    lstm = LSTM(3, 4)
    with pytest.raises(ValueError, match="sequence of length 0"):
        lstm.forward(np.zeros((2, 0, 3)))
    with pytest.raises(ValueError, match=r"expects a batch of sequences \(N, T, 3\)"):
        lstm.forward(np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"initial h of shape \(2, 4\); got \(2, 5\)"):
        lstm.forward(np.zeros((2, 3, 3)), h0=np.zeros((2, 5)))
    with pytest.raises(ValueError, match="indices 0..4"):
        Embedding(5, 2).forward(np.array([[0, 5]]))
    with pytest.raises(TypeError, match="integer word indices"):
        Embedding(5, 2).forward(np.array([[0.5]]))
    with pytest.raises(ValueError, match="every position is padding"):
        TimeSoftmaxWithLoss().forward(np.zeros((1, 2, 3)), np.array([[-1, -1]]))
    with pytest.raises(ValueError, match="word indices 0..2"):
        TimeSoftmaxWithLoss().forward(np.zeros((1, 2, 3)), np.array([[0, 3]]))
