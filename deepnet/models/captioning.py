"""Image captioning (Vinyals et al., 2015, "Show and Tell", NIC; the book's 8.4.3): a convolutional encoder
turns the image into a vector that starts an LSTM, which writes the caption word by word.

    encoder: 3 x (conv3x3, ReLU, conv3x3, ReLU, max-pool 2), the book's DeepConvNet blocks (16, 32, 64
             channels), then an affine layer to the LSTM's width and tanh: the LSTM's initial state h0
    decoder: word embedding -> LSTM (h0 from the image, c0 = 0) -> affine to the vocabulary, at every step

Training uses teacher forcing: the decoder reads the true caption's words (START, w1, ..., wk) and learns
to predict the next ones (w1, ..., wk, END); padding positions are skipped by the loss. Inference decodes
greedily or by beam search (`caption`). Gradients are clipped by their global norm (`clip`) before each
update, as recurrent training needs.
"""
from __future__ import annotations

import numpy as np

from ..backends import current
from ..datasets import captions as words
from ..layers import (LSTM, Affine, Convolution, Embedding, Pooling, Relu, Tanh, TimeAffine, TimeSoftmaxWithLoss,
                      log_softmax, runner)
from ..optimizers import clip_grads
from .model import Model


class NIC(Model):
    """An image captioner: `num_classes` is the vocabulary's size (datasets.captions.WORDS)."""

    #: the trainer and the commands tell a captioner by this (its labels are captions, not classes)
    task = "caption"

    def __init__(self, input_shape=(1, 64, 64), num_classes: int = len(words.WORDS), hidden: int = 128,
                 embed: int = 32, widths=(16, 32, 64), clip: float = 5.0, dtype=None):
        c, h, w = input_shape
        if h % 8 or w % 8:
            raise ValueError(f"NIC needs input sides that are multiples of 8 (three poolings); got {h}x{w}")
        layers, ch = [], c
        for i, width in enumerate(widths, start=1):
            layers += [(f"conv{i}a", Convolution(ch, width, 3, pad=1, dtype=dtype)), (f"relu{i}a", Relu()),
                       (f"conv{i}b", Convolution(width, width, 3, pad=1, dtype=dtype)), (f"relu{i}b", Relu()),
                       (f"pool{i}", Pooling(2))]
            ch = width
        layers += [("image", Affine(ch * (h // 8) * (w // 8), hidden, "xavier", dtype)), ("image_tanh", Tanh()),
                   ("embed", Embedding(num_classes, embed, dtype=dtype)), ("lstm", LSTM(embed, hidden, dtype=dtype)),
                   ("words", TimeAffine(hidden, num_classes, dtype=dtype))]
        super().__init__(layers, loss=TimeSoftmaxWithLoss(ignore_label=words.PAD), input_shape=input_shape)
        self.encoder = [layer for name, layer in self.layers.items() if name not in ("embed", "lstm", "words")]
        self.embed, self.lstm, self.words = self.layers["embed"], self.layers["lstm"], self.layers["words"]
        self.clip = float(clip)

    def file_meta(self) -> dict:
        return {**super().file_meta(), "vocabulary": list(words.WORDS)}

    # --- training: teacher forcing ----------------------------------------------------------------------
    def encode(self, x, train: bool = False, pool: bool = False):
        """The images' vectors (N, hidden): the LSTM's initial state."""
        return runner.forward(self.encoder, self.checked_input(x), train, fuse=self.fuse, pool=pool)

    def loss(self, x, t, train: bool = True):
        """The mean cross-entropy of each next word given the image and the true words before it."""
        t = self._check_captions(t)
        h0 = self.encode(x, train)
        hs = self.lstm.forward(self.embed.forward(t[:, :-1]), h0=h0)
        return self.loss_layer.forward(self.words.forward(hs), t[:, 1:])

    def backward(self, dout=1.0, input_grad: bool = True):
        d = self.words.backward(self.loss_layer.backward(dout))
        self.embed.backward(self.lstm.backward(d))
        return runner.backward(self.encoder, self.lstm.dh0, input_grad)

    def train_step(self, x, t, optimizer, before_update=None, loss_scale=None):
        """Model's step, the gradients clipped to a global norm of `clip` before the update (in float16
        the gradients are still scaled by the loss scale there, so the clip waits for float32)."""
        def clipped(grads):
            if before_update is not None:
                before_update(grads)
            if loss_scale is None:
                clip_grads(grads, self.clip)

        return super().train_step(x, t, optimizer, before_update=clipped, loss_scale=loss_scale)

    def step_correct(self, t):
        """(words predicted right, words) in the last loss's teacher-forced pass, padding left out."""
        layer = self.loss_layer
        right = (layer.y.argmax(axis=1) == layer.labels) & (layer.keep > 0)
        return right.sum(), layer.count

    def forward(self, x, train: bool = False):
        raise TypeError("NIC writes captions: use model.caption(x), or model.loss(x, captions) to train")

    # --- inference --------------------------------------------------------------------------------------
    def caption(self, x, beam: int = 3, max_words: int = words.MAX_DIGITS + 1, batch_size: int = 200):
        """Captions (N, MAX_DIGITS + 2) as word indices, START first: greedy with beam=1, else beam search
        keeping the `beam` most probable partial captions (sum of log-probabilities) per image."""
        if int(beam) < 1:
            raise ValueError(f"the beam width must be at least 1; got {beam}")
        out = [self._decode(x[i : i + batch_size], int(beam), max_words) for i in range(0, len(x), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, words.MAX_DIGITS + 2), np.int64)

    def _step(self, tokens, h, c):
        """Log-probabilities of the next word for each row, and the new state."""
        xp = current().xp
        hs = self.lstm.forward(self.embed.forward(tokens[:, None]), h0=h, c0=c)
        scores = self.words.forward(hs)[:, 0]
        return log_softmax(scores.astype(xp.float32) if scores.dtype.itemsize < 4 else scores), self.lstm.h, self.lstm.c

    def _decode(self, x, beam: int, max_words: int) -> np.ndarray:
        bk = current()
        xp = bk.xp
        n = len(x)
        h = xp.repeat(self.encode(x, pool=True), beam, axis=0)  # (n * beam, hidden): each image's beams
        c = xp.zeros_like(h)
        seqs = np.full((n * beam, max_words + 1), words.PAD, np.int64)
        seqs[:, 0] = words.START
        score = np.zeros((n, beam))
        score[:, 1:] = -np.inf  # at the start every beam of an image is the same: keep one
        done = np.zeros(n * beam, bool)
        for s in range(max_words):
            logp, h, c = self._step(bk.to_device(seqs[:, s]), h, c)
            logp = bk.to_numpy(logp).astype(np.float64)
            v = logp.shape[1]
            logp[done] = -np.inf  # a finished caption continues only as itself, at no cost
            logp[done, words.PAD] = 0.0
            total = (score.reshape(-1, 1) + logp).reshape(n, beam * v)
            best = np.argsort(-total, axis=1, kind="stable")[:, :beam]
            rows = (np.arange(n)[:, None] * beam + best // v).reshape(-1)
            word = (best % v).reshape(-1)
            score = np.take_along_axis(total, best, axis=1)
            seqs, done = seqs[rows], done[rows]
            seqs[:, s + 1] = np.where(done, words.PAD, word)
            done = done | (word == words.END)
            h, c = h[bk.to_device(rows)], c[bk.to_device(rows)]
            if done.all():
                break
        top = seqs.reshape(n, beam, -1)[:, 0]  # the beams are sorted best first
        out = np.full((n, words.MAX_DIGITS + 2), words.PAD, np.int64)
        width = min(out.shape[1], top.shape[1])
        out[:, :width] = top[:, :width]
        return out

    def evaluate(self, x, t, batch_size: int = 1000) -> tuple[float, float]:
        """(teacher-forced loss, the share of captions written exactly right by greedy decoding)."""
        t_host = current().to_numpy(t)
        loss, right = 0.0, 0
        for i in range(0, len(x), batch_size):
            xb, tb = x[i : i + batch_size], t[i : i + batch_size]
            loss += current().item(self.loss(xb, tb, train=False)) * len(xb)
            got = self.caption(xb, beam=1)
            right += int(sum(words.caption_text(a) == words.caption_text(b)
                             for a, b in zip(got, t_host[i : i + batch_size])))
        return loss / len(x), right / len(x)

    # --- checks -----------------------------------------------------------------------------------------
    @staticmethod
    def _check_captions(t):
        if t.ndim != 2 or t.shape[1] < 2:
            raise ValueError(f"NIC expects captions (N, T >= 2) of word indices; got shape {tuple(t.shape)}")
        return t
