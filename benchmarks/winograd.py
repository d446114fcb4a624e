#!/usr/bin/env python
"""Winograd's F(2x2, 3x3), or the direct convolution, against im2col, layer shape by layer shape: each 3x3
stride-1 convolution of a network, forward (with its fused ReLU) and backward (weight gradient, then the
input gradient by each method), on the CPU backend's threads as training runs them.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/winograd.py                       # AlexNet, b8
    ... benchmarks/winograd.py --model deepconvnet --input 1x28x28 --batch 100
    ... benchmarks/winograd.py --model resnet20 --input 3x32x32 --batch 64 --path direct

The convolutions are read from one `predict` of the model (benchmarks/conv_split.py). Each is run with the
path (--path: winograd, F(2x2, 3x3) in backends/cpu/winograd.py; winograd4, F(4x4, 3x3) in
winograd4.py; winograd4dw, the same and the weight gradient by its F(3x3, 4x4); or direct,
backends/cpu/direct.py) forced on, whatever its
channels, width and batch (the backend's own choice is in tuning.py), and off, the other fast path off
throughout, the two alternating in one process for --rounds rounds after two warm-up rounds, on the same
data: the median milliseconds and their quartiles, and the ratio of the medians (im2col's time over the
path's: above 1, the path is faster). Results: results/PATH_MODEL.json.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402
from conv_split import conv_shapes  # noqa: E402


#: each path's gates in tuning.py, and the values that force it on every 3x3 stride-1 layer
GATES = {"winograd": {"WINOGRAD_MIN_CHANNELS": 1, "WINOGRAD_DX_MIN_CHANNELS": 1, "WINOGRAD_THREAD_TILES": 1,
                      "WINOGRAD4_MIN_CHANNELS": 1 << 62, "WINOGRAD4_DX_MIN_CHANNELS": 1 << 62,
                      "WINOGRAD4_DW_MIN_CHANNELS": 1 << 62},
         "winograd4": {"WINOGRAD4_MIN_CHANNELS": 1, "WINOGRAD4_MAX_CHANNELS": 1 << 62, "WINOGRAD4_DX_MIN_CHANNELS": 1,
                       "WINOGRAD4_THREAD_TILES": 1, "WINOGRAD4_DW_MIN_CHANNELS": 1 << 62},
         "winograd4dw": {"WINOGRAD4_MIN_CHANNELS": 1, "WINOGRAD4_MAX_CHANNELS": 1 << 62, "WINOGRAD4_DX_MIN_CHANNELS": 1,
                         "WINOGRAD4_THREAD_TILES": 1, "WINOGRAD4_DW_MIN_CHANNELS": 1,
                         "WINOGRAD4_DW_MIN_FILL": 0},
         "direct": {"DIRECT_MAX_CHANNELS": 1 << 62, "DIRECT_DX_MAX_CHANNELS": 1 << 62, "DIRECT_MIN_WIDTH": 1,
                    "DIRECT_DW_MAX_CHANNELS": 1 << 62, "DIRECT_DW_MIN_WIDTH": 1}}
#: the ChunkedConv switch each path turns on and off
SWITCH = {"winograd": "winograd", "winograd4": "winograd", "winograd4dw": "winograd", "direct": "direct"}


def compare(shapes, rounds: int, path: str = "winograd") -> list:
    """A row for each 3x3 stride-1 shape: the path forced on and off, alternating (see the module's text)."""
    from deepnet import backends
    from deepnet.backends.cpu import tuning

    bk = backends.current()
    conv = getattr(bk, "chunked_conv", None)
    if conv is None or conv.blas is None:
        raise SystemExit("winograd.py needs the CPU backend with Numba and NumPy's OpenBLAS (the one-call chunks)")
    saved = {name: getattr(tuning, name) for name in GATES[path]}, conv.winograd, conv.direct
    for name, value in GATES[path].items():
        setattr(tuning, name, value)
    conv.winograd = conv.direct = False
    try:
        return [one(bk, x, w, pad, count, rounds, path) for x, w, stride, pad, count in shapes
                if w[2:] == (3, 3) and stride == 1]
    finally:
        for name, value in saved[0].items():
            setattr(tuning, name, value)
        conv.winograd, conv.direct = saved[1:]


def one(bk, x_shape, w_shape, pad: int, count: int, rounds: int, path: str = "winograd") -> dict:
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = (rng.standard_normal(w_shape) / np.sqrt(9 * w_shape[1])).astype(np.float32)
    b = np.zeros(w_shape[0], np.float32)
    times = {on: ([], []) for on in (False, True)}
    for r in range(2 * (rounds + 2)):
        on = bool(r % 2) != bool((r // 2) % 2)  # off, on, then on, off: neither always goes first
        setattr(bk.chunked_conv, SWITCH[path], on)
        t0 = time.perf_counter()
        y, context = bk.conv2d_relu(x, w, b, 1, pad)
        t1 = time.perf_counter()
        bk.conv2d_relu_backward(np.ones_like(y), w, context, 1, pad)
        t2 = time.perf_counter()
        if r >= 4:  # two warm-up rounds
            times[on][0].append(1000 * (t1 - t0))
            times[on][1].append(1000 * (t2 - t1))
    row = {"x": list(x_shape), "w": list(w_shape), "pad": pad, "count": count}
    for on, name in ((False, "im2col"), (True, path)):
        for i, part in enumerate(("forward", "backward")):
            row[f"{name}_{part}_ms"] = C.median(times[on][i])
            row[f"{name}_{part}_quartiles_ms"] = C.quartiles(times[on][i])
    for part in ("forward", "backward"):
        row[f"{part}_speedup"] = row[f"im2col_{part}_ms"] / row[f"{path}_{part}_ms"]
    print(f"x {'x'.join(map(str, x_shape))}, W {'x'.join(map(str, w_shape))} pad {pad} (x{count}): forward "
          f"{row['im2col_forward_ms']:6.2f} -> {row[f'{path}_forward_ms']:6.2f} ms ({row['forward_speedup']:.2f}x), "
          f"backward {row['im2col_backward_ms']:6.2f} -> {row[f'{path}_backward_ms']:6.2f} ms "
          f"({row['backward_speedup']:.2f}x)", flush=True)
    return row


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    C.network_options(p, "alexnet", "3x224x224", 8)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--path", choices=tuple(GATES), default="winograd", help="the path against im2col")
    C.output_options(p, smoke="CI: DeepConvNet at batch 2, two rounds")
    args = p.parse_args(argv)
    if args.smoke:
        args.model, args.input, args.batch, args.rounds = "deepconvnet", "1x28x28", 2, 2
    input_shape = C.input_shape(args.input)
    rows = compare(conv_shapes(args.model, input_shape, args.batch), args.rounds, args.path)
    payload = {"benchmark": args.path, "model": args.model, "input": list(input_shape), "batch": args.batch,
               "rounds": args.rounds, "command": " ".join(sys.argv), "timestamp": C.stamp(), "machine": C.machine(),
               "openblas": C.kernels(), "rows": rows, "method": __doc__.split("\n\n", 2)[2].strip()}
    C.write_results(Path(args.out), f"{args.path}_{args.model}" + (f"_{args.tag}" if args.tag else ""), payload)
    return payload


if __name__ == "__main__":
    main()
