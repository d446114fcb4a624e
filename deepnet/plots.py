"""Pictures of a run (the `plot` extra): training curves and misclassified digits (the book's Figure 8.2)."""
from __future__ import annotations

import numpy as np

from . import io
from .boxes import iou
from .errors import MissingDependency


def pyplot():
    """matplotlib.pyplot drawing to files only (no screen needed): deepnet's and the benchmarks' one set-up.
    Raises MissingDependency (an ImportError) naming the extra when matplotlib is missing."""
    try:
        import matplotlib
    except ImportError:
        raise MissingDependency("pictures need matplotlib: pip install 'deepnet[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path, dpi: int = 120) -> None:
    """Write a figure as a PNG atomically (a reader never sees half a file) and close it."""
    with io.atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", dpi=dpi, bbox_inches="tight")
    pyplot().close(fig)


def training_curves(history: list[dict], path, title: str = "") -> None:
    """Loss and accuracy per epoch (train, and validation/test where recorded), side by side."""
    plt = pyplot()
    epochs = [r["epoch"] for r in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label, style in (("loss", "train", "-o"), ("val_loss", "validation", "-s"), ("test_loss", "test", "-^")):
        if key in history[0]:
            ax_loss.plot(epochs, [r[key] for r in history], style, label=label, ms=3)
    for key, label, style in (("acc", "train", "-o"), ("val_acc", "validation", "-s"), ("test_acc", "test", "-^")):
        if key in history[0]:
            if key == "acc":  # measured on the training passes themselves, dropout active
                label = f"train, dropout on (last {100 * history[-1]['acc']:.1f}%)"
            ax_acc.plot(epochs, [100 * r[key] for r in history], style, label=label, ms=3)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss", yscale="log")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    if "test_acc" in history[-1]:
        ax_acc.axhline(99.38, color="grey", ls=":", lw=1, label="book: 99.38%")
        held_out = [r[k] for r in history for k in ("test_acc", "val_acc") if k in r]
        ax_acc.set_ylim(max(90.0, 100 * min(held_out) - 1), 100)
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    save(fig, path)


def misclassified(images: np.ndarray, labels: np.ndarray, predicted: np.ndarray, path, classes=None,
                  limit: int = 40, title: str = "") -> int:
    """A grid of the first `limit` misclassified images with their true and predicted labels; returns how many."""
    plt = pyplot()
    wrong = np.flatnonzero(labels != predicted)
    shown = wrong[:limit]
    cols = 10
    rows = max(1, int(np.ceil(len(shown) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.1, rows * 1.35))
    name = (lambda k: classes[k]) if classes else str
    for ax in np.ravel(axes):
        ax.axis("off")
    for ax, i in zip(np.ravel(axes), shown):
        ax.imshow(images[i].reshape(images.shape[-2], images.shape[-1]), cmap="gray_r")
        ax.set_title(f"{name(int(labels[i]))} -> {name(int(predicted[i]))}", fontsize=8, color="tab:red")
    fig.suptitle(title or f"{len(wrong)} misclassified of {len(labels)} (true -> predicted), first {len(shown)} shown",
                 fontsize=10)
    save(fig, path)
    return int(len(wrong))


def score_map(strip, probs, stride: int, labels, path) -> None:
    """A strip of digits above the class probabilities of every window a fully convolutional net scored."""
    plt = pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(6.0, strip.shape[1] / 28 * 1.6), 4.2),
                                      gridspec_kw={"height_ratios": [1, 1.3]})
    top.imshow(strip, cmap="gray_r", aspect="equal")
    top.set_xticks([28 * i + 14 for i in range(len(labels))], [f"true {int(v)}" for v in labels])
    top.set_yticks([])
    image = bottom.imshow(np.asarray(probs).T, aspect="auto", cmap="viridis", vmin=0, vmax=1, origin="lower",
                          extent=(-0.5 * stride, (len(probs) - 0.5) * stride, -0.5, 9.5))
    bottom.set_yticks(range(10))
    bottom.set_ylabel("class")
    bottom.set_xlabel(f"window start (pixels; one window of 28x28 every {stride} pixels)")
    fig.colorbar(image, ax=bottom, label="softmax probability")
    fig.suptitle("One forward pass of DeepConvNet made fully convolutional (Affine layers as convolutions)",
                 fontsize=10)
    save(fig, path)


def segmentation(images, truth, pred, path, classes, count: int = 6) -> None:
    """Rows of (input, true labels, predicted labels) for the first `count` scenes; one colour a class."""
    plt = pyplot()
    from matplotlib.colors import ListedColormap

    colours = ["#000000"] + list(plt.cm.tab10.colors)
    cmap = ListedColormap(colours[: len(classes)])
    count = min(count, len(images))
    fig, axes = plt.subplots(3, count, figsize=(1.8 * count, 5.6), squeeze=False)
    for i in range(count):
        for row, (img, kw) in enumerate([(images[i].reshape(images.shape[-2:]), dict(cmap="gray_r")),
                                         (truth[i], dict(cmap=cmap, vmin=0, vmax=len(classes) - 1,
                                                         interpolation="nearest")),
                                         (pred[i], dict(cmap=cmap, vmin=0, vmax=len(classes) - 1,
                                                        interpolation="nearest"))]):
            axes[row, i].imshow(img, **kw)
            axes[row, i].set_xticks([])
            axes[row, i].set_yticks([])
    for row, name in enumerate(["input", "truth", "prediction"]):
        axes[row, 0].set_ylabel(name)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[k]) for k in range(len(classes))]
    fig.legend(handles, classes, loc="lower center", ncol=len(classes), fontsize=8, frameon=False)
    fig.subplots_adjust(bottom=0.08)
    save(fig, path)


def detections(images, truth, found, path, classes, titles=None, cols: int = 4) -> None:
    """Scenes with their detections (red: class and score) and true boxes (green, dashed), one panel each;
    a true box no detection found (IoU >= 0.5, its class) is drawn in orange: a miss."""
    plt = pyplot()
    n = len(images)
    cols = min(cols, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, ax in enumerate(axes.ravel()[:n]):
        img = images[i]
        ax.imshow(img.reshape(img.shape[-2:]), cmap="gray")
        gt = np.zeros((0, 5)) if truth is None or truth[i] is None else np.asarray(truth[i])
        det = np.asarray(found[i]).reshape(-1, 6)
        overlaps = iou(gt[:, :4], det[:, :4]) if len(gt) and len(det) else np.zeros((len(gt), len(det)))
        for g, (x1, y1, x2, y2, c) in enumerate(gt):
            hit = ((overlaps[g] >= 0.5) & (det[:, 5] == c)).any() if len(det) else False
            ax.add_patch(plt.Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, lw=1.2, ls="--",
                                       color="lime" if hit else "orange"))
        for x1, y1, x2, y2, score, c in det:
            ax.add_patch(plt.Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, lw=1.2, color="red"))
            ax.text(x1 - 0.5, y1 - 1.5, f"{classes[int(c)]} {score:.2f}", color="red", fontsize=7,
                    bbox=dict(facecolor="white", alpha=0.6, pad=0.5, lw=0))
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
    save(fig, path)


def returns_curve(episodes, evaluations, path, title: str = "", window: int = 100) -> None:
    """Each training episode's return against the frame it ended at (faint), their running mean over `window`
    episodes, and the evaluations' mean returns."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    if episodes:
        f = np.array([e[0] for e in episodes], np.float64)
        r = np.array([e[1] for e in episodes], np.float64)
        ax.plot(f, r, ".", ms=2, alpha=0.25, color="tab:blue", label="episode return")
        c = np.cumsum(np.concatenate([[0.0], r]))
        k = np.minimum(np.arange(1, len(r) + 1), window)
        running = (c[1:] - c[np.arange(len(r)) + 1 - k]) / k  # the mean of each episode's last `window`
        ax.plot(f, running, color="tab:blue", label=f"mean of the last {window}")
    if evaluations:
        ax.plot([e["frame"] for e in evaluations], [e["eval_mean"] for e in evaluations], "o-", color="tab:red",
                label="evaluation (small epsilon)")
    ax.set_xlabel("frames")
    ax.set_ylabel("return")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    save(fig, path)


def frame_strip(frames, path, cols: int = 8) -> None:
    """Game observations (C, H, W) of 0/1 channels side by side, each channel its own colour."""
    plt = pyplot()
    from matplotlib.colors import ListedColormap

    if not frames:
        return
    c = frames[0].shape[0]
    colours = ["#000000"] + [plt.cm.Set2(i % 8) for i in range(c)]
    cmap = ListedColormap(colours)
    rows = -(-len(frames) // cols)
    fig, axes = plt.subplots(rows, min(cols, len(frames)), figsize=(1.3 * min(cols, len(frames)), 1.4 * rows),
                             squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, (ax, obs) in enumerate(zip(axes.ravel(), frames)):
        layer = (np.asarray(obs) > 0) * np.arange(1, c + 1)[:, None, None]
        ax.imshow(layer.max(axis=0), cmap=cmap, vmin=0, vmax=c, interpolation="nearest")
        ax.set_title(f"t={i}", fontsize=7)
    save(fig, path)
