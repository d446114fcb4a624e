"""CuPy against NumPy, layer by layer. Marked gpu: they skip, with the reason, where no CUDA device answers."""
import numpy as np
import pytest

from deepnet import backends
from deepnet.layers import (LRN, LSTM, RNN, Affine, BatchNormalization, Convolution, Embedding, LeakyRelu, Pooling,
                            Relu, Sigmoid, Tanh, TimeAffine, TimeSoftmaxWithLoss, TransposedConvolution)
from deepnet.models import DeepConvNet

pytestmark = pytest.mark.gpu

TOL = {"float64": dict(rtol=1e-10, atol=1e-10), "float32": dict(rtol=2e-4, atol=2e-5),
       "float16": dict(rtol=2e-2, atol=2e-2)}

CASES = [
    ("conv 3x3 pad 1", lambda: Convolution(3, 8, 3, pad=1), (4, 3, 11, 9)),
    ("conv 5x5 stride 2 pad 2", lambda: Convolution(2, 4, 5, stride=2, pad=2), (3, 2, 13, 13)),
    ("conv 1x1", lambda: Convolution(6, 3, 1), (2, 6, 5, 5)),
    ("max pool 2", lambda: Pooling(2), (2, 3, 8, 8)),
    ("max pool 3/2 pad 1", lambda: Pooling(3, stride=2, pad=1), (2, 3, 9, 9)),
    ("avg pool", lambda: Pooling(2, mode="avg"), (2, 3, 6, 6)),
    ("affine", lambda: Affine(48, 7), (5, 3, 4, 4)),
    ("relu", lambda: Relu(), (4, 9)),
    ("sigmoid", lambda: Sigmoid(), (4, 9)),
    ("tanh", lambda: Tanh(), (4, 9)),
    ("batchnorm conv", lambda: BatchNormalization(3), (4, 3, 5, 5)),
    ("lrn", lambda: LRN(), (2, 8, 4, 4)),
    ("transposed conv 4/2 pad 1", lambda: TransposedConvolution(3, 4, 4, stride=2, pad=1), (2, 3, 5, 6)),
    ("transposed conv 3/2 op 1", lambda: TransposedConvolution(2, 3, 3, stride=2, pad=1, output_padding=1),
     (2, 2, 4, 4)),
    ("leaky relu", lambda: LeakyRelu(0.2), (4, 9)),
    ("rnn", lambda: RNN(3, 5), (2, 4, 3)),
    ("lstm", lambda: LSTM(3, 5), (2, 4, 3)),
    ("time affine", lambda: TimeAffine(3, 6), (2, 4, 3)),
]


def _run(backend, make, x, dout, seed=0):
    with backends.use(backend):
        backend.rng.seed(seed)
        layer = make()
        y = layer.forward(backend.to_device(x), train=True)
        dx = layer.backward(backend.to_device(dout))
        grads = {k: backend.to_numpy(v) for k, v in layer.grads().items()}
        return backend.to_numpy(y), backend.to_numpy(dx), grads


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
@pytest.mark.parametrize("name,make,shape", CASES, ids=[c[0] for c in CASES])
def test_layer_matches_numpy(gpu, dtype, name, make, shape):
    if dtype == "float16" and name in ("batchnorm conv", "lrn", "rnn", "lstm"):
        pytest.skip("normalisation and recurrent layers are not run in pure float16")
    cpu = backends.create("cpu", dtype=dtype)
    gpu_b = backends.create("gpu", dtype=dtype)
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(dtype)
    with backends.use(cpu):
        out_shape = make().forward(cpu.to_device(x), train=True).shape
    dout = rng.standard_normal(out_shape).astype(dtype)
    ref, got = _run(cpu, make, x, dout), _run(gpu_b, make, x, dout)
    np.testing.assert_allclose(got[0], ref[0], **TOL[dtype], err_msg=f"{name} forward")
    np.testing.assert_allclose(got[1], ref[1], **TOL[dtype], err_msg=f"{name} backward dx")
    for k in ref[2]:
        np.testing.assert_allclose(got[2][k], ref[2][k], **TOL[dtype], err_msg=f"{name} d{k}")


def test_same_seed_same_weights_on_both(gpu):
    cpu = backends.create("cpu", dtype="float32")
    with backends.use(cpu):
        cpu.rng.seed(5)
        a = DeepConvNet().state_numpy()
    with backends.use(gpu):
        gpu.rng.seed(5)
        b = DeepConvNet().state_numpy()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_deepconvnet_step_matches_numpy(gpu):
    x = np.random.default_rng(0).random((6, 1, 28, 28))
    results = [train_pass(name, lambda: DeepConvNet(dropout=0.0), x, np.arange(6)) for name in ("cpu", "gpu")]
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-10)
    for k in results[0][1]:
        np.testing.assert_allclose(results[1][1][k], results[0][1][k], rtol=1e-8, atol=1e-10, err_msg=k)


def train_pass(backend: str, make, x, t):
    """(loss, {name: gradient} on the host) of one training pass of make() on `backend` in float64, its
    weights drawn from seed 3."""
    bk = backends.create(backend, dtype="float64")
    with backends.use(bk):
        bk.rng.seed(3)
        m = make()
        loss = float(m.loss(bk.to_device(x), bk.to_device(t), train=True))
        m.backward()
        return loss, {k: bk.to_numpy(v) for k, v in m.grads().items()}


def test_mixing_numpy_into_a_gpu_layer_is_a_clear_type_error(gpu):
    with backends.use(gpu):
        layer = Convolution(1, 2, 3)
        with pytest.raises(TypeError, match="expected a cupy.ndarray"):
            layer.forward(np.zeros((1, 1, 5, 5), np.float32))


def test_cuda_timer_and_sync(gpu):
    with backends.use(gpu):
        a = gpu.rng.normal((2048, 2048))
        with gpu.timer() as t:
            (a @ a).sum()
        assert 0 < t.seconds < 5
        gpu.synchronize()
        mem = gpu.memory_info()
        assert mem["device_total_bytes"] > 0


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
@pytest.mark.parametrize("shape,k,stride,pad", [((2, 3, 9, 7), (3, 3), 1, 1), ((2, 2, 11, 11), (3, 3), 2, 1),
                                                ((1, 4, 8, 8), (2, 2), 2, 0), ((2, 1, 7, 9), (5, 3), 3, 2)])
def test_kernels_match_the_reference_code(gpu, dtype, shape, k, stride, pad):
    """im2col, col2im, max_pool and max_pool_backward kernels against the base backend's array code."""
    ref = backends.Backend  # the plain-xp reference implementations, run on CuPy arrays
    cp = gpu.xp
    x = gpu.to_device(np.random.default_rng(0).standard_normal(shape).astype(dtype))
    tol = TOL[dtype]
    col = gpu.im2col(x, *k, stride, pad)
    np.testing.assert_allclose(gpu.to_numpy(col), gpu.to_numpy(ref.im2col(gpu, x, *k, stride, pad)), **tol)
    dcol = cp.asarray(np.random.default_rng(1).standard_normal(col.shape).astype(dtype))
    np.testing.assert_allclose(gpu.to_numpy(gpu.col2im(dcol, shape, *k, stride, pad)),
                               gpu.to_numpy(ref.col2im(gpu, dcol, shape, *k, stride, pad)), **tol)
    y, arg = gpu.max_pool(x, *k, stride, pad)
    y_ref, arg_ref = ref.max_pool(gpu, x, *k, stride, pad)
    np.testing.assert_array_equal(gpu.to_numpy(y), gpu.to_numpy(y_ref))
    np.testing.assert_array_equal(gpu.to_numpy(arg), gpu.to_numpy(arg_ref))
    dout = cp.asarray(np.random.default_rng(2).standard_normal(y.shape).astype(dtype))
    np.testing.assert_allclose(gpu.to_numpy(gpu.max_pool_backward(dout, arg, shape, *k, stride, pad)),
                               gpu.to_numpy(ref.max_pool_backward(gpu, dout, arg_ref, shape, *k, stride, pad)), **tol)


def test_one_rank_nccl_communicator_reduces_on_the_device(gpu):
    """A 1-rank communicator on the GPU reduces through NCCL (set up over MPI), a real NCCL all-reduce."""
    pytest.importorskip("mpi4py", reason="mpi4py is not installed: pip install 'deepnet[distributed]'")
    from deepnet.backends.cuda.nccl import NcclReducer
    from deepnet.distributed import Communicator

    with backends.use(gpu):
        comm = Communicator()
        assert isinstance(comm.device_reducer, NcclReducer)
        grads = {"a": gpu.to_device(np.arange(6, dtype=np.float32).reshape(2, 3)),
                 "b": gpu.to_device(np.ones(4, np.float16))}
        comm.reduce_gradients(grads, 0.5)
        np.testing.assert_allclose(gpu.to_numpy(grads["a"]), np.arange(6).reshape(2, 3) * 0.5)
        assert grads["b"].dtype == np.float16 and float(grads["b"].sum()) == 2.0
        assert comm.bytes_reduced == 10 * 4 and comm.reductions == 1


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_embedding_and_masked_loss_match_numpy(gpu, dtype):
    """The embedding's scatter-add backward (repeated indices summed) and the padded softmax loss on CuPy."""
    rng = np.random.default_rng(3)
    idx = rng.integers(0, 6, (3, 7))
    idx[0, :3] = 2  # repeated indices
    scores = rng.standard_normal((3, 7, 6)).astype(dtype)
    labels = rng.integers(0, 6, (3, 7))
    labels[1, 4:] = -1
    out = {}
    for bk in (backends.create("cpu", dtype=dtype), gpu):
        with backends.use(bk):
            bk.rng.seed(0)
            emb = Embedding(6, 4, dtype=dtype)
            y = emb.forward(bk.to_device(idx))
            emb.backward(bk.to_device(np.ones(y.shape, dtype=dtype)))
            loss = TimeSoftmaxWithLoss()
            value = float(loss.forward(bk.to_device(scores), bk.to_device(labels)))
            out[bk.name] = (bk.to_numpy(y), bk.to_numpy(emb.dW), value, bk.to_numpy(loss.backward()))
    for a, b in zip(out["cpu"], out["gpu"]):
        np.testing.assert_allclose(b, a, **TOL[dtype])



@pytest.mark.parametrize("model_name", ["fasterrcnn", "segnet"])
def test_detection_and_segnet_steps_match_numpy(gpu, model_name):
    """Faster R-CNN (RoI Align, the proposals' host round trip, the sampled losses) and SegNet (index unpooling):
    the loss and every gradient on CuPy as on NumPy, in float64, from the same weights and the same draws."""
    from deepnet.models import create

    rng = np.random.default_rng(1)
    x = rng.random((3, 1, 32, 32))
    if model_name == "fasterrcnn":
        t = np.zeros((3, 2, 5))
        t[:, 0] = (3, 4, 15, 20, 2)
        t[:2, 1] = (18, 10, 30, 30, 7)
    else:
        t = rng.integers(0, 11, (3, 32, 32))
    results = [train_pass(name, lambda: create(model_name, input_shape=(1, 32, 32), num_classes=11), x, t)
               for name in ("cpu", "gpu")]
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-9)
    for k in results[0][1]:
        np.testing.assert_allclose(results[1][1][k], results[0][1][k], rtol=1e-7, atol=1e-10, err_msg=k)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_adam_kernel_matches_the_reference_update(gpu, dtype):
    """The CuPy backend's one-kernel Adam step (the adam kernel, kernels.ADAM) against Backend.adam_step on NumPy,
    three steps; the GPU may fuse a multiply and an add (last-bit differences), so close, not equal."""
    from deepnet.backends.base import Backend

    rng = np.random.default_rng(3)
    p, m, v = rng.standard_normal(4099).astype(dtype), np.zeros(4099, dtype), np.zeros(4099, dtype)
    dev = [gpu.to_device(a) for a in (p, m, v)]
    for t in (1, 2, 3):
        g = rng.standard_normal(4099).astype(dtype)
        lr_t = 0.001 * (1 - 0.999 ** t) ** 0.5 / (1 - 0.9 ** t)
        Backend().adam_step(p, g, m, v, lr_t, 0.9, 0.999, 1e-8)
        gpu.adam_step(dev[0], gpu.to_device(g), dev[1], dev[2], lr_t, 0.9, 0.999, 1e-8)
    for ref, got in zip((p, m, v), dev):
        np.testing.assert_allclose(gpu.to_numpy(got), ref, rtol=1e-5 if dtype == "float32" else 1e-12, atol=1e-7)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_many_parameter_adam_kernel_matches_the_reference_update(gpu, dtype):
    """adam_steps over 20 parameters of mixed shapes (two launches of the adam_multi kernel, the second with unused
    slots) against Backend.adam_step on each, three steps, moments included; close, as above."""
    from deepnet.backends.base import Backend

    rng = np.random.default_rng(5)
    shapes = [(int(rng.integers(1, 40)), int(rng.integers(1, 300))) for _ in range(20)]
    host = [[rng.standard_normal(s).astype(dtype), np.zeros(s, dtype), np.zeros(s, dtype)] for s in shapes]
    dev = [[gpu.to_device(a) for a in q] for q in host]
    for t in (1, 2, 3):
        grads = [rng.standard_normal(s).astype(dtype) for s in shapes]
        lr_t = 0.001 * (1 - 0.999 ** t) ** 0.5 / (1 - 0.9 ** t)
        for (p, m, v), g in zip(host, grads):
            Backend().adam_step(p, g, m, v, lr_t, 0.9, 0.999, 1e-8)
        gpu.adam_steps([q[0] for q in dev], [gpu.to_device(g) for g in grads], [q[1] for q in dev],
                       [q[2] for q in dev], lr_t, 0.9, 0.999, 1e-8)
    for ref, got in zip(host, dev):
        for a, b in zip(ref, got):
            np.testing.assert_allclose(gpu.to_numpy(b), a, rtol=1e-5 if dtype == "float32" else 1e-12, atol=1e-7)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_bias_relu_kernel_matches_the_reference_convolution(gpu, dtype):
    """conv2d_relu on the GPU (the product, then the bias_relu kernel in place) and its backward, and inference's
    conv2d_relu_pool, against the NumPy reference's layer by layer passes."""
    from deepnet.backends.base import Backend

    rng = np.random.default_rng(6)
    x, w = rng.standard_normal((3, 4, 9, 7)).astype(dtype), rng.standard_normal((5, 4, 3, 3)).astype(dtype)
    b = rng.standard_normal(5).astype(dtype)
    ref = Backend(dtype=dtype)
    want, ctx = ref.conv2d_relu(x, w, b, 1, 1)
    got, gctx = gpu.conv2d_relu(*(gpu.to_device(a) for a in (x, w, b)), 1, 1)
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == "float32" else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gpu.to_numpy(got), want, **tol)
    pooled = gpu.conv2d_relu_pool(*(gpu.to_device(a) for a in (x, w, b)), 1, 1)  # the bias_relu_pool kernel
    np.testing.assert_allclose(gpu.to_numpy(pooled), ref.conv2d_relu_pool(x, w, b, 1, 1), **tol)
    dy = rng.standard_normal(want.shape).astype(dtype)
    for a, b_ in zip(gpu.conv2d_relu_backward(gpu.to_device(dy), gpu.to_device(w), gctx, 1, 1),
                     ref.conv2d_relu_backward(dy, w, ctx, 1, 1)):
        np.testing.assert_allclose(gpu.to_numpy(a), b_, **tol)


def test_the_uniform_kernel_draws_on_the_device(gpu):
    """Dropout's numbers (the uniform kernel, kernels.UNIFORM: Philox4x32-10) are in [0, 1), reproducible from the
    seed, and the draw's mean and spread are a uniform's."""
    gpu.rng.seed(11)
    a = gpu.to_numpy(gpu.rng.device_uniform((1000, 100), "float32"))
    gpu.rng.seed(11)
    b = gpu.to_numpy(gpu.rng.device_uniform((1000, 100), "float32"))
    np.testing.assert_array_equal(a, b)
    assert a.min() >= 0 and a.max() < 1 and abs(a.mean() - 0.5) < 0.005 and abs(a.std() - 12 ** -0.5) < 0.005


@pytest.mark.parametrize("relu", [False, True])
def test_the_batch_norm_kernels_match_numpy(gpu, relu):
    """The CuPy backend's batch norm (the bn_stats, bn_apply and bn_backward kernels, the ReLU's mask by the
    relu_backward kernel) against the NumPy reference in float64, forward and backward with the batch's statistics."""
    from deepnet.backends.base import Backend

    rng = np.random.default_rng(4)
    x, dy = rng.standard_normal((4, 8, 25)), rng.standard_normal((4, 8, 25))
    gamma, beta = rng.standard_normal(8), rng.standard_normal(8)
    ref = Backend(dtype="float64")
    g64 = backends.create("gpu", dtype="float64")
    running_ref = (np.zeros(8), np.ones(8), 0.9)
    running = (g64.to_device(np.zeros(8)), g64.to_device(np.ones(8)), 0.9)
    y_ref, ctx_ref = ref.batch_norm(x, gamma, beta, 1e-5, relu, running=running_ref)
    y, ctx = g64.batch_norm(*(g64.to_device(a) for a in (x, gamma, beta)), 1e-5, relu, running=running)
    np.testing.assert_allclose(g64.to_numpy(y), y_ref, rtol=1e-12, atol=1e-12)
    for a, b in zip(running[:2], running_ref[:2]):  # the running statistics, updated by the bn_stats kernel
        np.testing.assert_allclose(g64.to_numpy(a), b, rtol=1e-12, atol=1e-12)
    want = ref.batch_norm_backward(dy, gamma, ctx_ref)
    got = g64.batch_norm_backward(g64.to_device(dy), g64.to_device(gamma), ctx)
    for a, b in zip(got, want):
        np.testing.assert_allclose(g64.to_numpy(a), b, rtol=1e-10, atol=1e-12)
