import numpy as np
import pytest

from deepnet.layers import Convolution, Dropout
from deepnet.models import AlexNet, DeepConvNet, SimpleConvNet


def test_deepconvnet_is_the_books_figure_8_1(cpu32):
    model = DeepConvNet()
    convs = [(l.in_channels, l.out_channels, l.kh, l.pad, l.stride) for l in model.layers.values()
             if isinstance(l, Convolution)]
    assert convs == [(1, 16, 3, 1, 1), (16, 16, 3, 1, 1), (16, 32, 3, 1, 1), (32, 32, 3, 2, 1), (32, 64, 3, 1, 1),
                     (64, 64, 3, 1, 1)]
    kinds = [type(l).__name__ for l in model.layers.values()]
    assert kinds == ["Convolution", "Relu", "Convolution", "Relu", "Pooling",
                     "Convolution", "Relu", "Convolution", "Relu", "Pooling",
                     "Convolution", "Relu", "Convolution", "Relu", "Pooling",
                     "Affine", "Relu", "Dropout", "Affine", "Dropout"]
    assert [l.ratio for l in model.layers.values() if isinstance(l, Dropout)] == [0.5, 0.5]
    assert (model.layers["affine1"].in_features, model.layers["affine1"].out_features) == (64 * 4 * 4, 50)
    assert model.num_params() == 123_552
    # He initialisation: std sqrt(2 / fan_in), checked on the widest layer
    w = model.layers["affine1"].W
    assert np.std(w) == pytest.approx(np.sqrt(2 / 1024), rel=0.05)


def test_deepconvnet_forward_backward_float32(cpu32):
    model = DeepConvNet()
    x = cpu32.rng.uniform((5, 1, 28, 28))
    loss = model.loss(x, np.arange(5), train=True)
    dx = model.backward()
    assert np.isfinite(loss) and dx.shape == x.shape and dx.dtype == np.float32


def test_alexnet_shapes_and_size(cpu32):
    model = AlexNet(input_shape=(3, 227, 227))
    assert model.layers["affine1"].in_features == 256 * 6 * 6
    assert model.num_params() == 62_378_344  # ungrouped convolutions (see the class docstring)
    small = AlexNet(input_shape=(3, 67, 67), num_classes=7)
    assert small.forward(cpu32.rng.uniform((2, 3, 67, 67))).shape == (2, 7)


def test_input_shape_is_checked(cpu32):
    with pytest.raises(ValueError, match=r"expects input of shape \(N, 1, 28, 28\); got \(2, 1, 27, 28\)"):
        DeepConvNet().forward(np.zeros((2, 1, 27, 28), np.float32))


def test_save_load_round_trip_keeps_the_model_in_place(cpu32, tmp_path):
    a, b = SimpleConvNet(), SimpleConvNet()
    a.save(tmp_path / "w.npz")
    w_before = b.layers["conv1"].W
    b.load(tmp_path / "w.npz")
    assert b.layers["conv1"].W is w_before  # copied in place: optimizers holding the array still see it
    for k, v in a.params().items():
        np.testing.assert_array_equal(v, b.params()[k])
    with np.load(tmp_path / "w.npz", allow_pickle=False) as f:  # a plain .npz, no pickle inside
        assert "conv1.W" in f.files


def test_load_mismatch_names_the_parameter(cpu32, tmp_path):
    SimpleConvNet(hidden=100).save(tmp_path / "w.npz")
    with pytest.raises(ValueError, match=r"'affine1.W' has shape \(4320, 100\), but the model's is \(4320, 60\)"):
        SimpleConvNet(hidden=60).load(tmp_path / "w.npz")
    with pytest.raises(ValueError, match="missing"):
        DeepConvNet().load(tmp_path / "w.npz")


def test_freeze_hides_parameters_from_the_optimizer(cpu32):
    model = DeepConvNet()
    model.freeze("conv1", "conv2")
    assert "conv1.W" not in model.trainable_params() and "conv3.W" in model.trainable_params()
    with pytest.raises(ValueError, match="no layer named 'conv9' to freeze"):
        model.freeze("conv9")


def test_summary_lists_shapes(cpu32):
    text = DeepConvNet().summary()
    assert "123,552 parameters" in text and "(64, 4, 4)" in text


def test_a_fully_convolutional_classifier_gives_the_same_logits_and_scores_a_larger_image(f64):
    from deepnet.models import DeepConvNet
    from deepnet.models.fully_convolutional import fully_convolutional, window_stride

    model = DeepConvNet(dtype="float64")
    fcn = fully_convolutional(model)
    assert not any(type(l).__name__ in ("Affine", "Dropout") for l in fcn.layers.values())
    x = np.random.default_rng(0).uniform(size=(3, 1, 28, 28))
    np.testing.assert_allclose(fcn.forward(x)[:, :, 0, 0], model.forward(x), rtol=1e-10, atol=1e-12)
    strip = np.random.default_rng(1).uniform(size=(1, 1, 28, 140))
    scores = fcn.forward(strip)
    assert scores.shape == (1, 10, 1, 15) and window_stride(fcn) == (8, 8)
