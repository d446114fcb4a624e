#!/usr/bin/env python
"""Figure 8.15: training time, CPU vs GPU, deepnet beside PyTorch, measured on the real job.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/train_time.py
    python benchmarks/train_time.py --device cpu gpu --batch 100 --alexnet-batch 8
    python benchmarks/train_time.py --batch 1 10 100 1000          # the batch-size curve
    python benchmarks/train_time.py --smoke                        # CI: batch 2, one round, two steps
    python benchmarks/train_time.py --batch --alexnet-batch --resnet-batch 64   # ResNet-20 alone

The method, the same on both sides:
- the data: DeepConvNet trains on MNIST's 60,000 training images, held on the device as float input in
  [0, 1] and drawn as the trainer draws them (a fresh permutation, consecutive slices of it, gathered
  each step); inference runs over the 10,000 test images in batches. AlexNet (no ImageNet here) and
  ResNet-20 (3x32x32, CIFAR-10's shape; no CIFAR here) run on uniform random images made from the same seed
  on both sides.
- the model and its start: the book's architectures, He initialisation (normal, std sqrt(2/fan_in),
  zero biases) and Adam (lr 0.001), dropout in training mode.
- the process: every measurement runs in its own fresh process (one library, one device, one model
  and batch), with every usable core (deepnet's threads, torch.set_num_threads); the libraries take
  turns, and the order flips each round, so a slow spell of the machine hits both.
- the figures: per process, the median of --steps steps after --warmup (the device synchronised
  around each step); across rounds (8 by default: on a shared machine a ratio from three rounds does not
  survive a rerun), the median of those medians, with the smallest and largest and the quartiles; the
  ratio of deepnet to PyTorch is also given per round (the two measured in the same round) as a median
  with its quartiles.
  Peak memory is the process's resident high-water mark (VmHWM) on the CPU, data included.
- OpenBLAS: some machines pin it to older kernels through OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE; a
  user's NumPy runs the CPU's own. Run the benchmark with both unset (the first command above); each
  process records the kernel it ran (threadpoolctl) and the variables it saw.

PyTorch is a benchmark-only comparison, never a deepnet dependency: without it, deepnet runs alone.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

MNIST_TRAIN = 60_000


# --- the worker: one library, one device, one model and batch, in a fresh process ----------------------
def load_data(model_name: str, seed: int):
    """(train images, train labels, test images, test labels) as uint8/int64 NumPy arrays."""
    import numpy as np

    if model_name == "deepconvnet":
        from deepnet import datasets

        data = datasets.load("mnist")
        add_channel = (lambda x: x[:, None]) if data.train.x.ndim == 3 else (lambda x: x)
        return add_channel(data.train.x), data.train.y, add_channel(data.test.x), data.test.y
    rng = np.random.default_rng(seed)  # AlexNet, ResNet-20: random images, the same on both sides
    if model_name == "resnet20":  # CIFAR-10's shape (no CIFAR here)
        x = rng.integers(0, 256, (2048, 3, 32, 32), dtype=np.uint8)
        return x, rng.integers(0, 10, 2048), x[:512], rng.integers(0, 10, 512)
    x = rng.integers(0, 256, (256, 3, 227, 227), dtype=np.uint8)
    return x, rng.integers(0, 1000, 256), x[:64], rng.integers(0, 1000, 64)


def deepnet_job(device, model_name, batch, dtype, seed, data):
    """(train step, inference step, sync) closures for deepnet."""
    from deepnet import backends, datasets, models
    from deepnet.optimizers import Adam

    bk = backends.create(device, dtype=dtype)
    backends_cm = backends.use(bk)
    backends_cm.__enter__()  # this process measures one backend: keep it active
    bk.rng.seed(seed)
    shape = {"resnet20": dict(input_shape=(3, 32, 32))}.get(model_name, {})
    model = models.create(model_name, dtype=dtype, **shape)  # He initialisation (the book's)
    opt = Adam(lr=1e-3)
    x_train, t_train = datasets.to_model_input(data[0]), bk.to_device(data[1])
    x_test = datasets.to_model_input(data[2])
    # the closures hold the active-backend block: were it dropped when this function returns, the generator's
    # cleanup would restore the default backend and the steps would run on the CPU's (or fail on device arrays)
    state = {"order": bk.rng.permutation(len(x_train)), "pos": 0, "test": 0, "backend": backends_cm}

    def step():
        if state["pos"] + batch > len(x_train):  # a new epoch: a new permutation, as the trainer draws
            state["order"], state["pos"] = bk.rng.permutation(len(x_train)), 0
        idx = state["order"][state["pos"] : state["pos"] + batch]
        state["pos"] += batch
        model.train_step(x_train[idx], t_train[idx], opt)

    def infer():
        i = state["test"]
        state["test"] = (i + batch) % max(len(x_test) - batch + 1, 1)
        model.predict(x_test[i : i + batch], batch_size=batch)  # the user's inference call

    return step, infer, bk.synchronize, bk.describe()


def torch_model(torch, name):
    nn = torch.nn
    if name == "deepconvnet":
        return nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(1024, 50), nn.ReLU(), nn.Dropout(0.5), nn.Linear(50, 10), nn.Dropout(0.5))
    if name == "resnet20":
        return torch_resnet(torch, 20)
    return nn.Sequential(  # deepnet's AlexNet: ungrouped convolutions, LRN after conv1 and conv2
        nn.Conv2d(3, 96, 11, stride=4), nn.ReLU(), nn.LocalResponseNorm(5, 1e-4, 0.75, 2.0), nn.MaxPool2d(3, 2),
        nn.Conv2d(96, 256, 5, padding=2), nn.ReLU(), nn.LocalResponseNorm(5, 1e-4, 0.75, 2.0), nn.MaxPool2d(3, 2),
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(), nn.Conv2d(384, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2), nn.Flatten(),
        nn.Linear(9216, 4096), nn.ReLU(), nn.Dropout(0.5), nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(4096, 1000))


def torch_resnet(torch, depth: int, widths=(16, 32, 64), channels: int = 3, classes: int = 10):
    """deepnet's ResNet (models/deeper.py) in PyTorch: convolutions with biases, as deepnet's, each block
    conv3x3-BN-ReLU-conv3x3-BN plus the shortcut (1x1 strided conv + BN where the shape changes), then ReLU."""
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.branch = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.BatchNorm2d(cout), nn.ReLU(),
                                        nn.Conv2d(cout, cout, 3, 1, 1), nn.BatchNorm2d(cout))
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride), nn.BatchNorm2d(cout)) \
                if stride != 1 or cin != cout else nn.Identity()

        def forward(self, x):
            return torch.relu(self.branch(x) + self.shortcut(x))

    layers, cin = [nn.Conv2d(channels, widths[0], 3, padding=1), nn.BatchNorm2d(widths[0]), nn.ReLU()], widths[0]
    for stage, cout in enumerate(widths):
        for b in range((depth - 2) // 6):
            layers.append(Block(cin, cout, 2 if stage > 0 and b == 0 else 1))
            cin = cout
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, classes))


def he_init(torch, model):
    """deepnet's initialisation in PyTorch: weights normal with std sqrt(2 / fan_in), biases zero."""
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            fan_in = m.weight[0].numel()
            torch.nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_in))
            torch.nn.init.zeros_(m.bias)


def torch_job(device, model_name, batch, dtype, seed, data):
    import torch

    torch.set_num_threads(C.usable_cores())
    dev = torch.device("cuda" if device == "gpu" else "cpu")
    tdtype = getattr(torch, dtype)
    torch.manual_seed(seed)
    model = torch_model(torch, model_name).to(device=dev, dtype=tdtype)
    he_init(torch, model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x_train = torch.from_numpy(data[0]).to(dev).to(tdtype).mul_(1.0 / 255.0)  # as deepnet.datasets.to_model_input
    t_train = torch.from_numpy(data[1].astype("int64")).to(dev)
    x_test = torch.from_numpy(data[2]).to(dev).to(tdtype).mul_(1.0 / 255.0)
    gen = torch.Generator(device=dev).manual_seed(seed)
    state = {"order": torch.randperm(len(x_train), generator=gen, device=dev), "pos": 0, "test": 0}
    sync = torch.cuda.synchronize if device == "gpu" else (lambda: None)

    def step():
        if state["pos"] + batch > len(x_train):
            state["order"], state["pos"] = torch.randperm(len(x_train), generator=gen, device=dev), 0
        idx = state["order"][state["pos"] : state["pos"] + batch]
        state["pos"] += batch
        model.train()
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x_train[idx]), t_train[idx]).backward()
        opt.step()

    def infer():
        i = state["test"]
        state["test"] = (i + batch) % max(len(x_test) - batch + 1, 1)
        model.eval()
        with torch.inference_mode():
            model(x_test[i : i + batch])

    about = {"library": f"torch {torch.__version__}", "threads": torch.get_num_threads(),
             "device": torch.cuda.get_device_name() if device == "gpu" else C.cpu_model()}
    return step, infer, sync, about


def median_time(fn, steps, warmup, sync):
    times = []
    for i in range(warmup + steps):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return C.median(times)


def peak_rss() -> int | None:
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return None


def worker(library, device, model_name, batch, steps, warmup, dtype, seed) -> dict:
    data = load_data(model_name, seed)
    job = deepnet_job if library == "deepnet" else torch_job
    step, infer, sync, about = job(device, model_name, batch, dtype, seed, data)
    train_s = median_time(step, steps, warmup, sync)
    infer_s = median_time(infer, steps, warmup, sync)
    return {"train_step_s": train_s, "infer_s": infer_s, "peak_rss_bytes": peak_rss(), "about": about,
            **C.kernels()}


# --- the driver ---------------------------------------------------------------------------------------------
def measure(args, libraries, configs, on_result=None) -> dict:
    """{(library, device, model, batch): [result per round]}, the libraries alternating, order flipped each round;
    on_result(results) after each process, so that a run cut short keeps what it measured."""
    results = {}
    for r in range(args.rounds):
        for device, model_name, batch in configs:
            here = [lib for lib in libraries if not (lib == "pytorch" and device == "gpu" and args.torch_gpu_why)]
            order = here if r % 2 == 0 else here[::-1]
            for library in order:
                res = C.run_fresh([__file__, "--worker", library, device, model_name, batch, args.steps, args.warmup,
                                   args.dtype, args.seed], timeout=1800)
                results.setdefault((library, device, model_name, batch), []).append(res)
                print(f"round {r + 1}/{args.rounds}: {library:<8} {device} {model_name:<12} batch {batch:>5}: "
                      f"train {1000 * res['train_step_s']:8.1f} ms, infer {1000 * res['infer_s']:7.1f} ms"
                      + (f", peak {res['peak_rss_bytes'] / 2**20:.0f} MiB" if res["peak_rss_bytes"] else ""),
                      flush=True)
                if on_result is not None:
                    on_result(results)
    return results


def summarise(results) -> list:
    rows = []
    for (library, device, model_name, batch), rounds in results.items():
        train = [q["train_step_s"] for q in rounds]
        infer = [q["infer_s"] for q in rounds]
        peaks = [q["peak_rss_bytes"] for q in rounds if q["peak_rss_bytes"]]
        t, i = C.median(train), C.median(infer)
        rows.append({
            "library": library, "device": device, "label": device.upper(), "model": model_name, "batch": batch,
            "train_step_s": t, "train_step_s_min": min(train), "train_step_s_max": max(train),
            "infer_s": i, "infer_s_min": min(infer), "infer_s_max": max(infer),
            "train_step_s_quartiles": C.quartiles(train), "infer_s_quartiles": C.quartiles(infer),
            "images_per_s": batch / t, "infer_images_per_s": batch / i,
            "epoch_s": t * math.ceil(MNIST_TRAIN / batch) if model_name == "deepconvnet" else None,
            "peak_rss_bytes": C.median(peaks) if device == "cpu" and peaks else None,
            "rounds_train_s": train, "rounds_infer_s": infer, "about": rounds[0]["about"],
            "blas": rounds[0]["blas"], "openblas_env": rounds[0]["openblas_env"]})
    return rows


def ratios(rows) -> list:
    out = []
    for r in rows:
        if r["library"] != "deepnet":
            continue
        twin = [q for q in rows if q["library"] == "pytorch" and q["device"] == r["device"]
                and q["model"] == r["model"] and q["batch"] == r["batch"]]
        if twin:
            q = twin[0]
            out.append({"device": r["device"], "model": r["model"], "batch": r["batch"],
                        "train_throughput_ratio": r["images_per_s"] / q["images_per_s"],
                        "infer_throughput_ratio": r["infer_images_per_s"] / q["infer_images_per_s"],
                        # per round, deepnet against the PyTorch process of the same round: quartiles
                        "train_ratio_quartiles": C.quartiles([b / a for a, b in zip(r["rounds_train_s"],
                                                                                    q["rounds_train_s"])]),
                        "infer_ratio_quartiles": C.quartiles([b / a for a, b in zip(r["rounds_infer_s"],
                                                                                    q["rounds_infer_s"])]),
                        "peak_memory_ratio": (r["peak_rss_bytes"] / q["peak_rss_bytes"]
                                              if r["peak_rss_bytes"] and q["peak_rss_bytes"] else None)})
    return out


def gpu_speedups(rows) -> list:
    out = []
    for r in rows:
        if r["device"] == "gpu":
            cpu = [q for q in rows if q["device"] == "cpu" and q["library"] == r["library"]
                   and q["model"] == r["model"] and q["batch"] == r["batch"]]
            if cpu:
                out.append({"library": r["library"], "model": r["model"], "batch": r["batch"],
                            "gpu_over_cpu": cpu[0]["train_step_s"] / r["train_step_s"]})
    return out


def plot(rows, path, title):
    plt = C.pyplot()
    bars = [r for r in rows if r["model"] == "deepconvnet"]
    batch = 100 if any(r["batch"] == 100 for r in bars) else bars[0]["batch"]  # the book's batch
    order = {("deepnet", "cpu"): 0, ("pytorch", "cpu"): 1, ("deepnet", "gpu"): 2, ("pytorch", "gpu"): 3}
    bars = sorted((r for r in bars if r["batch"] == batch), key=lambda r: order[(r["library"], r["device"])])
    fig, ax = plt.subplots(figsize=(8, 0.7 * len(bars) + 1.6))
    names = {"deepnet": "deepnet", "pytorch": "PyTorch"}
    labels = [f"{names[r['library']]} {r['label']}" for r in bars]
    y = list(range(len(bars)))[::-1]
    steps = math.ceil(MNIST_TRAIN / batch)
    ax.barh(y, [r["epoch_s"] for r in bars], color=["tab:blue" if r["library"] == "deepnet" else "tab:gray"
                                                     for r in bars],
            xerr=[[r["epoch_s"] - r["train_step_s_min"] * steps for r in bars],
                  [r["train_step_s_max"] * steps - r["epoch_s"] for r in bars]], capsize=3)
    ax.set_yticks(y, labels)
    for i, r in zip(y, bars):
        ax.text(r["train_step_s_max"] * steps, i, f"  {r['epoch_s']:.1f} s  ({r['images_per_s']:,.0f} img/s)",
                va="center", fontsize=9)
    ax.set_xlabel(f"seconds per MNIST epoch (60,000 images), DeepConvNet training, batch {batch} "
                  f"(median of rounds; bars: min-max)")
    ax.set_xlim(0, max(r["train_step_s_max"] * steps for r in bars) * 1.5)
    ax.set_title(title, fontsize=10)
    C.save_png(fig, path)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", nargs="+", default=["cpu"], choices=["cpu", "gpu"])
    p.add_argument("--batch", type=int, nargs="*", default=[100, 10],
                   help="DeepConvNet batch sizes (the flag alone: no DeepConvNet)")
    p.add_argument("--alexnet-batch", type=int, nargs="*", default=None,
                   help="AlexNet batch sizes (default 8; the flag alone: no AlexNet)")
    p.add_argument("--resnet-batch", type=int, nargs="*", default=None,
                   help="ResNet-20 (3x32x32 inputs) batch sizes (default 64; the flag alone: no ResNet-20)")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64", "float16"])
    p.add_argument("--steps", type=int, default=30, help="timed steps per process (the median is kept)")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--rounds", type=int, default=8, help="fresh processes per library and configuration")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    C.output_options(p, smoke="CI mode: batch 2, one round, two steps, no AlexNet", worker=8)
    args = p.parse_args(argv)
    if args.worker:
        library, device, model_name, batch, steps, warmup, dtype, seed = args.worker
        C.emit(worker(library, device, model_name, int(batch), int(steps), int(warmup), dtype, int(seed)))
        return None
    if args.smoke:
        args.batch, args.steps, args.warmup, args.rounds, args.alexnet_batch = [2], 2, 1, 1, []
        args.resnet_batch = []
    if args.alexnet_batch is None:
        args.alexnet_batch = [8]
    if args.resnet_batch is None:
        args.resnet_batch = [64]
    if "gpu" in args.device:
        from deepnet import backends

        try:
            backends.create("gpu")
        except backends.BackendUnavailable as exc:
            print(f"skipping the GPU: {exc}", file=sys.stderr)
            args.device = [d for d in args.device if d != "gpu"]
            if not args.device:
                raise SystemExit("no device left to measure") from None
    why = "--no-torch" if args.no_torch else C.torch_importable()
    libraries = ["deepnet"] if why else ["deepnet", "pytorch"]
    if why:
        print(f"PyTorch comparison skipped: {why}")
    args.torch_gpu_why = None if why or "gpu" not in args.device else C.torch_importable(cuda=True)
    if args.torch_gpu_why:
        print(f"PyTorch compared on the CPU only: {args.torch_gpu_why}")
    configs = [(d, "deepconvnet", b) for d in args.device for b in args.batch] + \
              [(d, "alexnet", b) for d in args.device for b in args.alexnet_batch] + \
              [(d, "resnet20", b) for d in args.device for b in args.resnet_batch]
    name = "train_time" + (f"_{args.tag}" if args.tag else "")
    partial = Path(args.out) / f"{name}_partial.json"

    def keep(results):  # what has been measured so far, rewritten after every process (a cut run keeps it)
        C.write_json(partial, {"benchmark": "train_time", "partial": True, "command": " ".join(sys.argv),
                               "timestamp": C.stamp(), "machine": C.machine(), "rows": summarise(results)})

    rows = summarise(measure(args, libraries, configs, keep))
    partial.unlink(missing_ok=True)
    rel, speed = ratios(rows), gpu_speedups(rows)
    print()
    for r in rows:
        print(f"{r['library']:<8} {r['label']} {r['model']:<12} batch {r['batch']:>5}: train "
              f"{r['images_per_s']:8,.0f} img/s ({1000 * r['train_step_s_min']:.1f}-{1000 * r['train_step_s_max']:.1f} "
              f"ms a step over rounds), inference {r['infer_images_per_s']:8,.0f} img/s"
              + (f", peak memory {r['peak_rss_bytes'] / 2**20:.0f} MiB" if r["peak_rss_bytes"] else ""))
    for q in rel:
        tq, iq = q["train_ratio_quartiles"], q["infer_ratio_quartiles"]
        print(f"deepnet / PyTorch on {q['device']}, {q['model']} batch {q['batch']}: training throughput "
              f"{q['train_throughput_ratio']:.2f}x (rounds {tq[0]:.2f}-{tq[2]:.2f}), inference "
              f"{q['infer_throughput_ratio']:.2f}x (rounds {iq[0]:.2f}-{iq[2]:.2f})"
              + (f", peak memory {q['peak_memory_ratio']:.2f}x" if q["peak_memory_ratio"] else ""))
    for s in speed:
        print(f"GPU over CPU, {s['library']} {s['model']} batch {s['batch']}: {s['gpu_over_cpu']:.1f}x (book: ~7x)")
    payload = {"benchmark": "train_time", "figure": "8.15", "method": __doc__.split("The method", 1)[1].strip(),
               "command": " ".join(sys.argv), "dtype": args.dtype, "steps": args.steps, "warmup": args.warmup,
               "rounds": args.rounds, "seed": args.seed, "timestamp": C.stamp(), "machine": C.machine(),
               "rows": rows, "deepnet_over_pytorch": rel, "gpu_over_cpu": speed,
               "torch": None if why else "measured in the worker processes (rows[].about)"}
    draw = (lambda png: plot(rows, png, f"DeepConvNet training time per MNIST epoch ({args.dtype}) - "
                                        f"cf. the book's Figure 8.15")) \
        if any(r["model"] == "deepconvnet" for r in rows) else None
    C.write_results(Path(args.out), name, payload, draw)
    return payload


if __name__ == "__main__":
    main()
