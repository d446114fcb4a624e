#!/usr/bin/env python
"""Trained applications exported to ONNX and run by ONNX Runtime beside deepnet, on their 1,000 test scenes:
for a Faster R-CNN run, the detections compared image by image and COCO's AP of both; for a NIC run, the
greedy captions (`deepnet.onnx.greedy_captions`, one graph call a word) compared and the exact-match share
of both. Agreement only: no throughput is timed here (benchmarks/onnx_export.py times a classifier).

    python benchmarks/onnx_applications.py RUN [RUN ...] [--out DIR] [--tag T]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

BOX_TOLERANCE = 1e-3  # pixels: float32 box arithmetic in the graph, float64 in deepnet's detect


def detector(model, meta, session) -> dict:
    import numpy as np

    from deepnet import coco, datasets

    test = datasets.loaders.detection_test_scenes(meta["dataset"])
    x = datasets.to_model_input(test.x)
    ours = model.detect(x)
    theirs = []
    for i in range(0, len(x), 100):
        for rows in session.run(None, {"input": x[i : i + 100]})[0]:
            theirs.append(rows[rows[:, 5] > 0].astype(np.float64))
    same = sum(len(a) == len(b) and (len(a) == 0 or (np.abs(a - b).max() <= BOX_TOLERANCE))
               for a, b in zip(ours, theirs))
    size = model.input_shape[1:]
    ap_ours, ap_theirs = coco.evaluate(ours, test.y, size), coco.evaluate(theirs, test.y, size)
    return {"images": len(x), "same_detections": int(same), "box_tolerance": BOX_TOLERANCE,
            "detections": [int(sum(map(len, ours))), int(sum(map(len, theirs)))],
            "deepnet": {k: ap_ours[k] for k in ("AP", "AP50", "AP75")},
            "onnxruntime": {k: ap_theirs[k] for k in ("AP", "AP50", "AP75")}}


def captioner(model, meta, session) -> dict:
    import numpy as np

    from deepnet import datasets
    from deepnet import onnx as donnx
    from deepnet.datasets import captions

    test = datasets.captioned_test_scenes()
    x = datasets.to_model_input(test.x)
    ours = model.caption(x, beam=1)
    theirs = np.concatenate([donnx.greedy_captions(lambda a, w: session.run(None, {"input": a, "words": w})[0],
                                                   x[i : i + 200]) for i in range(0, len(x), 200)])
    text = lambda c: [captions.caption_text(r) for r in c]  # noqa: E731
    truth = text(test.y)
    return {"images": len(x), "same_captions": int((ours == theirs).all(axis=1).sum()),
            "deepnet_exact_match": float(np.mean([a == b for a, b in zip(text(ours), truth)])),
            "onnxruntime_exact_match": float(np.mean([a == b for a, b in zip(text(theirs), truth)]))}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="runs of deepnet train: a Faster R-CNN or a NIC")
    C.output_options(p)
    args = p.parse_args(argv)
    import onnxruntime as ort

    from deepnet.commands.export import export
    from deepnet import tasks
    from deepnet.loading import load_model

    results = {}
    for run in args.runs:
        model, meta = load_model(run)
        with tempfile.TemporaryDirectory() as tmp:
            path = str(Path(tmp) / "model.onnx")
            export(run, path)
            session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            task = tasks.of(model)
            if task is tasks.DETECT:
                result = detector(model, meta, session)
            elif task is tasks.CAPTION:
                result = captioner(model, meta, session)
            else:
                p.error(f"{run} is neither a detector nor a captioner (benchmarks/onnx_export.py takes classifiers)")
        result.update(model=type(model).__name__, dataset=meta["dataset"], run=Path(run).name)
        results[Path(run).name] = result
        print(Path(run).name, result, flush=True)
    C.write_results(args.out, f"onnx_applications{args.tag}",
                    {"results": results, "onnxruntime": ort.__version__, "machine": C.machine(),
                     "command": " ".join(["python", "benchmarks/onnx_applications.py", *(argv or sys.argv[1:])])})


if __name__ == "__main__":
    main()
