#!/usr/bin/env python
"""Per training step on the GPU backend, counted on the strict CuPy stand-in (tests/strict_cupy.py): array calls
(a proxy for kernel launches: views such as reshapes and basic slices are counted apart), device-to-host reads and
host-to-device copies, with their call sites, for DeepConvNet, AlexNet and ResNet-20.

    python benchmarks/standin_counts.py [--batch 2] [--tag TAG]

No GPU is used and nothing is timed: the stand-in runs NumPy. The step is the trainer's (forward, backward, Adam)
with its labels checked once up front, as the trainer checks them, after one step that allocates Adam's state.
The counts do not depend on the batch size. Writes results/gpu_standin_counts[_TAG].json.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
import _common as C  # noqa: E402

SHAPES = {"deepconvnet": (1, 28, 28), "alexnet": (3, 227, 227), "resnet20": (3, 32, 32)}


def count_step(name: str, batch: int) -> dict:
    import contextlib

    import numpy as np

    from deepnet import backends, models, optimizers
    from tests import strict_cupy

    try:
        from deepnet.layers.loss import labels_checked
    except ImportError:  # a deepnet from before the trainer checked labels once: the loss checks every batch
        labels_checked = contextlib.nullcontext
    with strict_cupy.installed(), backends.use("gpu", dtype="float32") as bk:
        rng = np.random.default_rng(0)
        model = models.create(name, input_shape=SHAPES[name])
        opt = optimizers.Adam(lr=0.001)
        x = bk.to_device(rng.random((batch, *SHAPES[name]), dtype=np.float32))
        t = bk.to_device(rng.integers(0, 10, batch))
        with labels_checked():
            for _ in range(2):
                strict_cupy.COUNTS.reset()
                model.train_step(x, t, opt)
        c = strict_cupy.COUNTS
        return {"model": name, "batch": batch, **c.totals(), "params": len(model.params()),
                "calls_by_site": dict(c.calls.most_common()), "d2h_by_site": dict(c.d2h.most_common()),
                "h2d_by_site": dict(c.h2d.most_common())}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--models", nargs="+", default=sorted(SHAPES), choices=sorted(SHAPES))
    C.output_options(p)
    args = p.parse_args(argv)
    rows = [count_step(m, args.batch) for m in args.models]
    for r in rows:
        print(f"{r['model']:<12} array calls {r['calls']:5d}  views {r['views']:4d}  device-to-host {r['d2h']}  "
              f"host-to-device {r['h2d']}  ({r['params']} parameter arrays)")
    name = "gpu_standin_counts" + (f"_{args.tag}" if args.tag else "")
    payload = {"benchmark": "gpu_standin_counts", "method": __doc__.split("\n\n", 1)[1].strip(),
               "command": " ".join(sys.argv), "timestamp": C.stamp(), "rows": rows}
    C.write_results(Path(args.out), name, payload)
    return payload


if __name__ == "__main__":
    main()
