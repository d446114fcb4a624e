"""The layers and models refuse a call they cannot serve (a wrong shape, dtype, stride or label; an empty
batch) with an error that says what was expected and what came."""

import numpy as np
import pytest

from deepnet.models import SimpleConvNet


def test_layers_refuse_bad_calls(cpu32):
    from deepnet.layers import Affine, Convolution, Pooling, Relu, SoftmaxWithLoss

    conv = Convolution(1, 4, 3, pad=1)
    with pytest.raises(RuntimeError, match="Convolution.backward was called before Convolution.forward"):
        conv.backward(np.zeros((2, 4, 5, 5), np.float32))
    conv.forward(np.zeros((2, 1, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"expects dout of shape \(2, 4, 5, 5\).*got \(2, 4, 4, 4\)"):
        conv.backward(np.zeros((2, 4, 4, 4), np.float32))
    for layer, dout in ((Affine(3, 2), np.zeros((1, 2), np.float32)), (Relu(), np.zeros(3, np.float32)),
                        (Pooling(2), np.zeros((1, 1, 1, 1), np.float32))):
        with pytest.raises(RuntimeError, match="before"):
            layer.backward(dout)
    with pytest.raises(RuntimeError, match="before forward"):
        SoftmaxWithLoss().backward()
    with pytest.raises(ValueError, match="kernel_size >= 1"):
        Convolution(1, 4, 0)
    with pytest.raises(ValueError, match="pool_size >= 1"):
        Pooling(0)
    with pytest.raises(ValueError, match="empty batch"):
        conv.forward(np.zeros((0, 1, 5, 5), np.float32))
    with pytest.raises(TypeError, match="holds float32 weights but got float64 input"):
        conv.forward(np.zeros((1, 1, 5, 5)))


@pytest.mark.parametrize("labels, kind, match", [
    ([0, -1], ValueError, "got values from -1 to 0"),
    ([0, 10], ValueError, "got values from 0 to 10"),
    ([0.5, 1.0], TypeError, "integer class indices"),
])
def test_bad_labels_are_refused(cpu32, labels, kind, match):
    model = SimpleConvNet()
    with pytest.raises(kind, match=match):
        model.loss(np.zeros((2, 1, 28, 28), np.float32), np.array(labels))


def test_model_input_dtypes(cpu32):
    model = SimpleConvNet()
    x = np.random.default_rng(0).random((3, 1, 28, 28))
    y64 = model.forward(x)  # float64 in: cast to the model's float32, as documented
    assert y64.dtype == np.float32
    np.testing.assert_array_equal(y64, model.forward(x.astype(np.float32)))
    with pytest.raises(TypeError, match="expects floating-point input in float32.*got uint8"):
        model.forward((x * 255).astype(np.uint8))
    with pytest.raises(ValueError, match="empty batch"):
        model.forward(np.zeros((0, 1, 28, 28), np.float32))


def test_layers_refuse_fractional_strides_and_integer_leaky_input(cpu32):
    from deepnet.layers import Convolution, LeakyRelu, Pooling, TransposedConvolution

    with pytest.raises(ValueError, match="stride must be a whole number; got 1.5"):
        TransposedConvolution(2, 2, stride=1.5)
    with pytest.raises(ValueError, match="stride must be a whole number"):
        Convolution(1, 2, 3, stride=2.5)
    with pytest.raises(ValueError, match="stride must be a whole number"):
        Pooling(2, stride=0.5)
    assert TransposedConvolution(2, 2, stride=2.0).stride == 2
    with pytest.raises(TypeError, match="LeakyRelu expects floating-point input; got int64"):
        LeakyRelu(0.2).forward(np.array([-5, 5]))


def test_predict_on_an_empty_batch_says_so(cpu32):
    from deepnet.models import SimpleConvNet

    with pytest.raises(ValueError, match="got an empty batch"):
        SimpleConvNet().predict(np.zeros((0, 1, 28, 28), np.float32))
