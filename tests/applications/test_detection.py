"""Detection (the book's 8.4.1): box arithmetic against the COCO evaluator's conventions, RoI Align against a
direct loop and central differences, on every backend, Faster R-CNN's gradients and learning, and `deepnet
train --model fasterrcnn` with `deepnet detect` from the command line, bad input included."""
import numpy as np
import pytest

from deepnet import backends, boxes as B, io
from deepnet.cli import main
from deepnet.layers import RoIAlign
from deepnet.models import FasterRCNN

from ..backend_helpers import NAMES, agrees_with_the_reference
from ..cli_helpers import drawn, one_line
from ..gradcheck import check_layer, check_model



def random_boxes(n, seed=0, extent=50.0):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, extent, (n, 2))
    return np.hstack([xy, xy + rng.uniform(1, 20, (n, 2))])


# --- boxes ----------------------------------------------------------------------------------------------
def test_iou_matches_the_coco_evaluator_degenerate_boxes_included():
    mask = pytest.importorskip("pycocotools.mask", reason="pycocotools (the detection extra) is not installed")
    a = np.vstack([random_boxes(6, 1), [[5, 5, 5, 9], [3, 3, 1, 8], [2, 2, 9, 2]]])  # zero, negative, zero height
    b = np.vstack([random_boxes(5, 2), [[5, 5, 5, 9]]])
    xywh = lambda z: np.column_stack([z[:, :2], z[:, 2:] - z[:, :2]])  # noqa: E731
    coco = mask.iou(xywh(a).tolist(), xywh(b).tolist(), [0] * len(b))
    np.testing.assert_allclose(B.iou(a, b), coco, rtol=1e-12, atol=1e-15)


def test_degenerate_boxes_overlap_nothing_not_even_themselves():
    d = np.array([[4.0, 4, 4, 10], [6, 6, 2, 8]])
    assert (B.iou(d, d) == 0).all() and (B.iou(d, [[0, 0, 20, 20]]) == 0).all()
    assert (B.area(d) == 0).all()
    # NMS keeps them (nothing suppresses them) and they suppress nothing
    keep = B.nms(np.vstack([d, [[0, 0, 20, 20]]]), [0.9, 0.8, 0.7], 0.5)
    assert sorted(keep.tolist()) == [0, 1, 2]
    with pytest.raises(ValueError, match="positive width and height"):
        B.encode(d, d)


def test_encode_and_decode_are_inverse():
    refs, targets = random_boxes(20, 3), random_boxes(20, 4)
    for weights in [(1, 1, 1, 1), (10, 10, 5, 5)]:
        np.testing.assert_allclose(B.decode(B.encode(targets, refs, weights), refs, weights), targets, atol=1e-9)
    huge = B.decode(np.array([[0, 0, 1e4, 1e4]]), np.array([[0, 0, 10, 10]]))  # clamped, not overflowed
    assert np.isfinite(huge).all() and huge[0, 2] - huge[0, 0] == pytest.approx(10 * np.exp(B.MAX_LOG_SCALE))


def brute_nms(boxes, scores, t):
    keep = []
    for i in np.argsort(-scores, kind="stable"):
        if all(B.iou(boxes[i : i + 1], boxes[j : j + 1])[0, 0] <= t for j in keep):
            keep.append(int(i))
    return keep


@pytest.mark.parametrize("n,t", [(0, 0.5), (1, 0.5), (40, 0.3), (300, 0.7), (50, 1.0)])
def test_nms_is_the_greedy_rule(n, t):
    bx = random_boxes(n, n)
    scores = np.random.default_rng(n).random(n)
    assert B.nms(bx, scores, t).tolist() == brute_nms(bx, scores, t)
    assert B.nms(bx, scores, t, limit=3).tolist() == brute_nms(bx, scores, t)[:3]


def test_nms_per_class_and_its_threshold():
    bx = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10.0]])
    scores = np.array([0.9, 0.8, 0.7])
    assert B.batched_nms(bx, scores, [1, 1, 2], 0.5).tolist() == [0, 2]  # another class is never suppressed
    assert B.batched_nms(np.zeros((0, 4)), [], [], 0.5).tolist() == []
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match=r"NMS IoU threshold must lie in \(0, 1\]"):
            B.nms(bx, scores, bad)


def test_anchors_tile_the_feature_map():
    a = B.anchors(3, 4, 4, sizes=(8, 16), ratios=(1, 4))
    assert a.shape == (3 * 4 * 4, 4)
    w, h = a[:, 2] - a[:, 0], a[:, 3] - a[:, 1]
    np.testing.assert_allclose(w * h, np.tile([64, 64, 256, 256], 12))
    np.testing.assert_allclose((h / w)[:4], [1, 4, 1, 4])
    centres = (a[:, :2] + a[:, 2:]) / 2
    np.testing.assert_allclose(centres[4 * 5], [(1 + 0.5) * 4, (1 + 0.5) * 4])  # row 1, column 1


# --- RoI Align --------------------------------------------------------------------------------------------
def bilinear(f, y, x):
    h, w = f.shape
    if y < -1 or y > h or x < -1 or x > w:
        return 0.0
    y, x = max(y, 0.0), max(x, 0.0)
    yl, xl = int(y), int(x)
    if yl >= h - 1:
        yh = yl = h - 1
        y = float(yl)
    else:
        yh = yl + 1
    if xl >= w - 1:
        xh = xl = w - 1
        x = float(xl)
    else:
        xh = xl + 1
    ly, lx = y - yl, x - xl
    return (1 - ly) * (1 - lx) * f[yl, xl] + (1 - ly) * lx * f[yl, xh] + ly * (1 - lx) * f[yh, xl] + ly * lx * f[yh, xh]


def roi_align_loops(x, rois, oh, ow, scale, sr):
    """torchvision's roi_align (aligned=True), point by point."""
    out = np.zeros((len(rois), x.shape[1], oh, ow))
    for r, (b, x1, y1, x2, y2) in enumerate(rois):
        sx, sy = x1 * scale - 0.5, y1 * scale - 0.5
        bw, bh = (x2 - x1) * scale / ow, (y2 - y1) * scale / oh
        for c in range(x.shape[1]):
            for i in range(oh):
                for j in range(ow):
                    out[r, c, i, j] = np.mean([bilinear(x[int(b), c], sy + i * bh + (u + 0.5) * bh / sr,
                                                        sx + j * bw + (v + 0.5) * bw / sr)
                                               for u in range(sr) for v in range(sr)])
    return out


ROIS = np.array([[0, 1.3, 2.2, 20.5, 30.1], [1, -3, -2, 8, 9], [0, 0, 0, 48, 40], [1, 30, 30, 60, 50],
                 [1, 10, 10, 10.5, 10.2], [0, 5, 5, 5, 9]])  # inside, across the edges, beyond, tiny, degenerate


def test_roi_align_is_torchvisions_rule(f64):
    x = np.random.default_rng(0).standard_normal((2, 3, 10, 12))
    for oh, ow, scale, sr in [(3, 4, 0.25, 2), (2, 2, 0.5, 1), (5, 3, 0.25, 3)]:
        got = RoIAlign((oh, ow), scale, sr).forward(x, ROIS)
        np.testing.assert_allclose(got, roi_align_loops(x, ROIS, oh, ow, scale, sr), rtol=1e-12, atol=1e-14)


class WithRegions:
    """RoIAlign as a one-input layer for check_layer: the regions fixed."""

    def __init__(self, layer, rois):
        self.layer, self.rois = layer, rois

    def forward(self, x, train=False):
        return self.layer.forward(x, self.rois)

    def backward(self, dout):
        return self.layer.backward(dout)

    def params(self):
        return {}

    def grads(self):
        return {}


def test_roi_align_gradient(f64):
    x = np.random.default_rng(1).standard_normal((2, 3, 10, 12))
    check_layer(WithRegions(RoIAlign((3, 4), 0.25, 2), ROIS), x)


@pytest.mark.parametrize("name", NAMES)
def test_roi_align_on_every_backend(name):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 4, 9, 11))
    g = rng.standard_normal((len(ROIS), 4, 7, 7))

    def run(b):
        layer = RoIAlign(7, 0.25)
        return layer.forward(b.to_device(x), b.to_device(ROIS)), layer.backward(b.to_device(g))

    agrees_with_the_reference(name, run, atol=1e-14)


def test_roi_align_refuses_what_it_cannot_read(f64):
    with pytest.raises(ValueError, match="output_size >= 1"):
        RoIAlign(0, 0.25)
    layer = RoIAlign(2, 0.25)
    with pytest.raises(ValueError, match=r"regions \(R, 5\)"):
        layer.forward(np.zeros((1, 1, 4, 4)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"image indices must lie in \[0, 1\)"):
        layer.forward(np.zeros((1, 1, 4, 4)), np.array([[1, 0, 0, 4, 4.0]]))


# --- Faster R-CNN -----------------------------------------------------------------------------------------
def tiny(dtype=None):
    return FasterRCNN(input_shape=(1, 16, 16), num_classes=3, width=2, anchor_sizes=(4, 8), anchor_ratios=(1, 2),
                      roi_size=2, hidden=6, dtype=dtype)


def scenes_with_boxes():
    t = np.zeros((2, 2, 5))
    t[0, 0] = (2, 3, 9, 12, 1)
    t[0, 1] = (9, 1, 15, 7, 2)
    t[1, 0] = (4, 4, 12, 14, 2)  # the second scene has one object and a padding row
    return t


def test_faster_rcnn_gradients(f64):
    model = tiny()
    for i, (name, p) in enumerate(model.params().items()):  # biases off zero: ReLU's kink away from the check
        if name.endswith(".b"):
            p[...] = np.random.default_rng(i).standard_normal(p.shape) * 0.3
    # the regions are fixed: which anchors become proposals is a choice (top-k, NMS), not differentiated (the
    # paper's approximate joint training), and a nudge to a weight may change it, a jump no derivative sees
    fixed = [np.array([[1, 1, 8, 9], [3, 2, 14, 13.0], [0, 0, 16, 16]]), np.array([[4, 4, 10, 10.0], [2, 6, 12, 15]])]
    model._proposals = lambda obj, deltas, train: [f.copy() for f in fixed]
    x = np.random.default_rng(5).uniform(size=(2, 1, 16, 16))
    check_model(model, x, scenes_with_boxes(), limit=5)


def test_faster_rcnn_learns_a_few_scenes(cpu32):
    from deepnet import optimizers

    rng = np.random.default_rng(0)
    x = np.zeros((8, 1, 16, 16), np.float32)
    t = np.zeros((8, 1, 5), np.float32)
    for i in range(8):  # a bright square (class 1) or a hollow one (class 2), somewhere
        s, (r, c) = int(rng.integers(5, 9)), rng.integers(0, 7, 2)
        x[i, 0, r : r + s, c : c + s] = 1.0
        cls = 1 + i % 2
        if cls == 2:
            x[i, 0, r + 1 : r + s - 1, c + 1 : c + s - 1] = 0.0
        t[i, 0] = (c, r, c + s, r + s, cls)
    model = FasterRCNN(input_shape=(1, 16, 16), num_classes=3, width=4, anchor_sizes=(6, 10), roi_size=3, hidden=32)
    opt = optimizers.create("adam", lr=3e-3)
    first = float(model.loss(x, t, train=False))
    for _ in range(60):
        model.train_step(x, t, opt)
    last = float(model.loss(x, t, train=False))
    assert last < 0.5 * first, (first, last)
    right, count = model.step_correct(t)
    assert int(right) / count > 0.8


def test_detect_gives_boxes_scores_and_classes(f64):
    model = tiny()
    model.layers["cls"].b[...] = [0.0, 3.0, 0.0]  # class 1 everywhere, confidently
    found = model.detect(np.random.default_rng(0).uniform(size=(3, 1, 16, 16)), score_threshold=0.3)
    assert len(found) == 3
    for d in found:
        assert d.shape[1] == 6 and len(d) > 0
        assert (d[:, 5] == 1).all() and (d[:, 4] >= 0.3).all() and (d[:, 4] <= 1).all()
        assert (d[:, 2] > d[:, 0]).all() and (d[:, :4] >= 0).all() and (d[:, :4] <= 16).all()
        assert (np.diff(d[:, 4]) <= 0).all()  # best first


def test_an_empty_scene_gives_no_boxes_and_trains(f64):
    model = tiny()
    model.layers["cls"].b[...] = [5.0, 0.0, 0.0]  # background wins
    found = model.detect(np.zeros((1, 1, 16, 16)), score_threshold=0.5)
    assert found[0].shape == (0, 6)
    loss = model.loss(np.zeros((1, 1, 16, 16)), np.zeros((1, 3, 5)))  # no object at all: only background to learn
    assert np.isfinite(float(loss))
    model.backward()


def test_detector_refuses_bad_labels_and_thresholds(f64):
    model = tiny()
    x = np.zeros((1, 1, 16, 16))
    with pytest.raises(ValueError, match=r"labels \(N, M, 5\)"):
        model.loss(x, np.zeros((1, 5)))
    with pytest.raises(ValueError, match=r"whole numbers in 1..2"):
        model.loss(x, np.array([[[0, 0, 4, 4, 7.0]]]))
    with pytest.raises(ValueError, match=r"score threshold must lie in \[0, 1\]"):
        model.detect(x, score_threshold=1.5)
    with pytest.raises(ValueError, match=r"NMS IoU threshold must lie in \(0, 1\]"):
        model.detect(x, nms=0)
    with pytest.raises(TypeError, match="model.detect"):
        model.forward(x)


# --- the command line -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run(tmp_path_factory):
    import functools

    from deepnet.datasets import loaders

    out = tmp_path_factory.mktemp("frcnn") / "run"
    with pytest.MonkeyPatch.context() as mp:  # a few scenes: the mechanics, not the accuracy, are tested here
        mp.setitem(loaders.LOADERS, "mnist_boxes", functools.partial(loaders.mnist_boxes, train_count=64,
                                                                     test_count=16))
        assert main(["train", "--model", "fasterrcnn", "--dataset", "mnist-boxes", "--limit", "32", "--batch-size",
                     "16", "--epochs", "1", "--no-progress", "--no-plots", "--no-test-eval", "--out", str(out)]) == 0
        yield out


def test_train_resume_and_detect_from_the_command_line(run, tmp_path, capsys):
    assert main(["train", "--resume", str(run), "--epochs", "2", "--no-progress", "--no-plots", "--no-test-eval"]) == 0
    assert io.read_index(run / "last.npz")[1]["epoch"] == 2
    picture = tmp_path / "d.png"
    out = drawn(capsys, ["detect", run, "--count", "3", "--score", "0.0", "--out", picture], picture)
    assert out.count("test scene") == 3 and "digits found (IoU >= 0.5" in out
    pytest.importorskip("pycocotools", reason="pycocotools (the detection extra) is not installed")
    with pytest.MonkeyPatch.context() as mp:  # 20 test scenes: the mechanics
        from deepnet.datasets import loaders

        real = loaders.detection_test_scenes
        mp.setattr(loaders, "detection_test_scenes", lambda name, count=1000, **kw: real(name, 20, **kw))
        assert main(["eval", str(run), "--batch-size", "10"]) == 0
    out = capsys.readouterr().out
    assert "COCO AP@[.5:.95]" in out and "images/s" in out


def test_bad_detect_requests(run, tmp_path, capsys):
    one_line(capsys, main(["detect", str(run), "--score", "1.5"]), "--score must lie in [0, 1]")
    one_line(capsys, main(["detect", str(run), "--nms", "0"]), "--nms must lie in (0, 1]")
    one_line(capsys, main(["detect", str(run), "--count", "0"]), "--count must be from 1")
    from deepnet.models import SimpleConvNet

    with backends.use("cpu", dtype="float32"):
        SimpleConvNet().save(tmp_path / "clf.npz", {"model_name": "simpleconvnet"})
    one_line(capsys, main(["detect", str(tmp_path / "clf.npz")]), "not a detector")
    from PIL import Image

    Image.fromarray(np.zeros((5, 40), np.uint8)).save(tmp_path / "small.png")
    one_line(capsys, main(["detect", str(run), str(tmp_path / "small.png"), "--out", ""]), "smallest anchor is 8")
    Image.fromarray(np.zeros((100, 80), np.uint8)).save(tmp_path / "empty.png")  # no digit: no boxes, no error
    assert main(["detect", str(run), str(tmp_path / "empty.png"), "--out", ""]) == 0


@pytest.mark.parametrize("model, dataset, expected", [
    ("fasterrcnn", "mnist", "finds objects and trains on --dataset mnist-boxes or mnist-clutter"),
    ("deepconvnet", "mnist-boxes", "labels each scene with boxes: train --model fasterrcnn"),
    ("nic", "mnist", "writes captions and trains on --dataset mnist-captions"),
    ("deepconvnet", "mnist-captions", "labels each scene with a caption: train --model nic"),
])
def test_model_and_dataset_must_agree(tmp_path, capsys, model, dataset, expected):
    one_line(capsys, main(["train", "--model", model, "--dataset", dataset, "--limit", "32", "--no-progress",
                           "--out", str(tmp_path / "r")]), expected)


# --- R-CNN, the baseline ------------------------------------------------------------------------------------
def flood_fill_count(mask):
    seen, count = np.zeros_like(mask), 0
    h, w = mask.shape
    for i in range(h):
        for j in range(w):
            if mask[i, j] and not seen[i, j]:
                count += 1
                stack = [(i, j)]
                seen[i, j] = True
                while stack:
                    a, b = stack.pop()
                    for da in (-1, 0, 1):
                        for db in (-1, 0, 1):
                            u, v = a + da, b + db
                            if 0 <= u < h and 0 <= v < w and mask[u, v] and not seen[u, v]:
                                seen[u, v] = True
                                stack.append((u, v))
    return count


@pytest.mark.parametrize("seed", range(4))
def test_connected_components_match_a_flood_fill(seed):
    from deepnet.models.rcnn import components

    mask = np.random.default_rng(seed).random((23, 31)) < 0.35
    lab = components(mask)
    assert ((lab > 0) == mask).all()
    assert len(np.unique(lab[lab > 0])) == flood_fill_count(mask)
    # pixels that touch (8 neighbours) share a label
    p = np.pad(lab, 1)
    for di, dj in [(0, 1), (1, 0), (1, 1), (1, -1)]:
        a, b = lab, p[1 + di : 24 + di, 1 + dj : 32 + dj]
        both = (a > 0) & (b > 0)
        assert (a[both] == b[both]).all()


def test_proposals_are_the_ink_and_its_mergers():
    from deepnet.models.rcnn import propose

    img = np.zeros((40, 40), np.uint8)
    img[5:15, 5:9] = 255      # two strokes of one digit, 2 pixels apart
    img[5:15, 11:14] = 255
    img[30:36, 30:38] = 255   # another, far away
    got = {tuple(b) for b in propose(img, max_side=20).tolist()}
    assert {(5, 5, 9, 15), (11, 5, 14, 15), (30, 30, 38, 36), (5, 5, 14, 15)} <= got
    assert not any(b[2] - b[0] > 20 or b[3] - b[1] > 20 for b in got)  # nothing wider than max_side
    assert propose(np.zeros((20, 20), np.uint8)).shape == (0, 4)


def test_rcnn_ridge_regressor_recovers_a_linear_rule():
    from deepnet.models.rcnn import RCNN

    rng = np.random.default_rng(0)
    r = RCNN(input_shape=(1, 32, 32), num_classes=3, ridge=1e-6)
    regions = random_boxes(80, 1)
    feats = rng.standard_normal((80, 5))
    true_w = rng.standard_normal((6, 4)) * 0.1
    deltas = np.column_stack([feats, np.ones(80)]) @ true_w
    matched = B.decode(deltas, regions)
    classes = np.where(np.arange(80) < 40, 1, 2)
    r.fit_regressor(feats, regions, classes, np.ones(80), matched)
    np.testing.assert_allclose(r.regressor[1], true_w, atol=1e-6)
    np.testing.assert_allclose(r.regressor[2], true_w, atol=1e-6)
    assert (r.regressor[0] == 0).all()  # the background gets none


def test_rcnn_trains_and_detects(cpu32):
    from deepnet.datasets import loaders
    from deepnet.models import rcnn

    data = loaders.mnist_boxes(train_count=24, test_count=4)
    r = rcnn.RCNN()
    with pytest.raises(RuntimeError, match="has not been fitted"):
        r.detect(data.test.x)
    info = rcnn.train(r, data.train.x, data.train.y, epochs=1, log=lambda *a: None)
    assert info["regions"] >= info["digit_regions"] > 0
    found = r.detect(data.test.x, score_threshold=0.0)
    assert len(found) == 4
    for d in found:
        assert d.shape[1] == 6 and ((d[:, 4] >= 0) & (d[:, 4] <= 1)).all() and (d[:, 5] >= 1).all()


def test_describe_shows_both_heads(capsys):
    assert main(["describe", "fasterrcnn"]) == 0
    out = capsys.readouterr().out
    assert "rpn_delta  Convolution          (48, 16, 16)" in out and "box        Affine               (44,)" in out


# --- the data -----------------------------------------------------------------------------------------------
def test_box_scenes_are_the_segmentation_scenes_with_tight_boxes():
    from deepnet.datasets import scenes

    rng = np.random.default_rng(0)
    digits = (rng.random((30, 28, 28)) * 255 * (rng.random((30, 1, 1)) > 0.1)).astype(np.uint8)
    labels = rng.integers(0, 10, 30)
    x, y = scenes.make_scenes(digits, labels, 20, seed=3)
    x2, y2, b = scenes.compose(digits, labels, 20, seed=3)
    np.testing.assert_array_equal(x, x2)  # the same scenes: segmentation's results still hold
    np.testing.assert_array_equal(y, y2)
    for s in range(20):
        for x1, y1_, x2_, y2_, c in b[s][b[s][:, 4] > 0].astype(int):
            inside = y[s, y1_:y2_, x1:x2_] == c
            assert inside[0].any() and inside[-1].any() and inside[:, 0].any() and inside[:, -1].any()  # tight
            assert (y[s] == c).sum() >= inside.sum() > 0


def test_cluttered_scenes():
    from deepnet.datasets import detection

    rng = np.random.default_rng(1)
    digits = (rng.random((40, 28, 28)) * 255).astype(np.uint8)
    labels = rng.integers(0, 10, 40)
    x, b = detection.make_cluttered_scenes(digits, labels, 12, seed=5)
    assert x.shape == (12, 1, 128, 128) and x.dtype == np.uint8 and b.shape == (12, 5, 5)
    x6, b6 = detection.make_cluttered_scenes(digits, labels, 6, seed=5)
    np.testing.assert_array_equal(x6, x[:6])  # the first scenes do not depend on how many are made
    np.testing.assert_array_equal(b6, b[:6])
    for rows in detection.objects(b):
        assert ((rows[:, 4] >= 1) & (rows[:, 4] <= 10)).all()
        assert (rows[:, :4] >= 0).all() and (rows[:, :4] <= 128).all() and (rows[:, 2] > rows[:, 0]).all()
        for i in range(len(rows)):
            others = np.delete(rows[:, :4], i, axis=0)
            assert detection.overlap_share(rows[i, :4], others) <= detection.MAX_OVERLAP + 1e-9
    crowded, cb = detection.make_cluttered_scenes(digits, labels, 3, seed=0, size=56, digits=(9, 9))
    assert (cb[:, :, 4] > 0).sum(axis=1).max() < 9  # no room for nine: fewer are placed, never an error


def test_coco_format_round_trip():
    from deepnet.datasets import detection

    b = np.zeros((2, 2, 5), np.float32)
    b[0, 0] = (2, 3, 10, 15, 4)
    gt = detection.coco_ground_truth(b, (64, 64))
    assert gt["images"][1] == {"id": 2, "width": 64, "height": 64, "file_name": "scene00001.png"}
    assert gt["annotations"] == [{"id": 1, "image_id": 1, "category_id": 4, "bbox": [2.0, 3.0, 8.0, 12.0],
                                  "area": 96.0, "iscrowd": 0}]
    assert [c["name"] for c in gt["categories"]] == [str(d) for d in range(10)]
    det = detection.coco_detections([np.array([[2, 3, 10, 15, 0.9, 4]]), np.zeros((0, 6))])
    assert det == [{"image_id": 1, "category_id": 4, "bbox": [2.0, 3.0, 8.0, 12.0], "score": 0.9}]
    pytest.importorskip("pycocotools", reason="pycocotools (the detection extra) is not installed")
    from deepnet import coco

    perfect = coco.evaluate([np.array([[2, 3, 10, 15, 0.9, 4]]), np.zeros((0, 6))], b, (64, 64))
    assert perfect["AP"] == pytest.approx(1.0) and perfect["AP50_per_class"]["4"] == pytest.approx(1.0)
    nothing = coco.evaluate([np.zeros((0, 6)), np.zeros((0, 6))], b, (64, 64))
    assert nothing["AP"] == 0.0
