#!/usr/bin/env python
"""Adam's update on one parameter array, by size: the CPU backend's compiled pass (on every thread, and on one)
against the NumPy reference.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/adam_step.py [--sizes 51200 200000 ...]

Per size and path: the median of --repeats timed steps on float32 arrays after two untimed ones (the compiled
path runs at every size). Writes results/adam_step[_TAG].json.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402


def time_step(bk, n: int, repeats: int) -> float:
    import numpy as np

    rng = np.random.default_rng(0)
    p, g, m = (rng.standard_normal(n).astype(np.float32) for _ in range(3))
    v = rng.uniform(0, 0.01, n).astype(np.float32)
    times = []
    for i in range(repeats + 2):
        t0 = time.perf_counter()
        bk.adam_step(p, g, m, v, 1e-3, 0.9, 0.999, 1e-8)
        if i >= 2:
            times.append(time.perf_counter() - t0)
    return C.median(times)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[51_200, 200_000, 1 << 20, 1 << 22, 1 << 24])
    p.add_argument("--repeats", type=int, default=20)
    C.output_options(p)
    args = p.parse_args(argv)
    from deepnet import backends
    two, one = backends.create("cpu", dtype="float32"), backends.create("cpu", dtype="float32")
    one.set_threads(1)
    ref = backends.create("cpu-reference", dtype="float32")
    rows = []
    for n in args.sizes:
        row = {"elements": n, **{name: 1000 * time_step(bk, n, args.repeats)
                                 for name, bk in (("compiled_ms", two), ("compiled_one_thread_ms", one),
                                                  ("numpy_ms", ref))}}
        rows.append(row)
        print(f"{n:>11,} elements: compiled {row['compiled_ms']:.3f} ms ({row['compiled_one_thread_ms']:.3f} on one "
              f"thread), NumPy {row['numpy_ms']:.3f} ms", flush=True)
    name = "adam_step" + (f"_{args.tag}" if args.tag else "")
    payload = {"benchmark": "adam_step", "command": " ".join(["python", "benchmarks/adam_step.py",
                                                              *(argv if argv is not None else sys.argv[1:])]),
               "repeats": args.repeats, "timestamp": C.stamp(), "machine": C.machine([two]), "rows": rows}
    C.write_results(Path(args.out), name, payload)
    return payload


if __name__ == "__main__":
    main()
