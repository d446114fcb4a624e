"""The captioned MNIST scenes (deepnet/datasets/captions.py): reading order, captions, and the scenes."""
import numpy as np
import pytest

from deepnet.datasets import captions as C


@pytest.mark.parametrize("boxes, order", [
    ([(0, 30), (2, 0)], [1, 0]),                 # one line (rows overlap by 26 px): left to right
    ([(0, 30), (36, 0)], [0, 1]),                # two lines: the top one first, wherever it stands
    ([(36, 0), (0, 36), (30, 33)], [1, 0, 2]),    # a line of two below a digit alone: 36 and 30 overlap by 22
])
def test_reading_order(boxes, order):
    assert C.reading_order(boxes) == order


def test_caption_tokens_and_text():
    tokens = C.caption_tokens([7, 2, 9])
    assert tokens.tolist() == [C.START, 10, 5, 12, C.END, C.PAD]
    assert C.caption_text(tokens) == "seven two nine"
    assert C.caption_text([C.START, 3, C.END, 4]) == "zero"  # nothing after END


def test_scenes_keep_their_promises():
    labels = np.arange(50) % 10
    images = np.zeros((50, 28, 28), np.uint8)
    for i in range(50):
        images[i, 4:24, 6:22] = 100 + i  # each image's ink says which image it is
    x, caps, placed = C.make_captioned_scenes(images, labels, 300, seed=3, with_boxes=True)
    again = C.make_captioned_scenes(images, labels, 300, seed=3)
    np.testing.assert_array_equal(x, again[0])
    np.testing.assert_array_equal(caps, again[1])  # deterministic from the seed
    assert x.shape == (300, 1, 64, 64) and caps.shape == (300, C.MAX_DIGITS + 2)
    counts = np.bincount([len(p) for p in placed], minlength=5)
    assert counts[0] == 0 and all(counts[1:] > 30)  # 1 to 4 digits, each count well represented
    tops = set()
    for s, boxes in enumerate(placed):
        for a in range(len(boxes)):
            t, l, i = boxes[a]
            tops.add(t)
            np.testing.assert_array_equal(x[s, 0, t : t + 28, l : l + 28], images[i])  # the digit, whole
            for b in range(a + 1, len(boxes)):
                t2, l2, _ = boxes[b]
                rows, cols = 28 - abs(t - t2), 28 - abs(l - l2)
                assert not (rows > 0 and cols > 0)  # no overlap
                assert not C.AMBIGUOUS[0] < rows < C.AMBIGUOUS[1]  # never on the fence between one line and two
        order = C.reading_order([(t, l) for t, l, _ in boxes])
        assert C.caption_text(caps[s]).split() == [C.NAMES[labels[boxes[k][2]]] for k in order]
        assert caps[s, 0] == C.START and caps[s, len(boxes) + 1] == C.END
    assert len(tops) > 20  # anywhere, not in fixed cells


def test_bad_settings_are_refused():
    images, labels = np.zeros((3, 28, 28), np.uint8), np.arange(3)
    with pytest.raises(ValueError, match="too small"):
        C.make_captioned_scenes(images, labels, 1, 0, size=40)
    with pytest.raises(ValueError, match="within 1..4"):
        C.make_captioned_scenes(images, labels, 1, 0, digits=(0, 2))
