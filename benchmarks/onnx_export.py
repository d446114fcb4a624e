#!/usr/bin/env python
"""A trained DeepConvNet exported to ONNX and run by ONNX Runtime beside deepnet: the predicted class of all
10,000 MNIST test images compared, the largest logit difference, and both throughputs (each in its own fresh
process, rounds alternating, medians with the spread).

    python benchmarks/onnx_export.py RUN [--rounds 5] [--batch-size 100] [--out DIR]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402


def worker(kind: str, run: str, onnx_path: str, batch: int) -> None:
    import numpy as np

    from deepnet import datasets

    test = datasets.mnist().test
    x = datasets.to_model_input(test.x)
    if kind == "deepnet":
        from deepnet.loading import load_model

        model, _ = load_model(run)
        predict = lambda z: model.predict(z, batch_size=batch)  # noqa: E731
    else:
        import onnxruntime as ort

        sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
        predict = lambda z: np.concatenate([sess.run(None, {"input": z[i : i + batch]})[0]  # noqa: E731
                                            for i in range(0, len(z), batch)])
    predict(x[:batch])
    start = time.perf_counter()
    logits = predict(x)
    seconds = time.perf_counter() - start
    np.save(Path(onnx_path).with_suffix(f".{kind}.npy"), logits)
    C.emit({"images_per_second": len(x) / seconds})


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", nargs="?", help="a run of deepnet train (a DeepConvNet on MNIST)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=100)
    C.output_options(p, worker=4)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args.worker[0], args.worker[1], args.worker[2], int(args.worker[3]))
    if not args.run:
        p.error("give the run to export")
    import tempfile

    import numpy as np

    from deepnet import datasets
    from deepnet.commands.export import export

    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "model.onnx")
        export(args.run, path)
        speeds = {"deepnet": [], "onnxruntime": []}
        for r in range(args.rounds):
            for kind in (("deepnet", "onnxruntime") if r % 2 == 0 else ("onnxruntime", "deepnet")):
                speeds[kind].append(C.run_fresh([__file__, "--worker", kind, args.run, path, args.batch_size])
                                    ["images_per_second"])
                print(f"round {r + 1} {kind}: {speeds[kind][-1]:,.0f} images/s", flush=True)
        ours = np.load(Path(path).with_suffix(".deepnet.npy"))
        theirs = np.load(Path(path).with_suffix(".onnxruntime.npy"))
    labels = datasets.mnist().test.y
    same = int((ours.argmax(1) == theirs.argmax(1)).sum())
    import onnxruntime

    result = {"images": len(labels), "same_predicted_class": same, "max_abs_logit_difference":
              float(np.abs(ours - theirs).max()), "deepnet_accuracy": float((ours.argmax(1) == labels).mean()),
              "onnxruntime_accuracy": float((theirs.argmax(1) == labels).mean()),
              "images_per_second": {k: {"median": C.median(v), "range": [min(v), max(v)]} for k, v in speeds.items()},
              "batch_size": args.batch_size, "rounds": args.rounds, "onnxruntime": onnxruntime.__version__,
              "machine": C.machine(), "run": args.run}
    print(f"same predicted class on {same:,} of {len(labels):,} test images; largest logit difference "
          f"{result['max_abs_logit_difference']:.2e}; deepnet {C.median(speeds['deepnet']):,.0f} images/s, ONNX "
          f"Runtime {C.median(speeds['onnxruntime']):,.0f} images/s")
    C.write_results(args.out, f"onnx_export{args.tag}", result)


if __name__ == "__main__":
    main()
