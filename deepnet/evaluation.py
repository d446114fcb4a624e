"""`deepnet eval`: test accuracy of trained runs, in float32 and a second dtype, and their ensemble."""
from __future__ import annotations



from . import datasets, models
from .backends import current
from .layers import softmax
from .training import checkpoint


def load_model(run_or_file, dtype="float32"):
    """(model, metadata) for a run directory or a weights/checkpoint file, built in `dtype`."""
    path = checkpoint.find(run_or_file)
    contents = checkpoint.read(path)  # read once: the metadata says which model to build
    meta = contents[2]
    cfg = meta.get("config", {})
    name = cfg.get("model") or meta.get("model_name") or str(meta.get("model", "deepconvnet"))
    shape = tuple(meta.get("input_shape", (1, 28, 28)))
    kwargs = {"num_classes": int(meta["num_classes"])} if "num_classes" in meta else {}
    model = models.create(name.lower(), input_shape=shape, dtype=dtype, **kwargs)
    checkpoint.load(path, model, contents=contents)
    return model, {**meta, "path": str(path), "dataset": cfg.get("dataset", "mnist")}


def probabilities(model, x, batch_size: int):
    """Softmax outputs for every sample, as a float32 device array, and the seconds it took."""
    bk = current()
    xp = bk.xp
    model.predict(x[:batch_size], batch_size)  # warm-up: first-call allocations are not timed
    bk.synchronize()
    with bk.timer() as t:
        out = xp.concatenate([softmax(model.forward(x[i : i + batch_size]).astype(xp.float32))
                              for i in range(0, len(x), batch_size)])
    return out, t.seconds


def ensemble(probs: list):
    """The mean of the members' softmax outputs."""
    return sum(probs[1:], probs[0]) / len(probs)


def evaluate_runs(runs, dtype="float32", dataset=None, batch_size=500, data_dir=None, log=print) -> int:
    bk = current()
    dtypes = ["float32"] + ([dtype] if dtype != "float32" else [])
    members = {dt: [] for dt in dtypes}
    data = None
    for run in runs:
        for dt in dtypes:
            model, meta = load_model(run, dt)
            if data is None:
                data = datasets.load(dataset or meta["dataset"], source_dir=data_dir)
                t = bk.to_device(data.test.y)
                xs = {}
            if dt not in xs:
                xs[dt] = datasets.to_model_input(data.test.x, dt)
            p, seconds = probabilities(model, xs[dt], batch_size)
            acc = float((p.argmax(axis=1) == t).mean())
            members[dt].append(p)
            log(f"{meta['path']}: {dt:<8} test accuracy {100 * acc:.2f}% ({len(t)} images, "
                f"{len(t) / seconds:,.0f} images/s{_precision_note(dt)})")
    if len(runs) > 1:
        for dt in dtypes:
            acc = float((ensemble(members[dt]).argmax(axis=1) == t).mean())
            log(f"ensemble of {len(runs)} ({dt}): test accuracy {100 * acc:.2f}%")
    return 0


def _precision_note(dt: str) -> str:
    if dt == "float16" and not current().is_gpu:
        return "; weights and activations stored in float16, matrix products accumulated in float32"
    return ""
