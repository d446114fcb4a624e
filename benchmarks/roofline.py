#!/usr/bin/env python
"""Where the time goes, against what this machine can do: each layer's forward and backward time, FLOPs,
achieved GFLOP/s and the fraction of the machine's measured matrix-product peak, and the bytes it moves.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/roofline.py       # DeepConvNet, batch 100
    python benchmarks/roofline.py --batch 10 --backend cpu

The peak is measured here, in this process, as the median time of a 2048x2048 float32 product by NumPy's
BLAS on every core (a machine's practical ceiling for dense arithmetic; the BLAS kernel is recorded).
FLOPs count multiply-adds as two: a convolution's forward is 2*N*O*OH*OW*C*KH*KW, its backward twice that
(the weight gradient and the input gradient, which deepnet computes for every layer, the first included);
a fully connected layer's forward is 2*N*in*out. Layers without products (ReLU, pooling, dropout) are
bound by memory: for them the bytes read and written say more. Input: a real MNIST batch of the training
set for DeepConvNet (random images for AlexNet); each layer is timed alone, median of --repeats.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402


def gemm_peak_gflops(xp, sync, n=2048, repeats=7) -> float:
    a = xp.ones((n, n), dtype=xp.float32)
    b = xp.ones((n, n), dtype=xp.float32)
    times = []
    for i in range(repeats + 1):
        sync()
        t0 = time.perf_counter()
        xp.matmul(a, b)
        sync()
        if i:
            times.append(time.perf_counter() - t0)
    return 2 * n ** 3 / C.median(times) / 1e9


def layer_flops(layer, x_shape, y_shape) -> tuple[float, float]:
    """(forward, backward) FLOPs of one layer for an input of x_shape giving y_shape."""
    name = type(layer).__name__
    if name == "Convolution":
        n, o, oh, ow = y_shape
        c, kh, kw = layer.W.shape[1:]
        f = 2.0 * n * o * oh * ow * c * kh * kw
        return f, 2 * f
    if name == "Affine":
        n = x_shape[0]
        fin, fout = layer.W.shape
        f = 2.0 * n * fin * fout
        return f, 2 * f
    return 0.0, 0.0


def measure(bk, model_name, batch, repeats, dtype):
    import numpy as np

    from deepnet import backends, datasets, models
    from deepnet.layers import runner

    with backends.use(bk):
        bk.rng.seed(0)
        model = models.create(model_name, dtype=dtype)
        if model_name == "deepconvnet":
            data = datasets.load("mnist")
            idx = np.random.default_rng(0).permutation(len(data.train.x))[:batch]
            xs = data.train.x[idx]
            x = datasets.to_model_input(xs[:, None] if xs.ndim == 3 else xs)
            t = bk.to_device(data.train.y[idx])
        else:
            x = bk.rng.uniform((batch,) + model.input_shape).astype(dtype)
            t = bk.rng.integers(0, model.num_classes, (batch,))
        rows = []
        # each step as training runs it (deepnet/layers/runner.py): a convolution and its ReLU fused are one
        # step, one row under the convolution's name, its work the two layers' together
        names = {id(layer): lname for lname, layer in model.layers.items()}
        layers, shapes = list(model.layers.values()), []

        def record(group, run, h):
            y = run(h)
            shapes.append((names[id(group[0])], group, tuple(h.shape), tuple(y.shape), h.dtype.itemsize))
            return y

        runner.forward(layers, x, train=True, fuse=model.fuse, step=record)
        step_of = {id(layer): lname for lname, group, *_ in shapes for layer in group}
        times = {lname: {"forward": [], "backward": []} for lname, *_ in shapes}
        for _ in range(repeats + 1):
            back = dict.fromkeys(times, 0.0)

            def timed_forward(group, run, h):
                bk.synchronize()
                with bk.timer() as tm:
                    y = run(h)
                times[names[id(group[0])]]["forward"].append(tm.seconds)
                return y

            def timed_backward(layer, run, d, back=back):
                bk.synchronize()
                with bk.timer() as tm:
                    d = run(d)
                back[step_of[id(layer)]] += tm.seconds
                return d

            h = runner.forward(layers, x, train=True, fuse=model.fuse, step=timed_forward)
            model.loss_layer.forward(h, t)
            runner.backward(layers, model.loss_layer.backward(), step=timed_backward)
            for lname, seconds in back.items():
                times[lname]["backward"].append(seconds)
        for lname, group, xs_, ys_, item in shapes:
            fwd, bwd = (C.median(times[lname][p][1:]) for p in ("forward", "backward"))
            ff = fb = 0
            shape = xs_
            for layer in group:  # each layer's own work, on its own input and output shapes
                out = (shape[0],) + tuple(layer.output_shape(shape[1:]))
                f, b = layer_flops(layer, shape, out)
                ff, fb, shape = ff + f, fb + b, out
            layer = group[0]
            params = sum(int(a.size) for a in layer.params().values()) * item
            nx, ny = int(np.prod(xs_)) * item, int(np.prod(ys_)) * item
            rows.append({"layer": lname, "type": "+".join(type(g).__name__ for g in group), "input": list(xs_),
                         "output": list(ys_),
                         "forward_ms": 1000 * fwd, "backward_ms": 1000 * bwd, "forward_flops": ff,
                         "backward_flops": fb, "forward_gflops_s": ff / fwd / 1e9 if ff else None,
                         "backward_gflops_s": fb / bwd / 1e9 if fb else None,
                         # bytes at the least: read input and weights, write output (backward: read dy, x
                         # and weights, write dx and the weight gradients)
                         "forward_bytes": nx + ny + params, "backward_bytes": 2 * nx + ny + 2 * params})
        return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="deepconvnet", choices=["deepconvnet", "alexnet"])
    p.add_argument("--backend", default="cpu", choices=["cpu", "gpu", "cpu-reference"])
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--out", default=str(C.RESULTS))
    p.add_argument("--smoke", action="store_true")
    args = p.parse_args(argv)
    if args.smoke:
        args.batch, args.repeats = 4, 1
    bk = C.open_backends([args.backend], args.dtype)[0]
    peak = gemm_peak_gflops(bk.xp, bk.synchronize, n=512 if args.smoke else 2048)
    rows = measure(bk, args.model, args.batch, args.repeats, args.dtype)
    total_ms = sum(r["forward_ms"] + r["backward_ms"] for r in rows)
    total_flops = sum(r["forward_flops"] + r["backward_flops"] for r in rows)
    lines = [f"{args.model}, batch {args.batch}, {args.dtype}, backend {bk.name}; matrix-product peak "
             f"{peak:.0f} GFLOP/s (2048^2 float32, every core)", "",
             "| layer | type | fwd ms | bwd ms | fwd GFLOP/s | bwd GFLOP/s | fwd % peak | bwd % peak | share of time |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        g = lambda v: f"{v:.0f}" if v else "-"  # noqa: E731
        pct = lambda v: f"{100 * v / peak:.0f}%" if v else "-"  # noqa: E731
        lines.append(f"| {r['layer']} | {r['type']} | {r['forward_ms']:.2f} | {r['backward_ms']:.2f} | "
                     f"{g(r['forward_gflops_s'])} | {g(r['backward_gflops_s'])} | {pct(r['forward_gflops_s'])} | "
                     f"{pct(r['backward_gflops_s'])} | {100 * (r['forward_ms'] + r['backward_ms']) / total_ms:.0f}% |")
    whole = total_flops / (total_ms / 1000) / 1e9
    lines += ["", f"All layers: {total_ms:.1f} ms for {total_flops / 1e9:.2f} GFLOP = {whole:.0f} GFLOP/s, "
                  f"{100 * whole / peak:.0f}% of the peak (the loss layer and the optimizer are not included)."]
    print("\n".join(lines))
    name = f"roofline_{args.model}_b{args.batch}" + ("_smoke" if args.smoke else "")
    out = Path(args.out)
    payload = {"benchmark": "roofline", "model": args.model, "batch": args.batch, "dtype": args.dtype,
               "backend": bk.name, "gemm_peak_gflops_s": peak, "rows": rows, "total_ms": total_ms,
               "total_gflops": total_flops / 1e9, "achieved_gflops_s": whole, "timestamp": C.stamp(),
               "machine": C.machine([bk])}
    C.write_results(out, name, payload)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.md").write_text("\n".join(lines) + "\n")
    return payload


if __name__ == "__main__":
    main()
