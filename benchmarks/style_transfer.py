#!/usr/bin/env python
"""Style transfer's figures (the book's 8.5.1): MNIST test digits restyled, scored by how far the style (Gram)
loss fell and whether an independent classifier still reads each digit.

    python benchmarks/style_transfer.py --classifier RUN [--count 100] [--steps 200] [--weights W]
                                        [--style PATH|stripes|checks] [--style-weight B [B ...]] [--out DIR]
                                        [--tag TAG]

RUN is a classifier deepnet trained on MNIST (deepnet train), never the feature network. The digits start as
themselves and are optimised together (L-BFGS-B, pixels in [0, 1]) against the one style picture, with the
feature network of --weights (default: the random multi-scale network), once per style weight given (the
content weight stays). Writes style_transfer[TAG].json (per style weight: the style loss before and after, the
share of digits the classifier still reads right, seconds per image) and a picture: the content, the style,
and a row of results per style weight.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402


def texture(kind: str, size: int = 28):
    import numpy as np

    i, j = np.mgrid[:size, :size]
    if kind == "stripes":  # diagonal stripes, 3 pixels wide
        a = ((i + j) // 3) % 2
    elif kind == "checks":
        a = (i // 4 + j // 4) % 2
    else:
        raise SystemExit(f"--style must be a picture's path, stripes or checks; got {kind}")
    return a.astype(np.float32)[None, None]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--classifier", required=True)
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--weights", default=None)
    p.add_argument("--style", default="stripes")
    p.add_argument("--content-weight", type=float, default=1.0)
    p.add_argument("--style-weight", type=float, nargs="+", default=[1e3])
    p.add_argument("--out", default=str(C.RESULTS / "applications" / "style"))
    p.add_argument("--tag", default="")
    args = p.parse_args(argv)
    import numpy as np

    from deepnet import datasets, plots, style
    from deepnet.backends import current
    from deepnet.commands.style import feature_net
    from deepnet.images import load_picture
    from deepnet.loading import load_classifier

    bk = current()
    clf, _ = load_classifier(args.classifier, "scoring stylised digits", input_shape=(1, 28, 28), classes=10)
    net = feature_net(args.weights, 1)
    test = datasets.mnist().test
    x = bk.to_device(datasets.to_model_input(test.x[: args.count]))
    labels = test.y[: args.count]
    s = bk.to_device(texture(args.style) if Path(args.style).suffix == "" else
                     load_picture(args.style, net.channels if net.channels == 3 else 1, 28))
    before = float((bk.to_numpy(clf.predict_labels(x)) == labels).mean())
    runs, images = [], []
    for weight in args.style_weight:
        transfer = style.StyleTransfer(net, x, s, args.content_weight, weight)
        start = time.perf_counter()
        image, record = transfer.run(x, args.steps, "lbfgs")
        seconds = time.perf_counter() - start
        after = float((bk.to_numpy(clf.predict_labels(image)) == labels).mean())
        runs.append({**record, "style_weight": weight, "classifier_reads_stylised": after,
                     "seconds_per_image": seconds / args.count})
        images.append(bk.to_numpy(image))
        print(f"style weight {weight:g}: style loss {record['style_start']:.4g} -> {record['style_end']:.4g} "
              f"({100 * record['style_reduction']:.2f}% lower); the classifier reads {100 * after:.1f}% of the "
              f"stylised digits right ({100 * before:.1f}% of the originals); {seconds / args.count:.2f} s an image",
              flush=True)
    result = {"runs": runs, "count": args.count, "steps": args.steps, "classifier_reads_content": before,
              "feature_network": net.description, "style": args.style, "content_weight": args.content_weight,
              "machine": C.machine(),
              "command": " ".join(["python", "benchmarks/style_transfer.py", *(argv or sys.argv[1:])])}
    out = Path(args.out)
    C.write_json(out / f"style_transfer{args.tag}.json", result)
    plt = plots.pyplot()
    n = min(8, args.count)
    rows = [("content", bk.to_numpy(x[:n])), ("style", np.repeat(bk.to_numpy(s), n, axis=0)[:, :, :28, :28])]
    rows += [(f"style weight\n{r['style_weight']:g}", img[:n]) for r, img in zip(runs, images)]
    fig, axes = plt.subplots(len(rows), n, figsize=(1.4 * n, 1.5 * len(rows)), squeeze=False)
    for r, (name, imgs) in enumerate(rows):
        for c in range(n):
            axes[r, c].imshow(imgs[c, 0], cmap="gray", vmin=0, vmax=1)
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
        axes[r, 0].set_ylabel(name, fontsize=8)
    plots.save(fig, out / f"style_transfer{args.tag}.png")
    print(f"Wrote {out / ('style_transfer' + args.tag + '.json')} and the picture")


if __name__ == "__main__":
    main()
