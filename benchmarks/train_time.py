#!/usr/bin/env python
"""Figure 8.15: training time, CPU vs GPU, with PyTorch measured side by side in the same run.

    python benchmarks/train_time.py --backend cpu                 # DeepConvNet batch 100 and AlexNet batch 8
    python benchmarks/train_time.py --backend cpu gpu --batch 1 10 100 1000
    python benchmarks/train_time.py --smoke                       # CI: tiny, one step

For each backend it times a full DeepConvNet training step (forward, loss, backward, Adam update)
and a forward-only pass, as the median of --steps steps after --warmup, with the device
synchronised around every step, alternating deepnet and PyTorch for --rounds rounds and keeping
the median round; it projects the time of one MNIST epoch (60,000 images), and times
AlexNet the same way. Where PyTorch imports, the same architectures built in PyTorch run on the
same device with the same batch, dtype and thread count (on a GPU, PyTorch's convolutions use
cuDNN: the book's third bar). PyTorch is a benchmark-only comparison, never a deepnet dependency.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

MNIST_TRAIN = 60_000
SHAPES = {"deepconvnet": ((1, 28, 28), 10), "alexnet": ((3, 227, 227), 1000)}


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


def deepnet_runner(bk, model_name, batch, dtype):
    """(train step, forward pass, sync) for deepnet's model on backend bk."""
    from deepnet import backends, models
    from deepnet.optimizers import Adam

    with backends.use(bk):
        bk.rng.seed(0)
        shape, classes = SHAPES[model_name]
        model = models.create(model_name, input_shape=shape, num_classes=classes, dtype=dtype)
        opt = Adam()
        x = bk.rng.uniform((batch,) + shape)
        t = bk.rng.integers(0, classes, (batch,))

    def step():
        with backends.use(bk):
            model.loss(x, t, train=True)
            model.backward()
            opt.update(model.trainable_params(), model.trainable_grads())

    def infer():
        with backends.use(bk):
            model.forward(x, train=False)

    return step, infer, bk.synchronize


def time_runner(runner, steps, warmup):
    step, infer, sync = runner
    return {"train_s": median_time(step, steps, warmup, sync), "infer_s": median_time(infer, steps, warmup, sync)}


def time_deepnet(bk, model_name, batch, steps, warmup, dtype):
    return time_runner(deepnet_runner(bk, model_name, batch, dtype), steps, warmup)


def torch_model(torch, name):
    nn = torch.nn
    if name == "deepconvnet":
        return nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(1024, 50), nn.ReLU(), nn.Dropout(0.5), nn.Linear(50, 10), nn.Dropout(0.5))
    return nn.Sequential(  # AlexNet as deepconvnet's AlexNet: ungrouped convolutions, LRN after conv1 and conv2
        nn.Conv2d(3, 96, 11, stride=4), nn.ReLU(), nn.LocalResponseNorm(5, 1e-4, 0.75, 2.0), nn.MaxPool2d(3, 2),
        nn.Conv2d(96, 256, 5, padding=2), nn.ReLU(), nn.LocalResponseNorm(5, 1e-4, 0.75, 2.0), nn.MaxPool2d(3, 2),
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(), nn.Conv2d(384, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2), nn.Flatten(),
        nn.Linear(9216, 4096), nn.ReLU(), nn.Dropout(0.5), nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(4096, 1000))


def torch_runner(torch, on_gpu, model_name, batch, dtype):
    """(train step, forward pass, sync) for the same model in PyTorch."""
    device = torch.device("cuda" if on_gpu else "cpu")
    tdtype = getattr(torch, dtype)
    torch.manual_seed(0)
    model = torch_model(torch, model_name).to(device=device, dtype=tdtype)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    shape, classes = SHAPES[model_name]
    x = torch.rand((batch,) + shape, device=device, dtype=tdtype)
    t = torch.randint(0, classes, (batch,), device=device)
    sync = torch.cuda.synchronize if on_gpu else (lambda: None)

    def step():
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), t).backward()
        opt.step()

    def infer():
        with torch.no_grad():
            model.eval()
            model(x)
            model.train()

    return step, infer, sync


def time_torch(torch, on_gpu, model_name, batch, steps, warmup, dtype):
    return time_runner(torch_runner(torch, on_gpu, model_name, batch, dtype), steps, warmup)


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def memory_worker(library, model_name, batch, dtype) -> None:
    """Run in a fresh process: peak resident memory added by building the model and training 3 steps.

    VmHWM (this address space's high-water mark) rather than ru_maxrss: Linux carries ru_maxrss
    over from the parent across fork and exec, so a child would report the parent's size."""
    if library == "deepnet":  # libraries imported before the baseline: only the training work is counted
        from deepnet import backends, models, optimizers  # noqa: F401

        bk = backends.create("cpu", dtype=dtype)
        base = rss_bytes()
        time_deepnet(bk, model_name, batch, 3, 0, dtype)
    else:
        torch = C.try_torch()
        torch.set_num_threads(C.machine()["cpu_cores_usable"])
        torch.nn.functional.cross_entropy(torch.zeros(1, 2), torch.zeros(1, dtype=torch.long))  # load kernels
        base = rss_bytes()
        time_torch(torch, False, model_name, batch, 3, 0, dtype)
    with open("/proc/self/status") as f:
        peak = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
    print(f"PEAK {peak - base}")


def peak_memory(library, model_name, batch, dtype) -> int | None:
    """Peak memory of a training step (model, optimizer state, activations, temporaries), in its own process."""
    import subprocess

    cmd = [sys.executable, __file__, "--memory-worker", library, model_name, str(batch), dtype]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    lines = [l for l in done.stdout.splitlines() if l.startswith("PEAK ")]
    return int(lines[0].split()[1]) if lines else None


def plot(rows, path, title):
    plt = C.pyplot()

    bars = [r for r in rows if r["model"] == "deepconvnet"]
    batch = 100 if any(r["batch"] == 100 for r in bars) else bars[0]["batch"]  # the book's batch
    order = {("deepnet", "CPU"): 0, ("pytorch", "CPU"): 1, ("deepnet", "GPU"): 2, ("pytorch", "GPU"): 3}
    bars = sorted((r for r in bars if r["batch"] == batch), key=lambda r: order[(r["library"], r["label"])])
    fig, ax = plt.subplots(figsize=(8, 0.7 * len(bars) + 1.6))
    colors = ["tab:blue" if r["library"] == "deepnet" else "tab:gray" for r in bars]
    names = {"deepnet": "deepnet", "pytorch": "PyTorch"}
    labels = [f"{names[r['library']]} {r['label']}" + (" (cuDNN)" if r["library"] == "pytorch" and r["label"] == "GPU"
                                                       else "") for r in bars]
    y = list(range(len(bars)))[::-1]
    ax.barh(y, [r["epoch_s"] for r in bars], color=colors)
    ax.set_yticks(y, labels)
    for i, r in zip(y, bars):
        ax.text(r["epoch_s"], i, f"  {r['epoch_s']:.1f} s  ({r['images_per_s']:,.0f} img/s)", va="center",
                fontsize=9)
    ax.set_xlabel(f"seconds per MNIST epoch (60,000 images), DeepConvNet training, batch {batch}")
    ax.set_xlim(0, max(r["epoch_s"] for r in bars) * 1.45)
    ax.set_title(title, fontsize=10)
    C.save_png(fig, path)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", nargs="+", default=["cpu"], choices=["cpu", "gpu"])
    p.add_argument("--batch", type=int, nargs="+", default=[100], help="DeepConvNet batch sizes")
    p.add_argument("--alexnet-batch", type=int, nargs="*", default=None,
                   help="AlexNet batch sizes (default 8; the flag alone: skip AlexNet)")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64", "float16"])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3,
                   help="alternate deepnet and PyTorch this many times; report the median round")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    p.add_argument("--out", default=str(C.RESULTS))
    p.add_argument("--tag", default="")
    p.add_argument("--memory", action="store_true",
                   help="also measure each CPU configuration's peak memory in a fresh process (Linux)")
    p.add_argument("--smoke", action="store_true", help="CI mode: batch 2, AlexNet batch 1, one step")
    p.add_argument("--memory-worker", nargs=4, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.memory_worker:
        lib, model_name, batch, dtype = args.memory_worker
        return memory_worker(lib, model_name, int(batch), dtype)
    if args.smoke:
        args.batch, args.steps, args.warmup, args.rounds = [2], 1, 0, 1
    if args.alexnet_batch is None:
        args.alexnet_batch = [1] if args.smoke else [8]

    bks = C.open_backends(args.backend, args.dtype)
    torch = None if args.no_torch else C.try_torch()
    if torch is None:
        print("PyTorch comparison skipped: " + ("--no-torch" if args.no_torch else
              "PyTorch is not importable (on this machine's CPU: pip install torch==2.13.0)"))
    else:
        torch.set_num_threads(C.machine()["cpu_cores_usable"])

    work = [("deepconvnet", b) for b in args.batch] + [("alexnet", b) for b in args.alexnet_batch]
    rows = []
    for bk in bks:
        for model_name, batch in work:
            runners = [("deepnet", deepnet_runner(bk, model_name, batch, args.dtype))]
            if torch is not None and (not bk.is_gpu or torch.cuda.is_available()):
                runners.append(("pytorch", torch_runner(torch, bk.is_gpu, model_name, batch, args.dtype)))
            # Rounds alternate the libraries, and each figure is the median over rounds: a slow spell of
            # this shared machine then hits both sides instead of one.
            per_round = {lib: [] for lib, _ in runners}
            for _ in range(args.rounds):
                for library, runner in runners:
                    per_round[library].append(time_runner(runner, args.steps, args.warmup))
            for library, _ in runners:
                r = {key: C.median([q[key] for q in per_round[library]]) for key in ("train_s", "infer_s")}
                if args.memory and not bk.is_gpu:
                    r["peak_bytes"] = peak_memory(library, model_name, batch, args.dtype)
                steps_per_epoch = math.ceil(MNIST_TRAIN / batch)
                rows.append({"library": library, "backend": bk.name, "label": C.label(bk), "device": bk.device_name,
                             "model": model_name, "batch": batch, "train_step_s": r["train_s"],
                             "infer_s": r["infer_s"], "images_per_s": batch / r["train_s"],
                             "infer_images_per_s": batch / r["infer_s"],
                             "epoch_s": r["train_s"] * steps_per_epoch if model_name == "deepconvnet" else None,
                             "peak_bytes": r.get("peak_bytes")})
                print(f"{library:<8} {C.label(bk)} {model_name:<12} batch {batch:>5}: train step "
                      f"{1000 * r['train_s']:9.1f} ms ({batch / r['train_s']:8.0f} img/s), forward "
                      f"{1000 * r['infer_s']:8.1f} ms ({batch / r['infer_s']:8.0f} img/s)"
                      + (f", peak memory {r['peak_bytes'] / 2**20:.0f} MiB" if r.get("peak_bytes") else ""), flush=True)

    ratios = []
    for r in rows:
        if r["library"] != "deepnet":
            continue
        twin = [q for q in rows if q["library"] == "pytorch" and q["backend"] == r["backend"]
                and q["model"] == r["model"] and q["batch"] == r["batch"]]
        if twin:
            ratios.append({"backend": r["backend"], "model": r["model"], "batch": r["batch"],
                           "train_throughput_ratio": r["images_per_s"] / twin[0]["images_per_s"],
                           "infer_throughput_ratio": r["infer_images_per_s"] / twin[0]["infer_images_per_s"],
                           "peak_memory_ratio": (r["peak_bytes"] / twin[0]["peak_bytes"]
                                                 if r.get("peak_bytes") and twin[0].get("peak_bytes") else None)})
    speedups = []
    for r in rows:
        if r["label"] == "GPU":
            cpu = [q for q in rows if q["label"] == "CPU" and q["library"] == r["library"]
                   and q["model"] == r["model"] and q["batch"] == r["batch"]]
            if cpu:
                speedups.append({"library": r["library"], "model": r["model"], "batch": r["batch"],
                                 "gpu_over_cpu": cpu[0]["train_step_s"] / r["train_step_s"]})
    print()
    for q in ratios:
        print(f"deepnet / PyTorch on {q['backend']}, {q['model']} batch {q['batch']}: training throughput "
              f"{q['train_throughput_ratio']:.2f}x, inference {q['infer_throughput_ratio']:.2f}x"
              + (f", peak memory {q['peak_memory_ratio']:.2f}x" if q["peak_memory_ratio"] else ""))
    for s in speedups:
        print(f"GPU over CPU, {s['library']} {s['model']} batch {s['batch']}: {s['gpu_over_cpu']:.1f}x (book: ~7x)")

    out = Path(args.out)
    name = "train_time" + (f"_{args.tag}" if args.tag else "")
    payload = {"benchmark": "train_time", "figure": "8.15", "dtype": args.dtype, "steps": args.steps,
               "warmup": args.warmup, "rounds": args.rounds, "timestamp": C.stamp(), "machine": C.machine(bks), "rows": rows,
               "deepnet_over_pytorch": ratios, "gpu_over_cpu": speedups,
               "torch": None if torch is None else torch.__version__}
    draw = (lambda png: plot(rows, png, f"DeepConvNet training time per MNIST epoch ({args.dtype}) - "
                                        f"cf. the book's Figure 8.15")) \
        if any(r["model"] == "deepconvnet" for r in rows) else None
    C.write_results(out, name, payload, draw)
    return payload


if __name__ == "__main__":
    main()
