#!/usr/bin/env python
"""Where a network's inference convolutions spend their time on the CPU: building the patches (im2col) or
multiplying them (sgemm), layer shape by layer shape.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/conv_split.py               # ResNet-20, b64
    ... benchmarks/conv_split.py --model deepconvnet --input 1x28x28 --batch 100 --backward

The convolutions are read from one `predict` of the model (each distinct shape once, with how often it
occurs). Each is then run as the CPU backend's one-call chunks run it, on one thread (OpenBLAS on one thread,
as each of the backend's threads calls it), over the whole batch cut into the chunks the backend cuts: the
patch kernel alone (`im2col_rows`), then the product alone (`blas.gemm`, the same call the chunk makes), the
median of --repeats each. The product's rate (GFLOP/s) says how near the BLAS runs to the core's peak on
that shape; the totals weigh each shape by how often the network runs it. With --backward, backward's other
steps too (the weight gradient's product col dy^T, the input gradient's W^T dy, col2im; backward also rebuilds
the patches, im2col's time again). Results:
results/conv_split_MODEL.json.
"""
from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402


def conv_shapes(model_name: str, input_shape, batch: int) -> list:
    """[(x shape, W shape, stride, pad, count)] of the model's convolutions in one predict, in order of first use."""
    import numpy as np

    from deepnet import backends, models
    from deepnet.layers import Convolution

    seen = {}
    real = Convolution.forward_folded, Convolution.forward, Convolution.forward_relu_pool

    def record(self, x, *a, **k):
        key = (tuple(x.shape), tuple(self.W.shape), self.stride, self.pad)
        seen[key] = seen.get(key, 0) + 1

    def spy(fn):
        return lambda self, x, *a, **k: record(self, x) or fn(self, x, *a, **k)

    Convolution.forward_folded, Convolution.forward, Convolution.forward_relu_pool = map(spy, real)
    try:
        bk = backends.current()
        model = models.create(model_name, input_shape=input_shape, num_classes=10)
        model.predict(bk.to_device(np.zeros((batch, *input_shape), np.float32)), batch)
    finally:
        Convolution.forward_folded, Convolution.forward, Convolution.forward_relu_pool = real
    return [(*key, count) for key, count in seen.items()]


def patches(x, m, starts, kh, kw, stride, pad, col, xpad) -> None:
    """Each chunk's patches, as the one-call chunk builds them."""
    from deepnet.backends.cpu.patches import im2col_rows

    for s in starts:
        im2col_rows(x[s : s + m], kh, kw, stride, pad, x.dtype.type(0), col, xpad)


def products(address, w, col, prod, chunks: int) -> None:
    """Each chunk's product, the same BLAS call the one-call chunk makes."""
    from deepnet.backends.cpu import blas

    for _ in range(chunks):
        blas.gemm(address, w, col, prod)


def timed(repeats: int, fn) -> float:
    """The median seconds of fn() over `repeats` calls, after one (compiled and warm)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return C.median(times)


def backward_parts(address, x, m, starts, kh, kw, stride, pad, o, col, xpad, repeats: int) -> dict:
    """Seconds of backward's three other steps over the batch, chunk by chunk as conv_backward_chunk runs them:
    the weight gradient's product (col dy^T), the input gradient's (W^T dy) and col2im."""
    import numpy as np

    from deepnet.backends.cpu import blas
    from deepnet.backends.cpu.patches import col2im_rows

    k = col.size // col.shape[3] // col.shape[4] // col.shape[5]
    cols = col.reshape(k, -1)
    rng = np.random.default_rng(1)
    dy = rng.standard_normal((o, cols.shape[1])).astype(np.float32)
    w_t = rng.standard_normal((k, o)).astype(np.float32)
    dw_t, dcol = np.zeros((k, o), np.float32), np.empty_like(col)
    dx = np.empty((m, *x.shape[1:]), np.float32)

    def each(fn):
        return lambda: [fn() for _ in starts]

    return {"dw_gemm": timed(repeats, each(lambda: blas.gemm(address, cols, dy, dw_t, 1.0, True))),
            "dx_gemm": timed(repeats, each(lambda: blas.gemm(address, w_t, dy, dcol.reshape(k, -1)))),
            "col2im": timed(repeats, each(lambda: col2im_rows(dcol, stride, pad, dx, xpad)))}


def split(shapes, repeats: int, chunk_bytes: int | None = None, backward: bool = False) -> list:
    import numpy as np

    from deepnet import backends
    from deepnet.backends.cpu import blas

    address = blas.addresses()[0]
    if not chunk_bytes:
        chunk_bytes = backends.current().describe()["conv_chunk_bytes"]  # the chunks of a run on every core
    rng = np.random.default_rng(0)
    rows = []
    for x_shape, w_shape, stride, pad, count in shapes:
        n, c, h, wd = x_shape
        o, _, kh, kw = w_shape
        oh, ow = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
        p = oh * ow
        m = max(1, min(n, chunk_bytes // (c * kh * kw * p * 4)))  # images a chunk, as ChunkedConv cuts them
        x = rng.standard_normal(x_shape).astype(np.float32)
        w = rng.standard_normal((o, c * kh * kw)).astype(np.float32)
        col = np.empty((c, kh, kw, m, oh, ow), np.float32)
        xpad = np.empty((m, c, h + 2 * pad, wd + 2 * pad), np.float32)
        prod = np.empty((o, m * p), np.float32)
        starts = range(0, n - m + 1, m)
        whole = n / (len(starts) * m)  # the whole batch, a last partial chunk counted in
        im2col_s = whole * timed(repeats, functools.partial(patches, x, m, starts, kh, kw, stride, pad, col, xpad))
        gemm_s = whole * timed(repeats, functools.partial(products, address, w, col.reshape(c * kh * kw, -1), prod,
                                                          len(starts)))
        flops = 2.0 * o * c * kh * kw * p * n
        rows.append({"x": list(x_shape), "w": list(w_shape), "stride": stride, "pad": pad, "count": count,
                     "chunk_images": m, "gemm_m_n_k": [o, m * p, c * kh * kw], "im2col_ms": 1000 * im2col_s,
                     "gemm_ms": 1000 * gemm_s, "gemm_gflops": flops / gemm_s / 1e9})
        print(f"x {'x'.join(map(str, x_shape))}, W {'x'.join(map(str, w_shape))}/{stride} (x{count}): chunks of {m}, "
              f"im2col {1000 * im2col_s:7.2f} ms, sgemm {1000 * gemm_s:7.2f} ms ({flops / gemm_s / 1e9:5.1f} GFLOP/s; "
              f"M={o} N={m * p} K={c * kh * kw})", flush=True)
        if backward:
            parts = backward_parts(address, x, m, starts, kh, kw, stride, pad, o, col, xpad, repeats)
            rows[-1].update({f"{name}_ms": 1000 * whole * secs for name, secs in parts.items()})
            print("    backward: " + ", ".join(f"{name} {1000 * whole * secs:7.2f} ms" for name, secs in parts.items())
                  + f" (products at {flops / whole / parts['dw_gemm'] / 1e9:5.1f} and "
                    f"{flops / whole / parts['dx_gemm'] / 1e9:5.1f} GFLOP/s)", flush=True)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    C.network_options(p, "resnet20", "3x32x32", 64)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--chunk-bytes", type=int, default=0, help="patch bytes a chunk (default: the backend's)")
    p.add_argument("--backward", action="store_true",
                   help="time backward's steps too: the weight and input gradients' products and col2im")
    C.output_options(p, smoke="CI: batch 2, two repeats")
    args = p.parse_args(argv)
    if args.smoke:
        args.batch, args.repeats = 2, 2
    from threadpoolctl import threadpool_limits

    input_shape = C.input_shape(args.input)
    with threadpool_limits(1, user_api="blas"):
        rows = split(conv_shapes(args.model, input_shape, args.batch), args.repeats, args.chunk_bytes, args.backward)
    im2col = sum(r["im2col_ms"] * r["count"] for r in rows)
    gemm = sum(r["gemm_ms"] * r["count"] for r in rows)
    print(f"\n{args.model} batch {args.batch}, one thread: im2col {im2col:.1f} ms, sgemm {gemm:.1f} ms "
          f"({100 * im2col / (im2col + gemm):.0f}% im2col)")
    totals = {}
    if args.backward:
        totals = {f"total_{name}_ms": sum(r[f"{name}_ms"] * r["count"] for r in rows)
                  for name in ("dw_gemm", "dx_gemm", "col2im")}
        print("backward, one thread, besides the patches rebuilt: " + ", ".join(
            f"{key[6:-3]} {value:.1f} ms" for key, value in totals.items()))
    payload = {"benchmark": "conv_split", "chunk_bytes": args.chunk_bytes or None,
               "model": args.model, "input": list(input_shape), "batch": args.batch,
               "repeats": args.repeats, "command": " ".join(sys.argv), "timestamp": C.stamp(), "machine": C.machine(),
               "rows": rows, "total_im2col_ms": im2col, "total_gemm_ms": gemm, **totals,
               "method": __doc__.split("\n\n", 2)[2].strip()}
    C.write_results(Path(args.out), f"conv_split_{args.model}" + (f"_{args.tag}" if args.tag else ""), payload)
    return payload


if __name__ == "__main__":
    main()
