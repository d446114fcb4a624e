"""The user's pictures in (transparency, 16-bit grey, sizes a network cannot take) and the pictures out (never
over an input, in the format their suffix names, at most a readable grid)."""

import numpy as np
import pytest

from deepnet import backends, models
from deepnet.cli import main

from ..cli_helpers import one_line


def picture(path, size=(64, 64), mode="L", value=200):
    from PIL import Image

    Image.new(mode, size, value).save(path)
    return path


def stylised_mean(tmp_path, content) -> float:
    """The mean pixel of `deepnet style` run on `content` with no style term and one step: the content as the
    command read it."""
    from PIL import Image

    out = tmp_path / "o.png"
    with backends.use("cpu", dtype="float32"):
        assert main(["style", str(content), str(content), "--steps", "1", "--style-weight", "0", "--out",
                     str(out)]) == 0
    return float(np.asarray(Image.open(out), np.float64).mean()) / 255


@pytest.mark.parametrize("ink", [0, 255])
def test_transparent_png_is_composited(tmp_path, ink):
    from PIL import Image

    from deepnet.images import load_digit as load_image

    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255  # a "1"
    Image.fromarray(digit).save(tmp_path / "grey.png")
    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[..., :3] = ink  # colour everywhere, the digit only in alpha: transparent background
    rgba[..., 3] = digit
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "alpha.png")
    np.testing.assert_array_equal(load_image(tmp_path / "alpha.png"), load_image(tmp_path / "grey.png"))
    assert load_image(tmp_path / "alpha.png").max() == 255


@pytest.mark.parametrize("command", ["scan", "binarize"])
def test_out_that_is_the_checkpoint_read_is_refused(binarynet, capsys, command):
    before = (binarynet / "best.npz").read_bytes()
    for out in (binarynet / "best.npz", binarynet / "last.npz"):
        one_line(capsys, main([command, str(binarynet), "--out", str(out)]), "which this command reads")
    assert (binarynet / "best.npz").read_bytes() == before
    assert main(["eval", str(binarynet)]) == 0


def test_scan_creates_the_parent_directory(clf, tmp_path):
    assert main(["scan", str(clf), "--out", str(tmp_path / "a" / "b" / "scan.png")]) == 0
    assert (tmp_path / "a" / "b" / "scan.png").stat().st_size > 1000


@pytest.mark.parametrize("command", ["detect", "caption"])
def test_out_that_is_an_input_picture_is_refused(saved, tmp_path, capsys, command):
    pytest.importorskip("PIL")
    photo = picture(tmp_path / "in.png")
    before = photo.read_bytes()
    run = saved / ("fasterrcnn.npz" if command == "detect" else "nic.npz")
    one_line(capsys, main([command, str(run), str(photo), "--out", str(photo)]), "would overwrite")
    assert photo.read_bytes() == before


def test_style_refuses_a_picture_smaller_than_its_network_takes(tmp_path, capsys):
    pytest.importorskip("scipy")
    strip = picture(tmp_path / "strip.png", (640, 8))  # 512x6 at the longest side allowed
    square = picture(tmp_path / "square.png", (32, 32))
    one_line(capsys, main(["style", str(strip), str(square), "--out", str(tmp_path / "o.png"), "--steps", "1"]),
             "with this feature network needs at least 8 pixels a side")


def test_an_rgba_picture_inked_only_in_its_alpha_is_not_lost(tmp_path):
    pytest.importorskip("scipy")
    from PIL import Image

    a = np.zeros((28, 28, 4), np.uint8)
    a[8:20, 12:16, 3] = 255  # black ink, seen only through the alpha channel
    Image.fromarray(a, "RGBA").save(tmp_path / "alpha.png")
    assert 0.8 < stylised_mean(tmp_path, tmp_path / "alpha.png") < 1.0  # dark strokes on the white the alpha implies
    from deepnet.images import load_digit

    assert load_digit(tmp_path / "alpha.png").max() == 255


def test_a_16_bit_grey_ramp_keeps_its_levels(tmp_path):
    pytest.importorskip("scipy")
    from PIL import Image

    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (64, 1))
    Image.fromarray(ramp).save(tmp_path / "ramp16.png")
    assert abs(stylised_mean(tmp_path, tmp_path / "ramp16.png") - 0.5) < 0.01


@pytest.mark.parametrize("flag", ["--style-weight", "--content-weight"])
def test_style_weights_must_be_finite(tmp_path, capsys, flag):
    square = picture(tmp_path / "square.png", (32, 32))
    one_line(capsys, main(["style", str(square), str(square), flag, "inf", "--out", str(tmp_path / "o.png")]),
             f"{flag} must be a finite number")


def test_style_writes_the_format_its_suffix_names(tmp_path, capsys):
    pytest.importorskip("scipy")
    square = picture(tmp_path / "square.png", (16, 16))
    with backends.use("cpu", dtype="float32"):
        assert main(["style", str(square), str(square), "--steps", "1", "--out", str(tmp_path / "o.jpg")]) == 0
    assert (tmp_path / "o.jpg").read_bytes()[:3] == b"\xff\xd8\xff"  # JPEG's magic, not PNG's
    one_line(capsys, main(["style", str(square), str(square), "--out", str(tmp_path / "o.xyz")]),
             "the picture's format comes from its suffix")


def test_a_picture_above_the_pixel_bound_is_one_line(tmp_path, capsys):
    from PIL import Image

    Image.new("L", (9000, 8000)).save(tmp_path / "huge.png")  # 72 M pixels (the bound is 64 M): Pillow only warns
    with backends.use("cpu", dtype="float32"):
        models.create("deepconvnet").save(tmp_path / "w.npz")
        code = main(["predict", str(tmp_path / "huge.png"), "--weights", str(tmp_path / "w.npz")])
    err = one_line(capsys, code, "deepnet reads at most")
    assert "DecompressionBomb" not in err


def test_caption_draws_at_most_a_grid_of_64(saved, tmp_path, capsys):
    capsys.readouterr()
    with backends.use("cpu", dtype="float32"):
        assert main(["caption", str(saved / "nic.npz"), "--count", "70", "--beam", "1", "--out",
                     str(tmp_path / "c.png")]) == 0
    out = capsys.readouterr().out
    assert "(the first 64 of 70)" in out and "test scene 69:" in out
