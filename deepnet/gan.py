"""DCGAN on MNIST (Radford, Metz and Chintala, 2016; the book's 8.5.2): `deepnet gan`.

The networks are InfoGAN's for MNIST (Chen et al., 2016), a DCGAN with one affine hidden layer on each
side. The generator turns 100 normal numbers into a 28x28 digit: affine to 1024 units (`g_hidden`),
batch norm, ReLU, affine to Wx7x7 (W = `width`, 128 by default), batch norm, ReLU, transposed
convolution 4x4/2 to W/2x14x14, batch norm, ReLU, transposed convolution 4x4/2 to 1x28x28, tanh. The
discriminator scores an image real or fake: convolution 4x4/2 to 64x14x14, leaky ReLU 0.2, convolution
4x4/2 to 128x7x7, batch norm, leaky ReLU, affine to 1024 units (`d_hidden`), batch norm, leaky ReLU,
affine to one logit. Without the hidden layers (`--g-hidden 0 --d-hidden 0`) the logit is a linear sum of
features that each see a 10x10 patch, and the generator's digits kept malformed shapes: 74.0% of them
classified with confidence after 30 epochs, against 84% after 3 with the hidden layers
(benchmarks/results/applications/). Both train with Adam (lr 0.0002, beta1 0.5) and weights drawn from
N(0, 0.02), as the DCGAN paper. Images are scaled to [-1, 1]. `real_label` (0.9 by default) is
one-sided label smoothing (Salimans et al., 2016): the discriminator learns to say that much, not 1, on
real digits; the generator's target stays 1.

Each step: the discriminator learns on a batch of real digits (label `real_label`) and one of generated
ones (label 0), each through the network on its own, their gradients summed; then the generator learns to
make the discriminator say 1 on new samples, the gradient passing through the discriminator without
changing it. Each epoch writes a grid of samples from a fixed noise (progress.png: one row per epoch) and
a checkpoint of both networks and both optimizers; --resume continues a run with its own settings.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from . import datasets, io, plots
from .backends import current
from .errors import BadFile, InvalidValue, MissingFile
from .initializers import shapes_only
from .layers import (Affine, BatchNormalization, BinaryCrossEntropyWithLogits, Convolution, LeakyRelu, Relu, Reshape,
                     Tanh, TransposedConvolution, runner, softmax)
from .loading import load_classifier
from .models import Sequential
from .optimizers import Adam
from .training import state
from .training.engine import Engine, Extension, Updater
from .training.rundir import RunDirectory
from .validation import Field, check, check_file, generator_state, is_whole, real, records, whole

NOISE = 100
INIT_STD = 0.02


def generator(dtype=None, width: int = 128, hidden: int = 0) -> Sequential:
    """The generator, `width` channels at 7x7 and width/2 at 14x14; with `hidden` > 0, first an affine
    layer of that many units, batch norm and ReLU (InfoGAN's MNIST generator, Chen et al., 2016)."""
    half = width // 2
    first = []
    if hidden:
        first = [("fc0", Affine(NOISE, hidden, INIT_STD, dtype)), ("bn0", BatchNormalization(hidden, dtype=dtype)),
                 ("relu0", Relu())]
    return Sequential(first + [
        ("fc", Affine(hidden or NOISE, width * 7 * 7, INIT_STD, dtype)), ("reshape", Reshape(width, 7, 7)),
        ("bn1", BatchNormalization(width, dtype=dtype)), ("relu1", Relu()),
        ("up1", TransposedConvolution(width, half, 4, stride=2, pad=1, weight_init=INIT_STD, dtype=dtype)),
        ("bn2", BatchNormalization(half, dtype=dtype)), ("relu2", Relu()),
        ("up2", TransposedConvolution(half, 1, 4, stride=2, pad=1, weight_init=INIT_STD, dtype=dtype)),
        ("tanh", Tanh()),
    ], input_shape=(NOISE,))


def discriminator(dtype=None, hidden: int = 0) -> Sequential:
    """The discriminator; with `hidden` > 0, an affine layer of that many units, batch norm and leaky ReLU
    before the logit (InfoGAN's MNIST discriminator), so that the logit is no longer a linear sum of
    features that each see only 10x10 pixels: the whole digit's shape can be judged."""
    last = [("fc", Affine(128 * 7 * 7, 1, INIT_STD, dtype))]
    if hidden:
        last = [("fc1", Affine(128 * 7 * 7, hidden, INIT_STD, dtype)), ("bn3", BatchNormalization(hidden, dtype=dtype)),
                ("lrelu3", LeakyRelu(0.2)), ("fc", Affine(hidden, 1, INIT_STD, dtype))]
    return Sequential([
        ("conv1", Convolution(1, 64, 4, stride=2, pad=1, weight_init=INIT_STD, dtype=dtype)),
        ("lrelu1", LeakyRelu(0.2)),
        ("conv2", Convolution(64, 128, 4, stride=2, pad=1, weight_init=INIT_STD, dtype=dtype)),
        ("bn2", BatchNormalization(128, dtype=dtype)), ("lrelu2", LeakyRelu(0.2)),
    ] + last, loss=BinaryCrossEntropyWithLogits(), input_shape=(1, 28, 28))


def backprop(model: Sequential, d):
    """Push a gradient from a model's output back to its input, filling every layer's gradients."""
    return runner.backward(list(model.layers.values()), d)


def to_gan_input(x_uint8):
    """Pixels 0..255 -> [-1, 1], the generator's tanh range."""
    return datasets.to_model_input(x_uint8) * 2 - 1


#: A run's settings and their defaults (`deepnet gan`'s options); kept in config.json and in each checkpoint.
SETTINGS = {"epochs": 5, "batch_size": 64, "seed": 0, "limit": None, "width": 128, "real_label": 0.9,
            "g_hidden": 1024, "d_hidden": 1024}
#: What --resume may change; any other option given with another value is refused.
RESUMABLE = ("epochs",)
MAX_EPOCHS = 100_000
MAX_WIDTH = 4096
MAX_HIDDEN = 65536
MAX_PARAMETERS = 1 << 28  # both networks together: 1 GiB of float32 weights, 4 GiB with Adam and gradients


#: What each setting must be (deepnet.validation).
FIELDS = {"epochs": whole(1, MAX_EPOCHS), "batch_size": whole(2, 60000), "seed": whole(0, 2**32 - 4),
          "limit": whole(2, 60000) | None, "width": whole(2, MAX_WIDTH), "real_label": real(0.5, 1, above=True),
          "g_hidden": whole(0, MAX_HIDDEN), "d_hidden": whole(0, MAX_HIDDEN)}
# seed + 3 seeds the judged samples: the seed's bound keeps it a 32-bit seed


def check_settings(settings: dict) -> dict:
    """Every setting of a GAN run checked (FIELDS, then how they combine), from the command line or from a
    checkpoint, before any network is built or data loaded; returns them complete (defaults filled in)."""
    unknown = set(settings) - set(SETTINGS)
    if unknown:
        raise InvalidValue(f"unknown GAN settings {sorted(unknown)}")
    s = check({**SETTINGS, **settings}, FIELDS)
    if s["limit"] is not None and s["batch_size"] > s["limit"]:
        raise InvalidValue(f"`batch_size` {s['batch_size']} is more than the {s['limit']} digits of `limit`: "
                           f"no batch can be drawn", parameters=("batch_size", "limit"))
    if s["width"] % 2:
        raise InvalidValue(f"`width` must be an even number of channels, at least 2; got {s['width']}",
                           parameters=("width",))
    s["real_label"] = float(s["real_label"])
    total = sum(math.prod(shape) for shape in network_shapes(s, "params").values())
    if total > MAX_PARAMETERS:
        raise InvalidValue(f"`width` {s['width']}, `g_hidden` {s['g_hidden']} and `d_hidden` {s['d_hidden']} make "
                           f"{total:,} parameters; at most {MAX_PARAMETERS:,} are built",
                           parameters=("width", "g_hidden", "d_hidden"))
    return s


def network_shapes(settings: dict, what: str = "state") -> dict:
    """{'G/name' or 'D/name': shape} of both networks' `what` ('state': parameters and buffers, or
    'params') for these settings, without allocating weights."""
    with shapes_only():
        nets = {"G/": generator(width=settings["width"], hidden=settings["g_hidden"]),
                "D/": discriminator(hidden=settings["d_hidden"])}
    return {tag + k: tuple(a.shape) for tag, net in nets.items() for k, a in getattr(net, what)().items()}


#: An Adam optimizer's settings in a checkpoint's metadata.
ADAM = Field("an Adam optimizer's settings (its type and step count)",
             lambda v: isinstance(v, dict) and v.get("type") == "adam" and is_whole(v.get("t")) and v["t"] >= 0)
#: A GAN checkpoint: its kind, and the metadata that does not depend on the rest (the settings are checked by
#: check_settings, the history's length and the pictures' first epoch against the epoch).
KIND = state.Declared("deepnet-gan", "DCGAN", legacy_model="dcgan", fields={
    "epoch": whole(0, MAX_EPOCHS), "rng": generator_state(dict), "optG": ADAM, "optD": ADAM})


def checked_checkpoint(path, index: dict, meta: dict) -> tuple[dict, dict]:
    """(settings, {array name: shape}) of a GAN checkpoint, from its metadata and array headers alone
    (training/state.py): the settings within bounds, the history and counters of their types, every array one
    the networks or optimizers hold and of their shape, the optimizers' state complete. Raises BadFile."""
    state.check_meta(path, meta, KIND)
    # a checkpoint from before a setting existed ran with that setting's old value
    saved = {"width": 128, "real_label": 1.0, "g_hidden": 0, "d_hidden": 0}
    saved.update({k: meta[k] for k in SETTINGS if k in meta})
    missing = [k for k in SETTINGS if k not in saved]
    if missing:
        raise BadFile(f"{path}: settings missing from its metadata: {', '.join(missing)}")
    try:
        settings = check_settings(saved)
    except InvalidValue as exc:
        raise BadFile(f"{path}: its settings are out of bounds: {exc.render(repr)}") from None
    epoch = meta["epoch"]
    check_file(path, meta, {"history": records(epoch, "epoch records"), "first_grid_epoch": whole(1, epoch + 1) | None})
    first = meta.get("first_grid_epoch") or 1
    trainable = network_shapes(settings, "params")
    arrays, optional = network_shapes(settings), {"progress/grids": (epoch - first + 1, 10, 28, 28)}
    for tag, net in (("optG", "G/"), ("optD", "D/")):
        slots = arrays if meta[tag]["t"] > 0 else optional  # an optimizer that has stepped has every slot
        for slot in Adam.slot_names:
            slots.update({f"{tag}/{slot}/{k[len(net):]}": v for k, v in trainable.items() if k.startswith(net)})
    return settings, state.check_arrays(path, index, state.Declared(KIND.format, KIND.what, arrays=arrays,
                                                                     optional=optional))


class GanTrainer(Updater):
    """Trains the generator against the discriminator into a run directory (training/rundir.py), as the GAN's
    updater on the run engine (training/engine.py): config.json (the settings), history.json, last.npz (both
    networks, both optimizers, the RNG and the fixed noise's samples of every epoch), samples.png, progress.png
    and, when judged, judge.json."""

    command, format = "gan", "deepnet-gan"

    def __init__(self, out, epochs: int = 5, batch_size: int = 64, seed: int = 0, limit: int | None = None,
                 progress: bool | None = None, log=print, width: int = 128, real_label: float = 0.9,
                 g_hidden: int = 1024, d_hidden: int = 1024):
        st = check_settings(dict(epochs=epochs, batch_size=batch_size, seed=seed, limit=limit, width=width,
                                 real_label=real_label, g_hidden=g_hidden, d_hidden=d_hidden))
        self.out, self.epochs, self.batch, self.seed, self.limit = Path(out), st["epochs"], st["batch_size"], \
            st["seed"], st["limit"]
        self.progress, self.log, self.width, self.real_label = progress, log, st["width"], st["real_label"]
        self.g_hidden, self.d_hidden = st["g_hidden"], st["d_hidden"]
        bk = current()
        bk.rng.seed(self.seed)
        self.G = generator(width=self.width, hidden=self.g_hidden)
        self.D = discriminator(hidden=self.d_hidden)
        self.opt_g, self.opt_d = Adam(lr=2e-4, beta1=0.5), Adam(lr=2e-4, beta1=0.5)
        self.fixed_noise = bk.to_device(np.random.default_rng(self.seed + 1).standard_normal((10, NOISE)))
        self.epoch, self.history = 0, []
        self.grids, self.first_grid_epoch = [], 1  # the fixed noise's samples, one (10, 28, 28) per epoch
        data = datasets.load("mnist")
        x = data.train.x if self.limit is None else data.train.x[: self.limit]
        self.x = to_gan_input(x.reshape(len(x), 1, 28, 28))

    def settings(self) -> dict:
        return {"epochs": self.epochs, "batch_size": self.batch, "seed": self.seed, "limit": self.limit,
                "width": self.width, "real_label": self.real_label, "g_hidden": self.g_hidden,
                "d_hidden": self.d_hidden}

    # --- checkpoints ---------------------------------------------------------------------------------
    def _state(self) -> dict:
        bk = current()
        arrays = {f"G/{k}": bk.to_numpy(a) for k, a in self.G.state().items()}
        arrays.update({f"D/{k}": bk.to_numpy(a) for k, a in self.D.state().items()})
        for tag, opt in (("optG", self.opt_g), ("optD", self.opt_d)):
            arrays.update({f"{tag}/{k}": bk.to_numpy(a) for k, a in opt.state_dict()["arrays"].items()})
        if self.grids:  # so that progress.png still shows every epoch after --resume
            arrays["progress/grids"] = np.stack(self.grids)
        return arrays

    def state(self) -> tuple[dict, dict]:
        meta = {"epoch": self.epoch, "history": self.history, "rng": current().rng.get_state(),
                "optG": self.opt_g.state_dict()["hyper"], "optD": self.opt_d.state_dict()["hyper"],
                "model": "dcgan", "first_grid_epoch": self.first_grid_epoch, "dtype": self.G.dtype.name,
                **self.settings()}
        return self._state(), meta

    def run_config(self) -> dict:
        return {"dtype": self.G.dtype.name, **self.settings()}

    def history_file(self) -> dict:
        return {"history": self.history}

    def save(self) -> None:
        """The checkpoint, history.json and config.json, as after each epoch."""
        Engine(self, self.out).save()

    @classmethod
    def resume(cls, out, epochs=None, progress=None, log=print, given: dict | None = None) -> GanTrainer:
        """Continue the run in `out` with its own settings. `given` are options the user gave again: only
        --epochs may differ. The checkpoint is checked (settings within bounds, every array's shape from
        the file's headers, the optimizers' state) before any network is built or data loaded."""
        directory = RunDirectory(out, "gan")
        directory.require_run()
        path = directory.path / "last.npz"
        if not path.is_file():
            raise MissingFile(f"{out} holds no GAN checkpoint to resume (no last.npz); start a new run with "
                              f"`deepnet gan --out {out} --overwrite`")
        index, meta = io.read_index(path)
        settings, expect = checked_checkpoint(path, index, meta)
        given = dict(given or {})
        if epochs is not None:
            given["epochs"] = epochs
        directory.check_changes(settings, given, RESUMABLE)
        settings.update({k: v for k, v in given.items() if k in RESUMABLE})
        settings = check_settings(settings)
        if meta["epoch"] > settings["epochs"]:
            raise InvalidValue(f"{out} has trained {meta['epoch']} epochs already; `epochs` {settings['epochs']} "
                               f"would end before that (give more epochs, or start a new run)", parameters=("epochs",))
        dtype = current().dtype.name
        if meta.get("dtype", dtype) != dtype:
            raise InvalidValue(f"{out} trained in {meta['dtype']}, but this process computes in {dtype} "
                               f"(DEEPNET_DTYPE): resume it in {meta['dtype']}")
        arrays, meta = io.load_arrays(path, expect=expect)
        trainer = cls(out, progress=progress, log=log, **settings)
        trainer.G.load_state({k[2:]: a for k, a in arrays.items() if k.startswith("G/")}, source=str(path))
        trainer.D.load_state({k[2:]: a for k, a in arrays.items() if k.startswith("D/")}, source=str(path))
        for tag, opt in (("optG", trainer.opt_g), ("optD", trainer.opt_d)):
            opt.load_state_dict({"hyper": meta[tag],
                                 "arrays": {k[len(tag) + 1:]: a for k, a in arrays.items() if k.startswith(tag + "/")}})
        trainer.epoch, trainer.history = meta["epoch"], list(meta["history"])
        grids = arrays.get("progress/grids")
        if grids is not None:
            trainer.grids = list(grids.astype(np.uint8))
            trainer.first_grid_epoch = meta["first_grid_epoch"]
        else:  # a checkpoint from before the grids were kept: progress.png starts at the next epoch
            trainer.first_grid_epoch = trainer.epoch + 1
        try:
            current().rng.set_state(meta["rng"])
        except (TypeError, ValueError, KeyError) as exc:
            raise BadFile(f"{path}: its random generator state is not one ({type(exc).__name__}: {exc})") from None
        return trainer

    # --- training --------------------------------------------------------------------------------------
    def step(self, real):
        """One discriminator step and one generator step; returns (D loss, G loss) as device scalars."""
        bk = current()
        xp = bk.xp
        n = len(real)
        ones, zeros = xp.ones(n, dtype=real.dtype), xp.zeros(n, dtype=real.dtype)
        # the discriminator sees a real batch and a fake batch separately (each normalised by its own batch
        # statistics, as the generator's batches will be), the gradients of the two summed
        d_real = self.D.loss(real, ones * self.real_label, train=True)
        self.D.backward()
        from_real = {k: g.copy() for k, g in self.D.trainable_grads().items()}
        fake = self.G.forward(bk.rng.normal((n, NOISE)), train=True)
        d_fake = self.D.loss(fake, zeros, train=True)
        self.D.backward()
        grads = self.D.trainable_grads()
        for k, g in grads.items():
            g += from_real[k]
        self.opt_d.update(self.D.trainable_params(), grads)
        fake = self.G.forward(bk.rng.normal((n, NOISE)), train=True)
        g_loss = self.D.loss(fake, ones, train=True)
        d_input = self.D.backward()  # through D (its gradients are discarded: D does not move here)
        backprop(self.G, d_input)
        self.opt_g.update(self.G.trainable_params(), self.G.trainable_grads())
        return d_real + d_fake, g_loss

    def fit(self, judge: Judge | None = None, judge_every: int = 0) -> list:
        """Train to self.epochs; with a `judge`, every `judge_every` epochs the fixed 10,000 samples are
        judged and the result kept in that epoch's history entry."""
        if len(self.x) // self.batch < 1:
            raise InvalidValue(f"{len(self.x)} images make no batch of {self.batch}")
        self.out.mkdir(parents=True, exist_ok=True)
        extensions = [Pictures()]
        if judge is not None and judge_every:
            extensions.insert(0, Judging(judge, judge_every))
        Engine(self, self.out, extensions, progress=self.progress, log=self.log).run()
        return self.history

    # --- the updater's steps (training/engine.py) -------------------------------------------------------------
    def done(self) -> bool:
        return self.epoch >= self.epochs

    def nothing_to_do(self) -> str:
        return f"{self.out}: already trained for {self.epoch} of {self.epochs} epochs; nothing to do"

    def start_line(self) -> str:
        return (f"DCGAN on MNIST: {len(self.x):,} digits, {self.epochs} epochs of batch {self.batch}, width "
                f"{self.width}, backend {current().name}")

    def begin_round(self) -> None:
        self._steps = len(self.x) // self.batch
        self._order = current().rng.permutation(len(self.x))
        self._start, self._sums, self._step = time.perf_counter(), [0.0, 0.0], 0

    def bar(self) -> tuple[str, int, int]:
        return f"Epoch {self.epoch + 1}/{self.epochs}", self._steps, 0

    def update(self) -> int:
        s, self._step = self._step, self._step + 1
        self._losses = self.step(self.x[self._order[s * self.batch : (s + 1) * self.batch]])
        return 1

    def status(self, shown: bool) -> str | None:
        """Every 20 steps the losses are read (one read) and summed: the epoch's figures are their means."""
        s = self._step - 1
        if not (s % 20 == 19 or s == self._steps - 1):
            return None
        d_now, g_now = current().items(*self._losses)
        if not (math.isfinite(d_now) and math.isfinite(g_now)):
            raise InvalidValue(f"the GAN's losses became {d_now}, {g_now} at epoch {self.epoch + 1}; "
                               f"the last good checkpoint is kept")
        self._sums[0] += d_now
        self._sums[1] += g_now
        return f"D {d_now:.3f} G {g_now:.3f}"

    def round_over(self) -> bool:
        return self._step >= self._steps

    def end_round(self) -> dict:
        bk = current()
        samples = ((bk.to_numpy(self.G.forward(self.fixed_noise, train=False)) + 1) * 127.5).clip(0, 255)
        self.grids.append(samples.astype(np.uint8).reshape(-1, 28, 28))
        checks = max(1, self._steps // 20 + (self._steps % 20 > 0))
        self.epoch += 1
        self.history.append({"epoch": self.epoch, "d_loss": self._sums[0] / checks,
                             "g_loss": self._sums[1] / checks, "seconds": time.perf_counter() - self._start})
        return self.history[-1]

    def round_line(self, record: dict) -> str:
        line = (f"Epoch {record['epoch']}/{self.epochs} - {record['seconds']:.0f}s - D loss {record['d_loss']:.3f} "
                f"- G loss {record['g_loss']:.3f}")
        return line + (f"\n  judged: {describe_judgment(record['judge'])}" if "judge" in record else "")

    def samples(self, count: int, seed: int = 0):
        """`count` generated digits as uint8 (count, 28, 28), from noise seeded by `seed`."""
        bk = current()
        z = bk.to_device(np.random.default_rng(seed).standard_normal((count, NOISE)))
        out = bk.to_numpy(self.G.predict(z, 500))
        return ((out + 1) * 127.5).clip(0, 255).astype(np.uint8).reshape(count, 28, 28)

    def judged_samples(self):
        """The 10,000 samples a judge scores: noise seeded by the run's seed + 3, the same every time."""
        return self.samples(10000, seed=self.seed + 3)

    def _pictures(self) -> None:
        try:
            plt = plots.pyplot()
        except ImportError:
            return
        grid = self.samples(64, seed=self.seed + 2)
        fig, ax = plt.subplots(figsize=(5, 5))
        ax.imshow(grid.reshape(8, 8, 28, 28).transpose(0, 2, 1, 3).reshape(224, 224), cmap="gray")
        ax.axis("off")
        ax.set_title(f"DCGAN samples after epoch {self.epoch}", fontsize=10)
        plots.save(fig, self.out / "samples.png")
        rows = np.stack(self.grids)  # (epochs so far, 10, 28, 28): the same noise, epoch by epoch
        fig, ax = plt.subplots(figsize=(5, 0.55 * len(rows) + 0.6))
        ax.imshow(rows.transpose(0, 2, 1, 3).reshape(len(rows) * 28, 280), cmap="gray")
        ax.set_yticks([28 * i + 14 for i in range(len(rows))],
                      [f"epoch {self.first_grid_epoch + i}" for i in range(len(rows))])
        ax.set_xticks([])
        ax.set_title("The same ten noise vectors, epoch by epoch", fontsize=10)
        plots.save(fig, self.out / "progress.png")


class Judging(Extension):
    """Every `every` epochs, before the checkpoint: the judge's verdict on the run's fixed 10,000 samples, kept in
    the epoch's record."""

    before_checkpoint = True

    def __init__(self, judge: Judge, every: int):
        self.judge, self.every = judge, every

    def __call__(self, engine, record: dict) -> None:
        if record["epoch"] % self.every == 0:
            record["judge"] = self.judge(engine.updater.judged_samples())


class Pictures(Extension):
    """After each epoch's checkpoint: samples.png and progress.png."""

    def __call__(self, engine, record: dict) -> None:
        engine.updater._pictures()


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The Fréchet distance between Gaussians fitted to two feature sets (rows are samples):
    |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)); the trace of the square root is the sum of the
    square roots of the product's eigenvalues (real and non-negative for two covariance matrices)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mu = a.mean(0) - b.mean(0)
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    eig = np.linalg.eigvals(sa @ sb)
    root = np.sqrt(np.clip(eig.real, 0, None)).sum()
    return float(mu @ mu + np.trace(sa) + np.trace(sb) - 2 * root)


class Judge:
    """Judges generated digits with a trained classifier: the share classified with confidence >= 0.9,
    how often each digit occurs among those, and the Fréchet distance between the classifier's
    penultimate-layer features of the samples and of real test digits (training digits against test
    digits as the yardstick). The real digits' features are computed once."""

    def __init__(self, classifier_weights, count_real: int = 10000):
        self.model, meta = load_classifier(classifier_weights, "judging generated digits (--judge-with)",
                                           input_shape=(1, 28, 28), classes=10)
        self.layers = list(self.model.layers.values())
        affine = [i for i, layer in enumerate(self.layers) if isinstance(layer, Affine)]
        if not affine:
            raise InvalidValue(f"{meta['path']} has no fully connected layer whose input could serve as the "
                               f"features the Fréchet distance compares; judge with a DeepConvNet run")
        self.cut = affine[-1]  # the last affine: its input is the penultimate layer's features
        data = datasets.load("mnist")
        self.test_features, _ = self._features_and_probs(data.test.x[:count_real])
        train_features, _ = self._features_and_probs(data.train.x[:count_real])
        self.frechet_train_vs_test = frechet_distance(train_features, self.test_features)

    def _features_and_probs(self, x_uint8):
        bk = current()
        x = datasets.to_model_input(x_uint8.reshape(-1, 1, 28, 28), self.model.dtype)
        feats, probs = [], []
        for i in range(0, len(x), 500):
            h = runner.forward(self.layers[: self.cut], x[i : i + 500], fuse=self.model.fuse)
            feats.append(bk.to_numpy(h.reshape(len(h), -1)))
            # on to the scores from the features, not a second whole pass
            h = runner.forward(self.layers[self.cut :], h, fuse=self.model.fuse)
            probs.append(bk.to_numpy(softmax(h.astype(bk.xp.float32))))
        return np.concatenate(feats), np.concatenate(probs)

    def __call__(self, samples_uint8) -> dict:
        fs, ps = self._features_and_probs(samples_uint8)
        confident = ps.max(axis=1) >= 0.9
        counts = np.bincount(ps.argmax(axis=1)[confident], minlength=10)
        return {"samples": len(ps), "confident_share": float(confident.mean()),
                "digit_shares_among_confident": (counts / max(1, counts.sum())).tolist(),
                "frechet_samples_vs_test": frechet_distance(fs, self.test_features),
                "frechet_train_vs_test": self.frechet_train_vs_test}


def judge(samples_uint8, classifier_weights, count_real: int = 10000) -> dict:
    """`Judge` once: see there."""
    return Judge(classifier_weights, count_real)(samples_uint8)


def describe_judgment(j: dict) -> str:
    return (f"{100 * j['confident_share']:.1f}% of {j['samples']:,} samples classified with confidence >= 0.9; "
            f"digit shares among them "
            + " ".join(f"{d}:{100 * s:.0f}%" for d, s in enumerate(j["digit_shares_among_confident"]))
            + f"; Fréchet distance to test digits {j['frechet_samples_vs_test']:.1f} "
              f"(training digits: {j['frechet_train_vs_test']:.1f})")
