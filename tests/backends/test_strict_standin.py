"""deepnet's real CuPy backend (`DEEPNET_BACKEND=gpu`) run end to end on the strict CuPy stand-in
(tests/strict_cupy.py): device arrays over NumPy that refuse every implicit host conversion and count each
device-to-host read, host-to-device copy and array call with its call site.

This proves host/device discipline: every command runs without reading the device behind the backend's back,
and a training step keeps to its budgets (no reads, no copies, at most so many array calls). It proves nothing
about kernels or speed: no CuPy code runs, and an array call is a proxy for one or more launches. Marked
`standin`, never `gpu`."""
import numpy as np
import pytest

from deepnet import backends, models, optimizers
from deepnet.cli import main
from deepnet.layers.loss import labels_checked

from .. import cuda_exec, strict_cupy

pytestmark = [pytest.mark.standin, pytest.mark.skipif(not cuda_exec.available(), reason="g++ is not installed")]


@pytest.fixture(scope="module", autouse=True)
def small_data():
    """MNIST's test split cut to 200 digits and the built scene sets' test splits to 40 scenes: every NumPy call
    on the stand-in is counted and float16 products have no BLAS, so the commands run on little data (the
    mechanics, not the accuracy)."""
    import functools

    from deepnet.datasets import loaders

    real = loaders.mnist

    def mnist(**kw):
        d = real(**kw)
        return loaders.Dataset(d.name, d.train, d.test.take(200), d.validation, d.source)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(loaders, "mnist", mnist)
        mp.setitem(loaders.LOADERS, "mnist", mnist)
        for key in ("mnist_scenes", "mnist_boxes", "mnist_clutter"):
            mp.setitem(loaders.LOADERS, key, functools.partial(loaders.LOADERS[key], test_count=40))
        scenes = loaders.detection_test_scenes
        mp.setattr(loaders, "detection_test_scenes", lambda name, count=40, **kw: scenes(name, min(count, 40), **kw))
        yield


@pytest.fixture
def strict():
    """The GPU backend on the strict stand-in, float32, active for the test; counts start at zero."""
    with strict_cupy.installed(), backends.use("gpu", dtype="float32") as bk:
        assert "stand-in" in bk.device_name
        strict_cupy.COUNTS.reset()
        yield bk


def test_the_standin_refuses_implicit_transfers(strict):
    xp = strict.xp
    a = strict.to_device(np.arange(6, dtype=np.float32).reshape(2, 3))
    for what, attempt in [("__array__", lambda: np.asarray(a)), ("float()", lambda: float(a.sum())),
                          ("int()", lambda: int(a.max())), ("bool()", lambda: bool(a.all())),
                          ("iteration", lambda: list(a)), ("NumPy array of shape", lambda: a + np.ones(3)),
                          ("NumPy array of shape", lambda: a.__setitem__(0, np.ones(3))), (".tolist()", a.tolist)]:
        with pytest.raises(strict_cupy.HostConversion, match=what.replace("(", r"\(").replace(")", r"\)")):
            attempt()
    assert strict.item(a.sum()) == 15.0 and strict.to_numpy(a * 2).tolist() == [[0, 2, 4], [6, 8, 10]]
    counts = strict_cupy.COUNTS
    assert counts.totals()["d2h"] == 2 and counts.totals()["h2d"] == 1
    assert a.reshape(3, 2).shape == (3, 2) and counts.totals()["views"] >= 1  # a reshape launches nothing
    assert isinstance(xp.exp(a), strict_cupy.ndarray) and isinstance(np.exp(a), strict_cupy.ndarray)


# Per-step budgets of a training step (forward, backward, Adam), as measured by benchmarks/standin_counts.py
# (results/gpu_standin_counts.json; before Adam's and batch norm's kernels, device-drawn dropout and the trainer's
# one label check: results/gpu_standin_counts_before_201c756.json, 321 / 364 / 1905 calls with a read or two
# copies a step; before the many-parameter Adam, the running statistics' kernel and the convolution's bias+ReLU
# pass: results/gpu_standin_counts_before_6f59eaa.json, 137 / 180 / 822): no device-to-host read, no
# host-to-device copy, at most this many array calls. Raise one only saying why.
BUDGETS = {"deepconvnet": 111, "alexnet": 156, "resnet20": 493}


@pytest.mark.parametrize("name", sorted(BUDGETS))
def test_a_training_step_keeps_its_budget(strict, name):
    counts = strict_cupy.train_step_counts(name)
    totals = counts.totals()
    assert totals["d2h"] == 0, f"device-to-host reads in a {name} step: {counts.d2h.most_common()}"
    assert totals["h2d"] == 0, f"host-to-device copies in a {name} step: {counts.h2d.most_common()}"
    assert totals["calls"] <= BUDGETS[name], f"{totals['calls']} array calls: {counts.calls.most_common(10)}"


def test_a_captioners_training_step_reads_nothing_back(strict):
    """NIC's step (teacher forcing, its gradients clipped by global norm) inside the trainer's label check: the
    loss's word count stays on the device and the clipping factor is computed there."""
    from deepnet.datasets import captions

    rng = np.random.default_rng(0)
    model, opt = models.create("nic"), optimizers.Adam()
    x = strict.to_device(rng.random((2, 1, 64, 64), dtype=np.float32))
    words = np.stack([captions.caption_tokens([3, 1]), captions.caption_tokens([7])])
    t = strict.to_device(words)
    with labels_checked():
        for _ in range(2):
            strict_cupy.COUNTS.reset()
            model.train_step(x, t, opt)
    totals = strict_cupy.COUNTS.totals()
    assert totals["d2h"] == 0 and totals["h2d"] == 0, (strict_cupy.COUNTS.d2h, strict_cupy.COUNTS.h2d)


@pytest.mark.parametrize("name,shape", [("resnet8", (3, 16, 16)), ("deepconvnet", (1, 28, 28))])
def test_the_gpu_backend_on_the_standin_computes_the_references_gradients(name, shape):
    """Two steps of ResNet-8 (batch norm and its ReLU, the running statistics, Adam over more parameters than one
    launch takes) and of DeepConvNet (each convolution's bias and ReLU in one pass) through the GPU backend's
    launch code on the stand-in, in float64, against the plain NumPy reference backend: the same losses, weights,
    running statistics and Adam moments. The kernels' arguments (order, shapes, dtypes) are what this checks;
    their bodies are checked in tests/backends/test_cuda_kernels_on_cpu.py."""
    from deepnet.backends.base import Backend

    rng = np.random.default_rng(1)
    x, t = rng.standard_normal((3, *shape)), np.array([1, 4, 9])
    results = []
    with strict_cupy.installed():
        for bk in (Backend(dtype="float64", seed=0), backends.create("gpu", dtype="float64", seed=0)):
            with backends.use(bk):
                kwargs = {"input_shape": shape} if name == "resnet8" else {"dropout": 0.0}
                model, opt = models.create(name, **kwargs), optimizers.Adam(lr=0.01)
                losses = [bk.item(model.train_step(bk.to_device(x), bk.to_device(t), opt)) for _ in range(2)]
                state = {**model.params(), **model.buffers(), **opt.state_dict()["arrays"]}  # Adam's m and v too
                results.append((losses, {k: bk.to_numpy(a) for k, a in state.items()}))
    (loss_ref, ref), (loss, got) = results
    assert len(opt.slots["m"]) > 16 or name != "resnet8"  # two launches of the many-parameter Adam kernel
    assert loss == pytest.approx(loss_ref, rel=1e-12)
    assert any("running_mean" in k for k in ref) or name != "resnet8"
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-9, atol=1e-12, err_msg=k)


def test_inference_on_the_standin_equals_the_reference():
    """DeepConvNet's predictions through the GPU backend on the stand-in (each convolution, its bias, ReLU and
    2x2 pooling after the product in one kernel, bias_relu_pool) against the NumPy reference, in float64."""
    from deepnet.backends.base import Backend

    x = np.random.default_rng(2).standard_normal((4, 1, 28, 20))  # not square: H and W cannot be swapped unseen
    outs = []
    with strict_cupy.installed():
        for bk in (Backend(dtype="float64", seed=0), backends.create("gpu", dtype="float64", seed=0)):
            with backends.use(bk):
                model = models.create("deepconvnet", input_shape=(1, 28, 20))
                strict_cupy.COUNTS.reset()
                outs.append(bk.to_numpy(model.predict(bk.to_device(x), probabilities=True)))
    launched = [site for site in strict_cupy.COUNTS.calls if "cuda/backend.py" in site]
    assert launched  # the GPU backend's own kernels ran, not only the reference's code
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-12, atol=1e-14)


def test_the_budget_check_catches_a_per_step_read(strict, monkeypatch):
    """A planted sync (the label check the trainer turns off) is seen as one device-to-host read a step."""
    rng = np.random.default_rng(0)
    model = models.create("deepconvnet")
    x, t = strict.to_device(rng.random((2, 1, 28, 28), dtype=np.float32)), strict.to_device(np.array([1, 2]))
    opt = optimizers.Adam()
    model.train_step(x, t, opt)
    strict_cupy.COUNTS.reset()
    model.train_step(x, t, opt)  # outside labels_checked(): the loss reads the labels' range
    assert strict_cupy.COUNTS.totals()["d2h"] == 1
    assert "deepnet/layers/loss.py" in next(iter(strict_cupy.COUNTS.d2h))


# --- every command, end to end -----------------------------------------------------------------------------------
TINY = ["--epochs", "1", "--no-progress", "--recipe", "book"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Small runs trained on the stand-in, for the commands that read one."""
    out = tmp_path_factory.mktemp("standin")
    made = {}
    with strict_cupy.installed(), backends.use("gpu", dtype="float32"):
        for name, argv in {
            "clf": ["--limit", "200", "--batch-size", "50", "--augment", "shift=2,rotate=10"],
            "binarynet": ["--model", "binarynet", "--limit", "200", "--batch-size", "50", "--no-plots"],
        }.items():
            made[name] = out / name
            assert main(["train", *argv, *TINY, "--out", str(made[name])]) == 0, name
        # untrained, saved by the library: what caption and detect read (their training is the trainer's loop,
        # run above; a trained NIC's end-of-run report decodes 1,000 scenes, minutes on the stand-in)
        for name, model in (("nic", "nic"), ("frcnn", "fasterrcnn"), ("small", "simpleconvnet")):
            made[name] = out / f"{name}.npz"
            dataset = {"nic": "mnist-captions", "fasterrcnn": "mnist-boxes"}.get(model, "mnist")
            models.create(model).save(made[name], {"config": {"model": model, "dataset": dataset}})
    return made


def picture(path):
    from PIL import Image

    a = np.zeros((64, 64), np.uint8)
    a[20:44, 28:36] = 255
    Image.fromarray(a).save(path)
    return path


COMMANDS = {
    "train resnet8": lambda r, d: ["train", "--model", "resnet8", "--limit", "32", "--batch-size", "16", *TINY,
                                   "--no-plots", "--out", d / "res"],
    "train googlenet": lambda r, d: ["train", "--model", "googlenet", "--limit", "16", "--batch-size", "8", *TINY,
                                     "--no-plots", "--no-test-eval", "--out", d / "goog"],
    "train fcn": lambda r, d: ["train", "--model", "fcn", "--dataset", "mnist-scenes", "--limit", "8",
                               "--batch-size", "4", *TINY, "--out", d / "fcn"],
    "train segnet": lambda r, d: ["train", "--model", "segnet", "--dataset", "mnist-scenes", "--limit", "8",
                                  "--batch-size", "4", *TINY, "--no-test-eval", "--no-plots", "--out", d / "seg"],
    "train fasterrcnn": lambda r, d: ["train", "--model", "fasterrcnn", "--dataset", "mnist-boxes", "--limit", "4",
                                      "--batch-size", "2", *TINY, "--no-test-eval", "--no-plots", "--out", d / "frcnn"],
    "train float16": lambda r, d: ["train", "--model", "simpleconvnet", "--limit", "100", "--batch-size", "50",
                                   "--dtype", "float16", *TINY,
                                   "--no-plots", "--no-test-eval", "--out", d / "f16"],
    "eval float16": lambda r, d: ["eval", r["small"], "--dtype", "float16", "--batch-size", "200"],
    "eval ensemble": lambda r, d: ["eval", r["clf"], r["binarynet"]],
    "eval detector": lambda r, d: ["eval", r["frcnn"]],
    "predict": lambda r, d: ["predict", picture(d / "digit.png"), "--weights", r["clf"]],
    "scan": lambda r, d: ["scan", r["clf"], "--out", d / "scan.png"],
    "binarize": lambda r, d: ["binarize", r["binarynet"], "--limit", "50", "--out", d / "packed.npz"],
    "caption beam": lambda r, d: ["caption", r["nic"], "--count", "3", "--beam", "3", "--out", d / "c.png"],
    "caption image": lambda r, d: ["caption", r["nic"], picture(d / "scene.png"), "--out", ""],
    "detect": lambda r, d: ["detect", r["frcnn"], "--count", "2", "--out", d / "det.png"],
    "detect image": lambda r, d: ["detect", r["frcnn"], picture(d / "scene.png"), "--out", ""],
    "export": lambda r, d: ["export", r["clf"], d / "m.onnx"],
    # the judge (--judge-with) is a classifier's forward over 20,000 digits: eval and predict cover that path
    "gan": lambda r, d: ["gan", "--out", d / "gan", "--epochs", "1", "--limit", "64", "--batch-size", "32",
                         "--width", "4", "--g-hidden", "8", "--d-hidden", "8", "--no-progress"],
    "dqn": lambda r, d: ["dqn", "--out", d / "dqn", "--frames", "150", "--replay-size", "200", "--replay-start",
                         "40", "--epsilon-frames", "100", "--eval-every", "100", "--eval-episodes", "1", "--hidden",
                         "8", "--no-progress"],
    "dqn double adam clipped": lambda r, d: ["dqn", "--out", d / "dqn2", "--frames", "120", "--replay-size", "0",
                                             "--replay-start", "20", "--eval-every", "100", "--eval-episodes", "1",
                                             "--hidden", "8", "--double", "--optimizer", "adam", "--max-grad-norm",
                                             "1", "--no-progress"],
    "style": lambda r, d: ["style", picture(d / "c.png"), picture(d / "s.png"), "--steps", "2", "--size", "16",
                           "--out", d / "st.png"],
    "style adam from a run": lambda r, d: ["style", picture(d / "c.png"), picture(d / "s.png"), "--steps", "2",
                                           "--size", "32", "--method", "adam", "--weights", r["clf"], "--out",
                                           d / "st2.png"],
    "info": lambda r, d: ["info"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_runs_on_the_strict_standin(runs, tmp_path, capsys, command):
    if command.startswith("dqn"):
        pytest.importorskip("minatar")
    if command.startswith("style"):
        pytest.importorskip("scipy")
    argv = [str(a) for a in COMMANDS[command](runs, tmp_path)]
    with strict_cupy.installed(), backends.use("gpu", dtype="float32"):
        code = main(argv)
    assert code == 0, capsys.readouterr().err
