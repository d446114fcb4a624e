"""The CPU backend's chunked, multi-threaded kernels against the plain reference code."""
import time

import numpy as np
import pytest

from deepnet import backends
from deepnet.backends.cpu import threads as cpu_workers
from deepnet.backends.base import Backend
from deepnet.backends.cpu.conv import ChunkedConv
from deepnet.backends.cpu.threads import Workers

SHAPES = [  # (x shape, out channels, kernel, stride, pad)
    ((5, 3, 9, 7), 4, (3, 3), 1, 1),
    ((4, 2, 11, 11), 3, (3, 3), 2, 2),
    ((3, 4, 8, 8), 6, (1, 1), 1, 0),
    ((6, 1, 7, 9), 2, (5, 3), 3, 2),
    ((7, 16, 6, 6), 8, (3, 3), 1, 2),
    ((3, 4, 8, 8), 5, (1, 1), 2, 0),  # ResNet's shortcut: patches and col2im without the padded copy
    ((4, 3, 9, 8), 4, (3, 2), 2, 0),
]


@pytest.fixture(autouse=True)
def split_small_work(monkeypatch):
    """The test shapes are far below the work at which the backend splits a pass among its threads:
    split them anyway, so that the threaded code is what is tested."""
    from deepnet.backends.cpu import tuning

    monkeypatch.setattr(tuning, "SPLIT_WORK", 0)


def kernels_available():
    options = [None]
    try:
        from deepnet.backends.cpu import kernels as numba_kernels
        options.append(numba_kernels)
    except ImportError:
        pass
    return options


def conv_paths():
    """ChunkedConv's ways of running a chunk: plain NumPy, the Numba kernels called one by one, and (where
    NumPy's BLAS can be called from them) each chunk as one compiled call."""
    paths = [pytest.param({"kernels": k}, id="numpy" if k is None else "numba") for k in kernels_available()]
    if len(paths) > 1:
        from deepnet.backends.cpu import blas as numba_blas

        if numba_blas.addresses() is not None:
            paths.append(pytest.param({"kernels": kernels_available()[-1], "blas": numba_blas.addresses()},
                                      id="numba+blas"))
    return paths


def reference(x, w, b, stride, pad, dy):
    bk = backends.create("cpu", dtype=x.dtype.name)
    y, context = Backend.conv2d(bk, x, w, b, stride, pad)
    dx, dw, db = Backend.conv2d_backward(bk, dy, w, context, stride, pad)
    return y, dx, dw, db


@pytest.mark.parametrize("shape,o,k,stride,pad", SHAPES)
@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("path", conv_paths())
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_chunked_convolution_matches_the_reference(shape, o, k, stride, pad, threads, path, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((o, shape[1]) + k).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    y_ref, _ = Backend.conv2d(backends.create("cpu", dtype="float64"), x, w, b, stride, pad)
    dy = rng.standard_normal(y_ref.shape).astype(dtype)
    y_ref, dx_ref, dw_ref, db_ref = reference(*(a.astype(np.float64) for a in (x, w, b)), stride, pad,
                                              dy.astype(np.float64))
    # a chunk of one or two images, so every batch is cut into several chunks
    conv = ChunkedConv(Workers(threads), chunk_bytes=2 * x[0].size * k[0] * k[1] * 8, **path)
    y = conv.forward(x, w, b, stride, pad)
    dx, dw, db = conv.backward(dy, x, w, stride, pad)
    _, dw_only, db_only = conv.backward(dy, x, w, stride, pad, need_dx=False)
    tol = 1e-12 if dtype == "float64" else 2e-5
    for got, want in ((y, y_ref), (dx, dx_ref), (dw, dw_ref), (db, db_ref), (dw_only, dw_ref), (db_only, db_ref)):
        assert got.shape == want.shape and got.dtype == np.dtype(dtype)
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * 10)


def test_chunked_convolution_is_bitwise_repeatable_in_float32():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((33, 8, 12, 12)).astype(np.float32)
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
    dy = rng.standard_normal((33, 16, 12, 12)).astype(np.float32)
    conv = ChunkedConv(Workers(2), chunk_bytes=20_000, **conv_paths()[-1].values[0])
    first = conv.backward(dy, x, w, 1, 1)
    for _ in range(3):
        again = conv.backward(dy, x, w, 1, 1)
        for a, b in zip(first, again):
            np.testing.assert_array_equal(a, b)


def test_the_layer_takes_the_chunked_path_and_keeps_no_patches(cpu32):
    from deepnet.layers import Convolution

    conv = Convolution(3, 4, 3, pad=1)
    x = cpu32.rng.uniform((2, 3, 5, 5))
    conv.forward(x, train=True)
    from deepnet.backends.cpu.backend import ChunkedContext

    # the context keeps the input only (a reference), no patches
    assert isinstance(conv.context, ChunkedContext) and conv.context.x is x
    dx = conv.backward(cpu32.rng.uniform((2, 4, 5, 5)))
    assert dx.shape == x.shape and conv.dW.shape == conv.W.shape


def test_float16_convolution_is_float32_inside_rounded_once():
    """float16 convolution runs the float32 path on the exact float16 values and rounds each result once."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2, 5, 5)).astype(np.float16)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float16)
    b = rng.standard_normal(3).astype(np.float16)
    dy = rng.standard_normal((2, 3, 5, 5)).astype(np.float16)
    cpu = backends.create("cpu", dtype="float16")
    y, ctx = cpu.conv2d(x, w, b, 1, 1)
    grads = cpu.conv2d_backward(dy, w, ctx, 1, 1)
    ref = backends.create("cpu", dtype="float64")
    y64, ctx64 = ref.conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), 1, 1)
    grads64 = ref.conv2d_backward(dy.astype(np.float64), w.astype(np.float64), ctx64, 1, 1)
    assert y.dtype == np.float16 and all(g.dtype == np.float16 for g in grads)
    # float32 accumulation, one rounding to float16: within a float16 rounding of the exact result
    np.testing.assert_allclose(y.astype(np.float64), y64, rtol=2e-3, atol=2e-3)
    for g, g64 in zip(grads, grads64):
        np.testing.assert_allclose(g.astype(np.float64), g64, rtol=2e-3, atol=4e-3)


def test_split_matmul_equals_numpy(monkeypatch):
    from deepnet.backends.cpu import tuning

    monkeypatch.setattr(tuning, "SPLIT_PRODUCT_WORK", 1)
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((7, 40)), rng.standard_normal((40, 101))
    out = np.empty((7, 101))
    Workers(3).matmul(a, b, out)
    np.testing.assert_allclose(out, a @ b, rtol=1e-13)
    bk = backends.create("cpu", dtype="float64")
    np.testing.assert_allclose(bk.matmul(a, b), a @ b, rtol=1e-13)


def test_workers_give_each_chunk_to_one_fixed_thread():
    seen = []
    Workers(3).run(lambda k, chunks: seen.append((k, chunks)), Workers.chunks(10, 3))
    assert sorted(seen) == [(0, [(0, 3), (9, 10)]), (1, [(3, 6)]), (2, [(6, 9)])]


def test_several_threads_put_numpys_blas_on_one(monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    Workers(2).run(lambda k, chunks: None, Workers.chunks(4, 1))
    blas = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    assert blas and any(i["num_threads"] == 1 for i in blas)


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_bad_thread_count_is_a_clear_error(monkeypatch, value):
    monkeypatch.setenv("DEEPNET_THREADS", value)
    with pytest.raises(backends.ConfigError, match="DEEPNET_THREADS"):
        cpu_workers.default_threads()


def test_thread_count_from_the_environment(monkeypatch):
    monkeypatch.setenv("DEEPNET_THREADS", "3")
    assert cpu_workers.default_threads() == 3 and Workers().threads == 3


@pytest.mark.parametrize("shape,k,stride,pad", [((3, 2, 9, 7), 2, 2, 0), ((5, 3, 11, 11), 3, 2, 1),
                                                ((4, 1, 8, 8), 3, 1, 1), ((7, 2, 8, 8), 2, 2, 0)])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_threaded_max_pool_matches_the_reference(shape, k, stride, pad, threads):
    bk = backends.create("cpu", dtype="float64")
    bk._workers = Workers(threads)
    x = np.round(np.random.default_rng(3).standard_normal(shape), 1)  # rounding makes ties
    y, arg = bk.max_pool(x, k, k, stride, pad)
    y_ref, arg_ref = Backend.max_pool(bk, x, k, k, stride, pad)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(arg, arg_ref)
    assert bk.max_pool(x, k, k, stride, pad, with_arg=False)[1] is None
    np.testing.assert_array_equal(bk.max_pool(x, k, k, stride, pad, with_arg=False)[0], y_ref)
    dy = np.random.default_rng(4).standard_normal(y.shape)
    np.testing.assert_allclose(bk.max_pool_backward(dy, arg, shape, k, k, stride, pad),
                               Backend.max_pool_backward(bk, dy, arg_ref, shape, k, k, stride, pad), rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(2, 3, 6, 40), (3, 2, 5, 35), (1, 4, 4, 18), (3, 5, 8, 8), (2, 3, 9, 7)])
def test_the_2x2_pooling_of_long_and_short_rows_matches_the_reference_with_ties_and_nans(shape, dtype):
    """Rows long enough for the compiled 2x2 kernel's vector loop (and its tail), and rows shorter than a vector
    (their planes in one loop): the max and the first maximum's offset as the reference finds them, with ties
    everywhere and NaNs in every position of a window (the first NaN wins), with the arg-max and without it; the
    backward's gradient as the reference's."""
    bk = backends.create("cpu", dtype=dtype)
    rng = np.random.default_rng(5)
    x = rng.integers(-2, 3, shape).astype(dtype)  # few values: ties in most windows
    x[rng.random(shape) < 0.05] = np.nan
    y, arg = bk.max_pool(x, 2, 2, 2)
    y_ref, arg_ref = Backend.max_pool(bk, x, 2, 2, 2)
    assert np.isnan(y_ref).any() and (~np.isnan(y_ref)).any()
    np.testing.assert_array_equal(y, y_ref)  # NaN where NaN
    np.testing.assert_array_equal(arg, arg_ref)
    np.testing.assert_array_equal(bk.max_pool(x, 2, 2, 2, with_arg=False)[0], y_ref)
    # and back: each window's gradient to its first maximum, in rows long enough for the backward's vector loop;
    # an odd last row or column gets none
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = bk.max_pool_backward(dy, arg, shape, 2, 2, 2)
    np.testing.assert_array_equal(dx, Backend.max_pool_backward(bk, dy, arg_ref, shape, 2, 2, 2))
    assert dx.dtype == np.dtype(dtype) and np.count_nonzero(dx) == np.count_nonzero(dy)


def test_max_pool_propagates_nan():
    x = np.zeros((1, 1, 2, 2))
    x[0, 0, 1, 0] = np.nan
    y, _ = backends.create("cpu", dtype="float64").max_pool(x, 2, 2, 2)
    assert np.isnan(y[0, 0, 0, 0])


def test_a_forked_child_gets_working_threads():
    import multiprocessing

    _FORKED.append(Workers(2))
    _FORKED[0].run(lambda k, chunks: None, Workers.chunks(4, 1))  # the parent's pool exists
    with multiprocessing.get_context("fork").Pool(1) as pool:  # the child inherits _FORKED
        assert pool.apply_async(_run_in_child).get(timeout=60) == [0, 1]


_FORKED = []


def _run_in_child():
    return sorted(k for k, _ in _FORKED[0].run(lambda k, chunks: (k, chunks), Workers.chunks(4, 1)))


@pytest.mark.parametrize("n,size,threads", [(10, 2, 2), (100, 2, 2), (7, 3, 3), (1, 1, 2), (5, 100, 2), (9, 4, 4)])
def test_balanced_chunks_cover_the_batch_and_share_it_evenly(n, size, threads):
    chunks = Workers(threads).balanced_chunks(n, size)
    assert chunks[0][0] == 0 and chunks[-1][1] == n and all(a[1] == b[0] for a, b in zip(chunks, chunks[1:]))
    assert all(0 < e - s <= max(size, -(-n // threads)) for s, e in chunks)
    per_thread = [sum(e - s for s, e in chunks[k::threads]) for k in range(threads)]
    assert max(per_thread) - min(per_thread) <= -(-n // len(chunks))


@pytest.mark.parametrize("shape", [(3, 5), (64, 16, 28, 28)], ids=["small", "split-among-threads"])
def test_relu_passes_match_the_reference(shape):
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape).astype(np.float32)
    x.flat[:3] = [np.nan, 0.0, -0.0]
    dout = rng.standard_normal(shape).astype(np.float32)
    cpu, ref = backends.create("cpu"), Backend()
    y, ctx = cpu.relu(x)
    ry, rctx = ref.relu(x)
    np.testing.assert_array_equal(y, ry)  # NaN included: it must pass through, as np.maximum lets it
    assert np.isnan(y.flat[0])
    np.testing.assert_array_equal(cpu.relu_backward(dout, ctx), ref.relu_backward(dout, rctx))


@pytest.mark.parametrize("size,channels,beta", [(5, 12, 0.75), (3, 2, 0.75), (1, 4, 0.6), (5, 7, 0.5)])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_lrn_passes_match_the_reference(size, channels, beta, threads, dtype):
    """The compiled LRN (AlexNet's 0.75 by two square roots, any other beta by a power), window sums clipped
    at the edges, against the base backend's NumPy expressions."""
    rng = np.random.default_rng(6)
    x = (3 * rng.standard_normal((5, channels, 4, 3))).astype(dtype)
    dout = rng.standard_normal(x.shape).astype(dtype)
    cpu, ref = backends.create("cpu", dtype=dtype), Backend(dtype=dtype)
    cpu.set_threads(threads)
    tol = 1e-13 if dtype == "float64" else 2e-6
    y, ctx = cpu.lrn(x, size, 0.3, beta, 1.5)
    ry, rctx = ref.lrn(x, size, 0.3, beta, 1.5)
    for got, want in zip((y, *ctx[1:]), (ry, *rctx[1:])):
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    np.testing.assert_allclose(cpu.lrn_backward(dout, ctx, size, 0.3, beta),
                               ref.lrn_backward(dout, rctx, size, 0.3, beta), rtol=tol * 10, atol=tol * 10)


def test_the_first_layer_skips_its_input_gradient():
    from deepnet.models import SimpleConvNet

    with backends.use("cpu", dtype="float64") as bk:
        bk.rng.seed(0)
        model = SimpleConvNet()
        x, t = bk.rng.uniform((4, 1, 28, 28)), np.arange(4)
        model.loss(x, t, train=True)
        dx = model.backward()
        full = {k: g.copy() for k, g in model.grads().items()}
        model.loss(x, t, train=True)
        assert model.backward(input_grad=False) is None
        assert dx.shape == x.shape
        for k, g in model.grads().items():
            np.testing.assert_array_equal(g, full[k], err_msg=k)
    for bk in (backends.create("cpu"), Backend()):
        x = np.ones((2, 3, 6, 6), np.float32)
        w = np.ones((4, 3, 3, 3), np.float32)
        y, ctx = bk.conv2d(x, w, np.zeros(4, np.float32), 1, 1)
        dx, dw, db = bk.conv2d_backward(np.ones_like(y), w, ctx, 1, 1, need_dx=False)
        assert dx is None and dw.shape == w.shape and db.shape == (4,)


def test_chunk_size_follows_the_caches():
    from deepnet.backends.cpu.conv import default_chunk_bytes
    from deepnet.backends.cpu.tuning import MAX_CHUNK_BYTES, MIN_CHUNK_BYTES

    assert default_chunk_bytes(2, last_level_cache=260 << 20) == MAX_CHUNK_BYTES  # a server's large L3
    assert default_chunk_bytes(4, last_level_cache=16 << 20) == 2 << 20  # half the cache over 4 threads
    assert default_chunk_bytes(8, last_level_cache=4 << 20) == MIN_CHUNK_BYTES  # never below a core's L2
    assert default_chunk_bytes(2, last_level_cache=0) == MIN_CHUNK_BYTES  # the caches unknown


def test_the_spinning_crew_returns_each_workers_result_in_order_and_raises_their_errors():
    pytest.importorskip("numba")
    workers = Workers(3)
    assert workers._crew() is not None  # with Numba, the spinning threads serve the tasks
    for _ in range(200):  # many hand-offs in a row: none lost, none run twice
        out = workers.run(lambda k, chunks: (k, sum(e - s for s, e in chunks)), Workers.chunks(10, 1))
        assert out == [(0, 4), (1, 3), (2, 3)]
    assert workers.run(lambda k, chunks: k, Workers.chunks(2, 1)) == [0, 1]  # worker 2 idle this time

    def fail(k, chunks):
        if k == 2:
            raise ValueError("from worker 2")
        return k

    with pytest.raises(ValueError, match="from worker 2"):
        workers.run(fail, Workers.chunks(3, 1))
    assert workers.run(lambda k, chunks: k, Workers.chunks(3, 1)) == [0, 1, 2]  # still serving
    finished = []

    def calling_thread_fails(k, chunks):
        if k == 0:
            raise KeyError("from the calling thread")
        time.sleep(0.05)
        finished.append(k)

    with pytest.raises(KeyError):
        workers.run(calling_thread_fails, Workers.chunks(3, 1))
    assert sorted(finished) == [1, 2]  # the others had finished their shares before the error came out
    workers.threads = 2  # set_threads: a crew of the new size
    assert workers.run(lambda k, chunks: k, Workers.chunks(3, 1)) == [0, 1]
    assert workers._crew().size == 1


def test_workers_asked_again_from_a_task_or_another_thread_give_the_same_results():
    import threading

    workers = Workers(2)
    chunks = Workers.chunks(6, 1)
    inner = []

    def outer(k, mine):
        inner.append(workers.run(lambda j, c: (j, c), chunks))  # nested: run in turn on this thread
        return k

    assert workers.run(outer, chunks) == [0, 1]
    assert inner == [[(0, chunks[0::2]), (1, chunks[1::2])]] * 2
    results = []
    threads = [threading.Thread(target=lambda: results.append(
        [workers.run(lambda j, c: (j, len(c)), chunks) for _ in range(50)])) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 3 and all(r == [[(0, 3), (1, 3)]] * 50 for r in results)


def test_without_spinning_the_pool_serves(monkeypatch):
    monkeypatch.setenv("DEEPNET_SPIN", "0")
    workers = Workers(2)
    assert workers._crew() is None
    assert workers.run(lambda k, chunks: (k, chunks), Workers.chunks(4, 1)) == [(0, [(0, 1), (2, 3)]),
                                                                             (1, [(1, 2), (3, 4)])]
    monkeypatch.setenv("DEEPNET_SPIN", "maybe")
    with pytest.raises(backends.ConfigError, match="DEEPNET_SPIN"):
        Workers(2).run(lambda k, chunks: k, Workers.chunks(4, 1))


def test_small_passes_stay_on_the_calling_thread(monkeypatch):
    from deepnet.backends.cpu import tuning

    monkeypatch.setattr(tuning, "SPLIT_WORK", 1 << 22)
    monkeypatch.setattr(tuning, "ELEMENT_WORK", 16)
    workers = Workers(2)
    split = []
    monkeypatch.setattr(workers, "run", lambda work, chunks: split.append(len(chunks)) or [work(0, chunks)])
    conv = ChunkedConv(workers, kernels=kernels_available()[-1])
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((10, 1, 28, 28)), rng.standard_normal((16, 1, 3, 3))  # 1.1 M multiply-adds
    y = conv.forward(x, w, np.zeros(16), 1, 1)
    np.testing.assert_allclose(y, Backend.conv2d(backends.create("cpu", dtype="float64"), x, w, np.zeros(16), 1, 1)[0],
                               rtol=1e-12, atol=1e-12)
    assert split == []
    x = rng.standard_normal((10, 4, 28, 28))  # 4.5 M: split
    conv.forward(x, rng.standard_normal((16, 4, 3, 3)), np.zeros(16), 1, 1)
    assert split == [2]
    bk = backends.create("cpu", dtype="float64")
    bk._workers = workers
    bk.max_pool(rng.standard_normal((10, 16, 28, 28)), 2, 2, 2)  # 125,440 elements: one thread
    assert split == [2]
    bk.max_pool(rng.standard_normal((100, 16, 28, 28)), 2, 2, 2)
    assert split == [2, 2]
