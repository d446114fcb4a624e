#!/usr/bin/env python
"""Image captioning's figures: a trained NIC run on the 1,000 test scenes of mnist-captions.

    python benchmarks/captioning.py RUN [--out benchmarks/results/applications/captioning]

Exact caption match with greedy decoding and with beam search (width 3), each by caption length (1-4
digits); corpus BLEU-4 with sacrebleu (the standard implementation: pip install 'deepnet[captioning]');
the time per caption of each decoding on this machine; and a picture of the first 24 test scenes with
their beam-search captions, the wrong ones in red.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", help="a run directory of deepnet train --model nic --dataset mnist-captions")
    p.add_argument("--beam", type=int, default=3)
    p.add_argument("--out", default=str(C.RESULTS / "applications" / "captioning"))
    args = p.parse_args(argv)
    import numpy as np

    from deepnet import datasets
    from deepnet.commands.caption import _grid
    from deepnet.datasets import captions as words
    from deepnet.loading import load_model

    try:
        import sacrebleu
    except ImportError:
        raise SystemExit("BLEU needs sacrebleu: pip install 'deepnet[captioning]'") from None
    model, meta = load_model(args.run)
    test = datasets.captioned_test_scenes()
    x = datasets.to_model_input(test.x, model.dtype)
    truth = [words.caption_text(t) for t in test.y]
    lengths = np.array([len(t.split()) for t in truth])
    rows = {}
    for name, beam in (("greedy", 1), (f"beam {args.beam}", args.beam)):
        model.caption(x[:50], beam=beam)  # warm-up
        start = time.perf_counter()
        got = [words.caption_text(c) for c in model.caption(x, beam=beam)]
        seconds = time.perf_counter() - start
        right = np.array([g == t for g, t in zip(got, truth)])
        bleu = sacrebleu.corpus_bleu(got, [truth])
        rows[name] = {"beam": beam, "exact_match": float(right.mean()),
                      "exact_match_by_digits": {int(k): float(right[lengths == k].mean()) for k in range(1, 5)},
                      "bleu4": float(bleu.score), "bleu_signature": str(bleu.format(signature=True)),
                      "ms_per_caption": 1000 * seconds / len(x), "captions": got}
        print(f"{name}: exact match {100 * right.mean():.1f}% (" + ", ".join(
            f"{k} digit{'s' if k > 1 else ''} {100 * v:.1f}%" for k, v in rows[name]["exact_match_by_digits"].items())
            + f"), corpus BLEU-4 {bleu.score:.1f}, {rows[name]['ms_per_caption']:.2f} ms a caption")
    out = Path(args.out)
    best = rows[f"beam {args.beam}"]["captions"]
    _grid(test.x[:24], best[:24], truth[:24], out / "captions.png")
    wrong = [i for i, (g, t) in enumerate(zip(best, truth)) if g != t][:16]
    if wrong:
        _grid(test.x[wrong], [best[i] for i in wrong], [truth[i] for i in wrong], out / "wrong.png")
    payload = {"benchmark": "captioning", "run_epoch": meta.get("epoch"), "test_scenes": len(x),
               "timestamp": C.stamp(), "machine": C.machine(), "command": " ".join(sys.argv),
               "results": {k: {kk: vv for kk, vv in v.items() if kk != "captions"} for k, v in rows.items()}}
    C.write_results(out, "captioning", payload, None)
    return payload


if __name__ == "__main__":
    main()
