"""`deepnet caption`: a trained captioner (`--model nic`) describes test scenes or a user's images."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import datasets, plots, tasks
from ..datasets import captions as words
from ..errors import InvalidValue
from ..images import load_digit
from ..loading import load_model
from .arguments import check_output, scenes_or_images

MAX_BEAM = 100  # hypotheses kept a scene; the vocabulary has 14 words, so wider beams find nothing more
SHOWN = 64      # scenes drawn in the picture; every caption is printed


def caption(run, images=(), beam: int = 3, count: int = 16, out="captions.png", data_dir=None, log=print) -> dict:
    """Captions by beam search (width `beam`; 1 is greedy) of the first `count` test scenes, each beside its
    true caption, or of the given images (grey or colour, scaled to the model's input, dark-on-light
    inverted as `deepnet predict` does); with `out`, a grid of the scenes and their captions."""
    if not 1 <= beam <= MAX_BEAM:
        raise InvalidValue(f"--beam must be from 1 to {MAX_BEAM} (1: greedy); got {beam}")
    if not 1 <= count <= 1000:
        raise InvalidValue(f"--count must be from 1 to 1,000; got {count}")
    if out:
        check_output(out, run, *images)
    model, meta = load_model(run)
    tasks.CAPTION.require(model, meta["path"])
    vocabulary = meta.get("vocabulary")
    if vocabulary is not None and vocabulary != list(words.WORDS):
        raise InvalidValue(f"{meta['path']} writes from the words {vocabulary!r:.80}; this deepnet's captions use "
                           f"{', '.join(words.WORDS)}")
    if model.words.out_features != len(words.WORDS):
        raise InvalidValue(f"{meta['path']} writes from {model.words.out_features} words; this deepnet's captions "
                           f"have {len(words.WORDS)} ({', '.join(words.WORDS)})")
    size = model.input_shape[1]
    if images:
        x = np.stack([load_digit(p, size) for p in images])
        truth, names = [None] * len(x), [str(p) for p in images]
    else:
        test = datasets.captioned_test_scenes(count=count, source_dir=data_dir)
        x, truth = test.x, test.y
        names = [f"test scene {i}" for i in range(len(x))]
    got = model.caption(datasets.to_model_input(x, model.dtype), beam=beam)
    texts = [words.caption_text(g) for g in got]
    right = 0
    for name, text, t in zip(names, texts, truth):
        if t is None:
            log(f"{name}: {text}")
        else:
            ok = text == words.caption_text(t)
            right += ok
            log(f"{name}: {text}" + ("" if ok else f"   (truth: {words.caption_text(t)})"))
    if truth[0] is not None:
        log(f"{right} of {len(texts)} exactly right (beam {beam})")
    if out:
        _grid(x[:SHOWN], texts[:SHOWN], [None if t is None else words.caption_text(t) for t in truth[:SHOWN]],
              Path(out))
        log(f"Picture: {out}" + (f" (the first {SHOWN} of {len(x)})" if len(x) > SHOWN else ""))
    return {"captions": texts, "right": right}


def _grid(x, texts, truths, path) -> None:
    """Scenes in a grid, each titled with its caption (red where it differs from the truth)."""
    plt = plots.pyplot()
    n = len(x)
    cols = min(4, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 2.6 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, img, text, truth in zip(axes.ravel(), x, texts, truths):
        ax.imshow(img[0], cmap="gray")
        wrong = truth is not None and text != truth
        ax.set_title(text + (f"\n(truth: {truth})" if wrong else ""), fontsize=8, color="red" if wrong else "black")
    plots.save(fig, path)


NAME = "caption"
HELP = "a trained captioner (--model nic) describes test scenes or your images"


def add_arguments(p) -> None:
    scenes_or_images(p, "nic", "PNG/JPEG images (default: the first --count test scenes)",
                     "test scenes to caption (default 16)", 16, "captions.png")
    p.add_argument("--beam", type=int, default=3, help="beam search width (default 3; 1: greedy)")


def run(args) -> int:
    caption(args.weights, args.images, beam=args.beam, count=args.count, out=args.out, data_dir=args.data_dir)
    return 0
