"""Composite layers, the deeper models, augmentation, freezing, transfer and ensembles."""
import numpy as np
import pytest

from deepnet.augment import Augment
from deepnet.commands.evaluate import ensemble
from deepnet.layers import (BatchNormalization, Concat, Convolution, GlobalAveragePooling, Pooling, Relu,
                            Residual)
from deepnet.models import GoogLeNetSmall, ResNet, create, describe, stacked_3x3_demo, vgg16
from deepnet.optimizers import Adam
from deepnet.training import TrainConfig, Trainer
from deepnet.training.trainer import transfer

from ..gradcheck import check_layer, check_model


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def test_residual_identity_gradients(f64):
    block = Residual([Convolution(3, 3, 3, pad=1), Relu(), Convolution(3, 3, 3, pad=1)])
    assert check_layer(block, randn(2, 3, 5, 5)) < 1e-6


def test_residual_projection_gradients(f64):
    # BN after the ReLU: directly after a convolution it would make the bias gradient exactly 0,
    # which central differences can only answer with rounding noise
    block = Residual([Convolution(2, 4, 3, stride=2, pad=1), Relu(), BatchNormalization(4)],
                     shortcut=[Convolution(2, 4, 1, stride=2)])
    assert check_layer(block, randn(3, 2, 6, 6), train=True) < 1e-6


def test_plain_block_has_no_skip(f64):
    branch = [Convolution(2, 2, 3, pad=1)]
    x = randn(1, 2, 4, 4)
    plain, res = Residual(branch, skip=False), Residual(branch)
    np.testing.assert_allclose(res.forward(x) - plain.forward(x), x)
    assert check_layer(plain, x) < 1e-6


@pytest.mark.parametrize("skip,projection", [(True, False), (True, True), (False, False)])
def test_a_residual_block_and_its_relu_run_as_one_pass_with_the_same_results(f64, skip, projection):
    """runner fuses a Residual and the Relu after it (the backend's add_relu): the output and every gradient are
    those of the two run one by one (ResNet's numerical gradient check below runs the fused blocks)."""
    from deepnet.layers import runner

    def layers():
        shortcut = [Convolution(2, 3, 1)] if projection else None
        return [Residual([Convolution(2, 3, 3, pad=1), Relu(), Convolution(3, 3, 3, pad=1)] if projection else
                         [Convolution(2, 2, 3, pad=1), Relu(), Convolution(2, 2, 3, pad=1)], shortcut, skip=skip),
                Relu()]

    x, results = randn(2, 2, 5, 5, seed=1), []
    for fuse in (False, True):
        net = layers()
        for a in net[0].params().values():  # the same weights both ways
            a[...] = np.random.default_rng(a.size).standard_normal(a.shape)
        y = runner.forward(net, x, train=True, fuse=fuse)
        dy = randn(*y.shape, seed=2)
        dx = runner.backward(net, dy)
        results.append((y, dx, [g.copy() for g in net[0].grads().values()]))
        assert (net[0].relu_out is not None) == fuse
    (y0, dx0, g0), (y1, dx1, g1) = results
    np.testing.assert_allclose(y1, y0, rtol=1e-12)
    np.testing.assert_allclose(dx1, dx0, rtol=1e-12)
    for a, b in zip(g1, g0):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_add_relu_matches_the_reference_and_lets_nan_through(cpu32):
    from deepnet.backends.base import Backend

    rng = np.random.default_rng(3)
    a, b = (rng.standard_normal((4, 3, 5, 5)).astype(np.float32) for _ in range(2))
    a[1, 2, 3, 4] = np.nan
    y, context = cpu32.add_relu(a, b)
    want = Backend.add_relu(cpu32, a, b)[0]
    np.testing.assert_array_equal(y, want)
    assert context is y and np.isnan(y[1, 2, 3, 4]) and (y[~np.isnan(y)] >= 0).all()


def test_concat_gradients(f64):
    block = Concat([[Convolution(3, 2, 1), Relu()], [Convolution(3, 1, 3, pad=1)],
                    [Pooling(3, stride=1, pad=1), Convolution(3, 2, 1)]])
    x = randn(2, 3, 5, 5)
    assert block.forward(x).shape == (2, 5, 5, 5) and block.output_shape((3, 5, 5)) == (5, 5, 5)
    assert check_layer(block, x) < 1e-6


def test_global_average_pooling_gradients(f64):
    assert check_layer(GlobalAveragePooling(), randn(2, 3, 4, 5)) < 1e-6


def test_small_resnet_and_googlenet_gradients(f64):
    x = np.random.default_rng(0).random((2, 1, 8, 8))
    t = np.array([1, 0])
    # inference mode (running statistics), so each BatchNorm is a fixed affine map and every bias matters
    assert check_model(ResNet(8, input_shape=(1, 8, 8), num_classes=3, widths=(2, 3, 4)), x, t, limit=3) < 1e-6
    assert check_model(GoogLeNetSmall(input_shape=(1, 8, 8), num_classes=3), x, t, limit=2) < 1e-6


def test_vgg16_has_138m_parameters(cpu32):
    model = vgg16(dtype="float16")  # half the memory; the count is what is checked
    assert model.num_params() == 138_357_544
    assert model.layers["affine1"].in_features == 512 * 7 * 7


def test_model_shapes_and_sizes(cpu32):
    x = cpu32.rng.uniform((2, 1, 28, 28))
    for name, params in (("resnet20", 272_970), ("plainnet20", 270_122), ("googlenet", None), ("vgg", None)):
        m = create(name)
        assert m.forward(x).shape == (2, 10), name
        if params:
            assert m.num_params() == params, name
    resnet = ResNet(32)
    assert sum(isinstance(l, Residual) for l in resnet.layers.values()) == 15  # 3 stages x 5 blocks
    assert "whole input" in describe(GoogLeNetSmall())
    assert "2 stacked 3x3 (stride 1)                5x5            18" in stacked_3x3_demo()


@pytest.mark.parametrize("name", ["vgg", "resnet8", "plainnet8", "googlenet", "simpleconvnet"])
def test_each_model_trains_a_few_steps(cpu32, name):
    m = create(name)
    opt = Adam(lr=0.003)
    x = cpu32.rng.uniform((16, 1, 28, 28))
    t = np.arange(16) % 10
    losses = []
    for _ in range(8):
        losses.append(float(m.loss(x, t, train=True)))
        m.backward()
        opt.update(m.trainable_params(), m.trainable_grads())
    assert losses[-1] < losses[0], losses


def test_augmentation_keeps_shape_is_seeded_and_identity_when_off(cpu32):
    x = cpu32.rng.uniform((6, 1, 28, 28))
    aug = Augment.parse("shift=2,rotate=10,scale=0.1,brightness=0.1,contrast=0.1")
    cpu32.rng.seed(1)
    a = aug(x)
    cpu32.rng.seed(1)
    b = aug(x)
    np.testing.assert_array_equal(a, b)
    assert a.shape == x.shape and a.dtype == x.dtype and not np.array_equal(a, x)
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    np.testing.assert_allclose(Augment(shift=0)(x), x)
    with pytest.raises(ValueError, match="unknown augmentation 'spin'"):
        Augment.parse("spin=3")


def test_integer_crop_is_an_exact_shift(cpu32):
    x = cpu32.rng.uniform((1, 1, 8, 8))
    cpu32.rng.seed(0)
    y = Augment(crop=2)(x)
    # a whole-pixel translation: every output pixel is an input pixel or background
    assert set(np.round(y.ravel(), 6)) <= set(np.round(x.ravel(), 6)) | {0.0}


def test_augmentation_only_in_training(cpu32, tmp_path):
    cfg = dict(model="simpleconvnet", epochs=1, batch_size=100, limit=200, eval_test=False, recipe="book")
    plain = Trainer.from_config(TrainConfig(**cfg, out=str(tmp_path / "plain")), progress=False, log=lambda *a: None)
    aug = Trainer.from_config(TrainConfig(**cfg, out=str(tmp_path / "aug"), augment="shift=3,rotate=20"),
                              progress=False, log=lambda *a: None)
    # same seed and weights: evaluation must not see the augmentation
    assert plain.evaluate(plain.x_test[:500], plain.t_test[:500]) == aug.evaluate(aug.x_test[:500], aug.t_test[:500])
    plain.fit()
    aug.fit()
    assert plain.history[0]["loss"] != aug.history[0]["loss"]  # ... while training does


def test_frozen_parameters_stay_bit_identical(cpu32):
    m = create("deepconvnet")
    m.freeze("conv1", "conv2")
    before = {k: v.copy() for k, v in m.params().items()}
    opt = Adam()
    m.loss(cpu32.rng.uniform((4, 1, 28, 28)), np.arange(4), train=True)
    m.backward()
    opt.update(m.trainable_params(), m.trainable_grads())
    after = m.params()
    for k in before:
        same = np.array_equal(before[k], after[k])
        assert same == k.startswith(("conv1.", "conv2.")), k


def test_transfer_copies_all_but_the_new_head(cpu32, tmp_path):
    src = create("deepconvnet")
    src.save(tmp_path / "w.npz")
    dst = create("deepconvnet", num_classes=5)
    head_before = dst.params()["affine2.W"].copy()
    copied = transfer(dst, tmp_path / "w.npz", reinit=["affine2"])
    assert "conv1.W" in copied and "affine2.W" not in copied
    np.testing.assert_array_equal(dst.params()["conv3.W"], src.params()["conv3.W"])
    np.testing.assert_array_equal(dst.params()["affine2.W"], head_before)
    with pytest.raises(ValueError, match=r"'affine2.W' has shape \(50, 10\), but the model's is \(50, 5\)"):
        transfer(create("deepconvnet", num_classes=5), tmp_path / "w.npz")


def test_ensemble_is_the_mean_of_its_members():
    a, b, c = (np.random.default_rng(i).random((4, 3)) for i in range(3))
    np.testing.assert_allclose(ensemble([a, b, c]), (a + b + c) / 3)
