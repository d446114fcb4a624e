"""deepnet's layers: each a class with forward(x, train) and backward(dout)."""
from .activations import LeakyRelu, Relu, Sigmoid, Tanh
from .affine import Affine
from .base import Container, Layer
from .binary import BinaryAffine, BinaryConvolution, Sign
from .composite import Concat, GlobalAveragePooling, Residual
from .convolution import Convolution
from .dropout import Dropout
from .loss import BinaryCrossEntropyWithLogits, HuberQLoss, SoftmaxWithLoss, log_softmax, softmax
from .normalization import LRN, BatchNormalization
from .pooling import MaxUnpooling, Pooling
from .shape import Reshape
from .roi import RoIAlign
from .recurrent import LSTM, RNN, Embedding, TimeAffine, TimeSoftmaxWithLoss
from .transposed import TransposedConvolution, bilinear_kernel, init_bilinear
from . import runner  # noqa: E402  (after the layers it fuses)

__all__ = [
    "Layer", "Affine", "Relu", "Sigmoid", "Tanh", "Convolution", "Pooling", "Dropout",
    "BatchNormalization", "LRN", "SoftmaxWithLoss", "softmax", "log_softmax", "Container", "Residual", "Concat",
    "GlobalAveragePooling", "LeakyRelu", "TransposedConvolution", "Sign", "BinaryConvolution", "BinaryAffine",
    "bilinear_kernel", "init_bilinear", "runner", "Embedding", "RNN", "LSTM", "TimeAffine", "TimeSoftmaxWithLoss",
    "MaxUnpooling", "RoIAlign", "Reshape", "BinaryCrossEntropyWithLogits", "HuberQLoss",
]
