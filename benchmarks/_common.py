"""Shared by the benchmark scripts: the machine stamp, honest timing, and result files."""
from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path


HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

# Figure 8.14's layer types, and the order they are drawn in.
GROUPS = ("conv", "pool", "fc", "norm", "relu", "dropout", "softmax/loss", "other", "update")
_GROUP_OF = {"Convolution": "conv", "Pooling": "pool", "Affine": "fc", "LRN": "norm", "BatchNormalization": "norm",
             "Relu": "relu", "Dropout": "dropout", "SoftmaxWithLoss": "softmax/loss"}


def group_of(layer) -> str:
    """The book's layer type for a layer object or class name."""
    name = layer if isinstance(layer, str) else type(layer).__name__
    return _GROUP_OF.get(name, "other")


def cpu_model() -> str:
    from deepnet import backends

    return backends.create("cpu").device_name


def machine(backends_used=()) -> dict:
    """The machine stamp (deepnet.machine.machine: each backend's describe(), versions, BLAS kernel, cores),
    with the CPU model, the OpenBLAS pinning variables this run saw, and PyTorch's version where importable."""
    from deepnet import backends
    from deepnet.machine import machine as deepnet_machine

    info = deepnet_machine(list(backends_used) or [backends.create("cpu")])
    info["cpu"] = cpu_model()
    info["cpu_cores"], info["cpu_cores_usable"] = info["cpu_count"], info["affinity"]
    info["openblas_env"] = kernels()["openblas_env"]
    torch = try_torch()
    if torch is not None:
        info["torch"] = torch.__version__
    return info


def usable_cores() -> int:
    from deepnet.machine import usable_cores as cores

    return cores()


def output_options(parser, smoke: str | None = None, worker: int = 0) -> None:
    """The options every benchmark script shares: --out (the results' directory), --tag (appended to the
    file names); with `smoke` (its help) --smoke, CI's tiny run; with `worker` (its argument count) the
    hidden --worker that run_fresh's fresh processes are started with."""
    import argparse

    parser.add_argument("--out", default=str(RESULTS), help="directory for the results")
    parser.add_argument("--tag", default="", help="appended to the results' file names")
    if smoke is not None:
        parser.add_argument("--smoke", action="store_true", help=smoke)
    if worker:
        parser.add_argument("--worker", nargs=worker, help=argparse.SUPPRESS)


def network_options(parser, model: str, input_shape: str, batch: int) -> None:
    """--model, --input (CxHxW, read by input_shape) and --batch, for the scripts that take one network's layers."""
    parser.add_argument("--model", default=model)
    parser.add_argument("--input", default=input_shape, help=f"CxHxW (default {input_shape})")
    parser.add_argument("--batch", type=int, default=batch)


def input_shape(text: str) -> tuple:
    """(C, H, W) from 'CxHxW'."""
    return tuple(int(v) for v in text.lower().split("x"))


def torch_importable(cuda: bool = False) -> str | None:
    """None if PyTorch imports (checked in a child process: the caller never imports it) and, with cuda=True,
    sees a CUDA device; else why not."""
    import subprocess

    code = "import torch" + ("; assert torch.cuda.is_available(), 'PyTorch sees no CUDA device'" if cuda else "")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return None if r.returncode == 0 else (r.stderr.strip().splitlines() or ["import failed"])[-1]


def deepnet_train(options, out, log=None, timeout=None) -> list[dict]:
    """Run `deepnet train OPTIONS --out OUT` in a fresh process (or `--resume OUT` where OUT already holds a
    run, so a killed benchmark continues) and return OUT's history.json records. The output goes to `log`
    (an open file) when given; a failure raises with the end of its error output."""
    import json
    import subprocess

    out = Path(out)
    cmd = [sys.executable, "-m", "deepnet", "train", "--no-progress"]
    cmd += ["--resume", str(out)] if (out / "config.json").is_file() else [*map(str, options), "--out", str(out)]
    done = subprocess.run(cmd, stdout=log if log is not None else subprocess.PIPE,
                          stderr=subprocess.STDOUT if log is not None else subprocess.PIPE, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {done.returncode})"
                           + (f":\n{done.stderr[-3000:]}" if done.stderr else ""))
    return json.loads((out / "history.json").read_text())["history"]


def run_fresh(args, env=None, timeout=3600, launcher=()) -> dict:
    """Run `[LAUNCHER...] python ARGS...` in a fresh process; the dict its last `RESULT {json}` line gives.

    Every benchmark measures in a fresh process per library and configuration: thread pools, BLAS settings,
    allocator state and imported libraries do not carry over from one measurement to the next."""
    import json
    import subprocess

    cmd = [*map(str, launcher), sys.executable, *map(str, args)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env=None if env is None else {**os.environ, **env})
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def emit(result: dict) -> None:
    """The worker's side of run_fresh: print the result as the last RESULT line."""
    import json

    print("RESULT " + json.dumps(result), flush=True)


def pyplot():
    """matplotlib.pyplot, set up once for deepnet and the benchmarks (deepnet.plots)."""
    from deepnet.plots import pyplot

    return pyplot()


def try_torch():
    """PyTorch if importable (a benchmark-only comparison, never a deepnet dependency), else None."""
    try:
        import torch
    except Exception:
        return None
    return torch


def open_backends(names, dtype):
    """Backends for the requested names; a GPU that cannot open is reported and skipped, not faked."""
    from deepnet import backends

    out = []
    for name in names:
        try:
            out.append(backends.create(name, dtype=dtype))
        except backends.BackendUnavailable as exc:
            print(f"skipping backend {name}: {exc}", file=sys.stderr)
    if not out:
        raise SystemExit("no backend could be opened")
    return out


def median(xs) -> float:
    return float(statistics.median(xs))


def quartiles(xs) -> list:
    """[first quartile, median, third quartile]: the spread a median is quoted with."""
    q = statistics.quantiles(xs, n=4, method="inclusive") if len(xs) > 1 else [xs[0]] * 3
    return [float(v) for v in q]


def kernels() -> dict:
    """What a measuring process records of its BLAS: each library with the kernel it runs (deepnet.machine.blas)
    and the OpenBLAS pinning variables it saw (set on some machines to pin old builds to safe kernels;
    benchmarks run with both unset)."""
    from deepnet.machine import blas

    return {"blas": blas(), "openblas_env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}}


def write_json(path, payload) -> Path:
    from deepnet import io

    path = Path(path)
    io.write_json(path, payload)
    return path


def write_results(out, name, payload, draw=None) -> Path:
    """`name`.json under `out`, and `name`.png drawn by draw(path) when matplotlib is installed."""
    json_path = write_json(Path(out) / f"{name}.json", payload)
    print(f"wrote {json_path}")
    if draw is not None:
        png = Path(out) / f"{name}.png"
        try:
            draw(png)
            print(f"wrote {png}")
        except ImportError:
            print("(no PNG: matplotlib is not installed; pip install 'deepnet[plot]')")
    return json_path


def stamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def save_png(fig, path) -> None:
    """Write a matplotlib figure atomically and close it."""
    from deepnet.plots import save

    fig.tight_layout()
    save(fig, path, dpi=110)


def label(bk) -> str:
    return "GPU" if bk.is_gpu else "CPU"
