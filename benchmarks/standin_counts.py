#!/usr/bin/env python
"""Per training step on the GPU backend, counted on the strict CuPy stand-in (tests/strict_cupy.py): array calls
(a proxy for kernel launches; views such as reshapes and basic slices, and empty allocations, are counted apart),
device-to-host reads and host-to-device copies, with their call sites, for DeepConvNet, AlexNet and ResNet-20.

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


def count_step(name: str, batch: int) -> dict:
    from deepnet import backends
    from tests import strict_cupy

    with strict_cupy.installed(), backends.use("gpu", dtype="float32"):
        c = strict_cupy.train_step_counts(name, batch)
        return {"model": name, "batch": batch, **c.totals(), "calls_by_site": dict(c.calls.most_common()),
                "d2h_by_site": dict(c.d2h.most_common()), "h2d_by_site": dict(c.h2d.most_common())}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=2)
    models = ["alexnet", "deepconvnet", "resnet20"]  # strict_cupy.TRAIN_SHAPES
    p.add_argument("--models", nargs="+", default=models, choices=models)
    C.output_options(p)
    args = p.parse_args(argv)
    rows = [count_step(m, args.batch) for m in args.models]
    for r in rows:
        print(f"{r['model']:<12} array calls {r['calls']:5d}  views {r['views']:4d}  allocations {r['allocs']:3d}  "
              f"device-to-host {r['d2h']}  "
              f"host-to-device {r['h2d']}")
    name = "gpu_standin_counts" + (f"_{args.tag}" if args.tag else "")
    payload = {"benchmark": "gpu_standin_counts", "method": __doc__.split("\n\n", 1)[1].strip(),
               "command": " ".join(sys.argv), "timestamp": C.stamp(), "rows": rows}
    C.write_results(Path(args.out), name, payload)
    return payload


if __name__ == "__main__":
    main()
