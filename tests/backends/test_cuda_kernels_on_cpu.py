"""The CUDA kernels' bodies, executed on the CPU index by index (tests/cuda_exec.py), against the base
backend's plain NumPy code, over many geometries and every dtype. Inputs are small integers, so sums are
exact in every precision and ties are everywhere: results must be equal, not close. Then the same suite
is run on mutants of the kernels (a wrong offset, bound, tie rule or stride test) to show it catches them."""
import itertools

import numpy as np
import pytest

from deepnet.backends import NumpyBackend
from deepnet.backends.cuda import kernels as cupy_kernels
from deepnet.backends.base import Backend

from .. import cuda_exec

pytestmark = pytest.mark.skipif(not cuda_exec.available(), reason="g++ is not installed")
DTYPES = [np.float16, np.float32, np.float64]


def geometries():
    """(n, c, h, w, kh, kw, stride, pad): strides 1-3, pads 0-2, kernels 1-5, non-square, batch 1, odd sizes."""
    fixed = [(1, 1, 1, 1, 1, 1, 1, 0), (1, 1, 5, 5, 5, 5, 1, 0), (2, 3, 7, 5, 3, 3, 1, 1), (1, 2, 9, 8, 3, 2, 2, 1),
             (3, 1, 6, 11, 2, 2, 2, 0), (2, 2, 8, 8, 4, 3, 3, 2), (1, 3, 13, 7, 5, 1, 3, 2), (2, 1, 4, 9, 1, 5, 1, 2)]
    rng = np.random.default_rng(0)
    out = list(fixed)
    while len(out) < 40:
        kh, kw = (int(v) for v in rng.integers(1, 6, 2))
        s = int(rng.integers(1, 4))
        p = int(rng.integers(0, 3))
        h, w = (int(v) for v in rng.integers(1, 12, 2))
        if p >= min(kh, kw) or h + 2 * p < kh or w + 2 * p < kw:
            continue  # a window must always see at least one pixel (max-pooling's contract)
        out.append((int(rng.integers(1, 4)), int(rng.integers(1, 4)), h, w, kh, kw, s, p))
    return out


GEOMETRIES = geometries()
REF = Backend()  # the plain-array reference code every backend inherits, on NumPy
SIZE = NumpyBackend.conv_output_size


def ints(rng, shape, dtype):
    return rng.integers(-3, 4, shape).astype(dtype)  # few distinct values: ties in every window


def run_im2col(kernel, x, kh, kw, s, p, fill=0.0):
    n, c, h, w = x.shape
    oh, ow = SIZE(h, kh, s, p), SIZE(w, kw, s, p)
    col = np.empty((n, kh, kw, c, oh, ow), x.dtype)
    return kernel(x, c, h, w, kh, kw, oh, ow, s, p, fill, col)


def run_col2im(kernel, col, x_shape, kh, kw, s, p):
    n, c, h, w = x_shape
    img = np.empty(x_shape, col.dtype)
    return kernel(col, c, h, w, kh, kw, col.shape[4], col.shape[5], s, p, img)


def run_max_pool(kernel, x, kh, kw, s, p):
    n, c, h, w = x.shape
    oh, ow = SIZE(h, kh, s, p), SIZE(w, kw, s, p)
    out, arg = np.empty((n, c, oh, ow), x.dtype), np.empty((n, c, oh, ow), np.int32)
    return kernel(x, c, h, w, kh, kw, oh, ow, s, p, out, arg)


def run_max_pool_backward(kernel, dout, arg, x_shape, kh, kw, s, p):
    n, c, h, w = x_shape
    dx = np.empty(x_shape, dout.dtype)
    return kernel(dout, arg.astype(np.int32), c, h, w, kh, kw, dout.shape[2], dout.shape[3], s, p, dx)


def check(name, kernel, dtype, geometries=GEOMETRIES):
    """Run kernel `name` against the reference over the geometries; the first mismatch raises."""
    rng = np.random.default_rng(1)
    for n, c, h, w, kh, kw, s, p in geometries:
        if name.startswith("max_pool") and p >= min(kh, kw):
            continue  # the Pooling layer refuses windows made only of padding (test below)
        x = ints(rng, (n, c, h, w), dtype)
        oh, ow = SIZE(h, kh, s, p), SIZE(w, kw, s, p)
        where = f"{name} {np.dtype(dtype).name} n={n} c={c} {h}x{w} kernel {kh}x{kw} stride {s} pad {p}"
        if name == "im2col":
            for fill in (0.0, -2.0):
                np.testing.assert_array_equal(run_im2col(kernel, x, kh, kw, s, p, fill),
                                              REF.im2col(x, kh, kw, s, p, fill=fill), err_msg=where)
        elif name == "col2im":
            col = ints(rng, (n, kh, kw, c, oh, ow), dtype)
            ref = REF.col2im(col.astype(np.float64), x.shape, kh, kw, s, p).astype(dtype)  # exact: small ints
            np.testing.assert_array_equal(run_col2im(kernel, col, x.shape, kh, kw, s, p), ref, err_msg=where)
        elif name == "max_pool":
            out, arg = run_max_pool(kernel, x, kh, kw, s, p)
            ref_out, ref_arg = REF.max_pool(x, kh, kw, s, p)
            np.testing.assert_array_equal(out, ref_out, err_msg=where)
            np.testing.assert_array_equal(arg, ref_arg, err_msg=where + " (arg-max: the first maximum)")
        elif name == "max_pool_backward":
            arg = REF.max_pool(x, kh, kw, s, p)[1]
            dout = ints(rng, (n, c, oh, ow), dtype)
            ref = REF.max_pool_backward(dout.astype(np.float64), arg, x.shape, kh, kw, s, p).astype(dtype)
            np.testing.assert_array_equal(run_max_pool_backward(kernel, dout, arg, x.shape, kh, kw, s, p), ref,
                                          err_msg=where)
        elif name in ("bn_stats", "bn_apply", "bn_backward", "bias_relu", "relu_backward"):
            check_normalisation(name, kernel, dtype, rng)
            return
        elif name == "bias_relu_pool":
            check_bias_relu_pool(kernel, dtype, rng)
            return
        elif name == "uniform":
            check_uniform(kernel, dtype)
            return
        elif name in ("adam", "adam_multi"):
            if np.dtype(dtype).itemsize < 4:
                return  # float16 parameters keep float32 master weights: the kernels only compile for them
            (check_adam if name == "adam" else check_adam_multi)(kernel, dtype, rng)
            return
        else:
            raise AssertionError(f"no CPU check for kernel {name}")


def check_normalisation(name, kernel, dtype, rng):
    """Batch norm's three passes and ReLU's backward against Backend.batch_norm / batch_norm_backward /
    relu_backward on random data over shapes (N, C, P) from (1, 1, 1) up, with and without the fused ReLU:
    equal to the last bit (each operation rounded to T as NumPy rounds it; the CPU compiles no fused
    multiply-add). The largest shape averages 65,536 samples a channel, past float16's largest value."""
    t = np.dtype(dtype).type
    for n, c, p in ((1, 1, 1), (2, 3, 5), (4, 7, 9), (3, 16, 1), (64, 2, 1024)):
        x = rng.standard_normal((n, c, p)).astype(dtype)
        gamma, beta = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
        where = f"{name} {np.dtype(dtype).name} shape {(n, c, p)}"
        for relu in (False, True):
            running = (rng.standard_normal(c).astype(dtype), rng.random(c).astype(dtype), 0.9)
            before = [a.copy() for a in running[:2]]
            y, ctx = REF.batch_norm(x, gamma, beta, 1e-5, relu, running=running)
            xc = x - ctx.mean[:, None]
            if name == "bn_stats":
                inv_std = np.empty(c, dtype)
                for update, (rm, rv) in ((1, running[:2]), (0, before)):
                    got_rm, got_rv = before[0].copy(), before[1].copy()
                    kernel(ctx.mean, ctx.var, t(1e-5), t(0.9), t(1 - 0.9), update, inv_std, got_rm, got_rv)
                    np.testing.assert_array_equal(inv_std, ctx.inv_std, err_msg=where)
                    np.testing.assert_array_equal(got_rm, rm, err_msg=f"{where} running mean, update={update}")
                    np.testing.assert_array_equal(got_rv, rv, err_msg=f"{where} running var, update={update}")
            elif name == "bn_apply":
                xhat, got = np.empty_like(x), np.empty_like(x)
                kernel(xc, ctx.inv_std.astype(dtype), gamma, beta, c, p, int(relu), xhat, got)
                np.testing.assert_array_equal(xhat, ctx.xhat, err_msg=where)
                np.testing.assert_array_equal(got, y, err_msg=f"{where} relu={relu}")
            elif name == "bn_backward":
                dy = rng.standard_normal(x.shape).astype(dtype)
                want = REF.batch_norm_backward(dy, gamma, ctx)[0]
                dyr = dy * (ctx.relu_out > 0) if relu else dy
                dx = np.empty_like(x)
                kernel(dyr, ctx.xhat, gamma, ctx.inv_std, dyr.sum(axis=(0, 2)), (dyr * ctx.xhat).sum(axis=(0, 2)), c,
                       p, n * p, dx)
                np.testing.assert_array_equal(dx, want, err_msg=f"{where} relu={relu}")
            elif name == "bias_relu":  # x as a convolution's product (N, C, P), beta as its bias
                want = REF.relu(x + beta[:, None])[0] if relu else None  # the reference: bias add, then ReLU
                if relu:
                    got = x.copy()
                    kernel(beta, c, p, got)
                    np.testing.assert_array_equal(got, want, err_msg=where)
            else:
                dout, out = rng.standard_normal(x.shape).astype(dtype), y if relu else np.maximum(y, 0)
                dx = np.empty_like(x)
                kernel(dout, out, dx)
                np.testing.assert_array_equal(dx, REF.relu_backward(dout, out), err_msg=where)


def check_bias_relu_pool(kernel, dtype, rng):
    """Bias, ReLU and 2x2/2 max-pooling over a convolution's product against the reference's three passes
    (Backend.conv2d_relu_pool's), odd sizes included (the last row and column dropped); equal to the last bit.
    A NaN in a window stays NaN, as through the reference's ReLU."""
    for n, c, h, w in ((1, 1, 2, 2), (2, 3, 5, 4), (3, 2, 8, 7), (1, 4, 3, 6)):
        y, b = ints(rng, (n, c, h, w), dtype), ints(rng, c, dtype)
        oh, ow = SIZE(h, 2, 2, 0), SIZE(w, 2, 2, 0)
        want = REF.max_pool(REF.relu(y + b[None, :, None, None])[0], 2, 2, 2, 0, with_arg=False)[0]
        got = np.empty((n, c, oh, ow), dtype)
        kernel(y, b, c, h, w, oh, ow, got)
        np.testing.assert_array_equal(got, want, err_msg=f"bias_relu_pool {np.dtype(dtype).name} {(n, c, h, w)}")
        y[0, 0, 0, 1] = np.nan
        kernel(y, b, c, h, w, oh, ow, got)
        assert np.isnan(got[0, 0, 0, 0]) and not np.isnan(got[0, 0, 1:]).any()


def philox4x32(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 (Random123) on arrays of uint32 counters: the reference the uniform kernel must equal."""
    c = [np.asarray(v, np.uint64) for v in (c0, c1, c2, c3)]
    k = [np.uint64(k0), np.uint64(k1)]
    mask = np.uint64(0xFFFFFFFF)
    for _ in range(10):
        p0, p1 = np.uint64(0xD2511F53) * c[0], np.uint64(0xCD9E8D57) * c[2]
        c = [((p1 >> np.uint64(32)) ^ c[1] ^ k[0]) & mask, p1 & mask, ((p0 >> np.uint64(32)) ^ c[3] ^ k[1]) & mask,
             p0 & mask]
        k = [(k[0] + np.uint64(0x9E3779B9)) & mask, (k[1] + np.uint64(0xBB67AE85)) & mask]
    return c


def test_the_philox_reference_gives_random123s_known_answers():
    kat = [((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
           ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
           ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
            (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1))]
    for ctr, key, want in kat:
        assert [int(v) for v in philox4x32(*ctr, *key)] == list(want)


def check_uniform(kernel, dtype):
    """The kernel's numbers equal the first Philox word's top 24 bits / 2^24 at counter (i, 0, 0, 0), for several
    keys; every number lies in [0, 1) and a large draw's mean is near 1/2."""
    if np.dtype(dtype).itemsize < 4:
        return  # the backend draws float32 for float16 work (24 bits do not fit)
    for key0, key1 in ((0, 0), (12345, 67890), (0xFFFFFFFF, 0x80000000)):
        size = 5000
        u = np.empty(size, dtype)
        kernel(key0, key1, u)
        i = np.arange(size, dtype=np.uint64)
        word = philox4x32(i & np.uint64(0xFFFFFFFF), i >> np.uint64(32), 0, 0, key0, key1)[0]
        want = ((word >> np.uint64(8)).astype(np.float64) * 2.0 ** -24).astype(dtype)
        np.testing.assert_array_equal(u, want, err_msg=f"uniform {np.dtype(dtype).name} key ({key0}, {key1})")
        assert u.min() >= 0 and u.max() < 1 and abs(float(u.mean()) - 0.5) < 0.02


def check_adam(kernel, dtype, rng):
    """Three steps of the kernel against Backend.adam_step on random data (sizes 1 to 1,000; bias-corrected
    step sizes of steps 1-3, a large and a tiny eps): equal to the last bit (the CPU compiles no fused
    multiply-add)."""
    for size in (1, 7, 1000):
        p, g = rng.standard_normal(size).astype(dtype), rng.standard_normal(size).astype(dtype)
        m, v = np.zeros(size, dtype), np.zeros(size, dtype)
        mine = [a.copy() for a in (p, m, v)]
        for t, eps in ((1, 1e-8), (2, 1e-3), (3, 1e-8)):
            lr_t = 0.001 * (1 - 0.999 ** t) ** 0.5 / (1 - 0.9 ** t)
            REF.adam_step(p, g, m, v, lr_t, 0.9, 0.999, eps)
            c = np.dtype(dtype).type
            kernel(g, c(lr_t), c(1 - 0.9), c(1 - 0.999), c(eps), *mine)
            for ref, got, what in zip((p, m, v), mine, "pmv"):
                np.testing.assert_array_equal(got, ref, err_msg=f"adam {np.dtype(dtype).name} size {size} step {t} "
                                                                f"{what}")
            g = rng.standard_normal(size).astype(dtype)


def check_adam_multi(kernel, dtype, rng):
    """Three steps of the many-parameter kernel against Backend.adam_step on each parameter: 1, 5 and all 16 slots
    filled (sizes 1 to 1,000, the unused slots' arrays the first's, never written), equal to the last bit."""
    slots = cupy_kernels.ADAM_SLOTS
    c = np.dtype(dtype).type
    for used in (1, 5, slots):
        sizes = [int(s) for s in rng.integers(1, 1000, used)]
        ref = [[rng.standard_normal(s).astype(dtype), np.zeros(s, dtype), np.zeros(s, dtype)] for s in sizes]
        mine = [[a.copy() for a in r] for r in ref]
        for t in (1, 2, 3):
            grads = [rng.standard_normal(s).astype(dtype) for s in sizes]
            lr_t = 0.001 * (1 - 0.999 ** t) ** 0.5 / (1 - 0.9 ** t)
            for (p, m, v), g in zip(ref, grads):
                REF.adam_step(p, g, m, v, lr_t, 0.9, 0.999, 1e-8)
            spare = mine[0][0].copy()
            pad = slots - used
            g_args = grads + [grads[0]] * pad
            p_args, m_args, v_args = ([q[k] for q in mine] + [mine[0][k]] * pad for k in range(3))
            kernel(*g_args, c(lr_t), c(1 - 0.9), c(1 - 0.999), c(1e-8), *sizes, *[0] * pad, *p_args, *m_args, *v_args,
                   size=sum(sizes))
            for k, (want, got) in enumerate(zip(ref, mine)):
                for w, g_, what in zip(want, got, "pmv"):
                    np.testing.assert_array_equal(g_, w, err_msg=f"adam_multi {np.dtype(dtype).name} {used} slots, "
                                                                 f"slot {k} step {t} {what}")
            if used > 1:
                assert not np.array_equal(spare, mine[0][0]) or sizes[0] == 0


def test_every_kernel_is_checked():
    assert sorted(cupy_kernels.KERNELS) == ["adam", "adam_multi", "bias_relu", "bias_relu_pool", "bn_apply",
                                            "bn_backward", "bn_stats", "col2im", "im2col", "max_pool",
                                            "max_pool_backward", "relu_backward", "uniform"]
    assert len(GEOMETRIES) == 40
    assert {g[6] for g in GEOMETRIES} == {1, 2, 3} and {g[7] for g in GEOMETRIES} == {0, 1, 2}
    assert {g[4] for g in GEOMETRIES} | {g[5] for g in GEOMETRIES} == {1, 2, 3, 4, 5}
    assert any(g[0] == 1 for g in GEOMETRIES) and any(g[2] != g[3] for g in GEOMETRIES)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", sorted(cupy_kernels.KERNELS))
def test_kernel_matches_the_reference(name, dtype):
    spec = cupy_kernels.KERNELS[name]
    check(name, cuda_exec.CpuKernel(spec, dtype, cupy_kernels.accumulator(np.dtype(dtype))), dtype)


def test_pooling_refuses_a_window_of_padding_only():
    from deepnet.layers import Pooling

    with pytest.raises(ValueError, match="pad smaller than the pool size"):
        Pooling((5, 1), stride=3, pad=2)


def test_an_out_of_range_read_is_an_error_not_garbage():
    spec = dict(cupy_kernels.IM2COL)
    spec["operation"] = spec["operation"].replace("img[((n * C + c) * H + h) * W + w]",
                                                  "img[((n * C + c) * H + h) * W + w + 1]")
    kernel = cuda_exec.CpuKernel(spec, np.float32)
    with pytest.raises(IndexError, match="outside a raw array"):
        run_im2col(kernel, np.ones((1, 1, 3, 3), np.float32), 1, 1, 1, 0)


# Planted bugs of the kinds a reviewer would try: each replaces one piece of a kernel's source.
MUTANTS = {
    "im2col: row offset off by one": ("im2col", "const int h = y * S + k - P;", "const int h = y * S + k - P + 1;"),
    "im2col: bound h <= H": ("im2col", "h >= 0 && h < H", "h >= 0 && h <= H"),
    "im2col: fill ignored at the left edge": ("im2col", "h >= 0 && h < H && w >= 0", "h >= 0 && h < H && w >= -1"),
    "col2im: stride test dropped": ("col2im", "if (ty < 0 || ty % S != 0) continue;", "if (ty < 0) continue;"),
    "col2im: last row excluded": ("col2im", "if (y >= OH) continue;", "if (y >= OH - 1) continue;"),
    "max_pool: last maximum instead of first": ("max_pool", "v > best", "v >= best"),
    "max_pool: arg-max offset k*KH+j": ("max_pool", "best_k = k * KW + j", "best_k = k * KH + j"),
    "max_pool: padding counted as zero": ("max_pool", "if (h < 0 || h >= H || w < 0 || w >= W) continue;\n"
                                          "            const ACC v = (ACC)img[((n * C + c) * H + h) * W + w];",
                                          "const ACC v = (h < 0 || h >= H || w < 0 || w >= W) ? (ACC)0 : "
                                          "(ACC)img[((n * C + c) * H + h) * W + w];"),
    "max_pool_backward: wrong window column": ("max_pool_backward", "arg[o] == k * KW + j", "arg[o] == j * KH + k"),
    "adam: v from g, not g squared": ("adam", "(gi * gi - (ACC)v)", "(gi - (ACC)v)"),
    "adam: m decays at beta2's rate": ("adam", "(ACC)one_minus_b1 * (gi", "(ACC)one_minus_b2 * (gi"),
    "adam: eps inside the root": ("adam", "(sqrt(vi) + (ACC)eps)", "sqrt(vi + (ACC)eps)"),
    "bn_apply: the ReLU left out": ("bn_apply", "if (RELU && (ACC)v < (ACC)0)", "if (false && (ACC)v < (ACC)0)"),
    "bn_apply: the next channel's scale": ("bn_apply", "(ACC)gamma[c] *", "(ACC)gamma[(c + 1) % C] *"),
    "bn_apply: channel from the pixel index": ("bn_apply", "const int c = (int)((i / P) % C);",
                                               "const int c = (int)(i % C);"),
    "bn_backward: the mean of dy added": ("bn_backward", "(ACC)dy[i] - (ACC)mean_dy", "(ACC)dy[i] + (ACC)mean_dy"),
    "bn_backward: the mean divided in T": ("bn_backward", "(T)((ACC)dbeta[c] / (ACC)M)",
                                           "(T)((ACC)dbeta[c] / (ACC)(T)M)", np.float16),
    "bn_backward: gamma of the next channel": ("bn_backward", "(ACC)gamma[c] *", "(ACC)gamma[(c + 1) % C] *"),
    "bn_stats: eps outside the root": ("bn_stats", "sqrt((ACC)(T)((ACC)var[i] + (ACC)eps))",
                                       "(ACC)eps + sqrt((ACC)(T)((ACC)var[i]))"),
    "bn_stats: the running variance from the mean": ("bn_stats", "(ACC)one_minus_momentum * (ACC)var[i]",
                                                     "(ACC)one_minus_momentum * (ACC)mean[i]"),
    "bn_stats: updates when told not to": ("bn_stats", "if (UPDATE) {", "if (true) {"),
    "adam_multi: a slot's offset off by one": ("adam_multi", "(j -= n2) < n3", "(j -= n2 - 1) < n3"),
    "adam_multi: a slot's arrays swapped": ("adam_multi", "ADAM_UPDATE_AT(p4, g4, m4, v4, j)",
                                            "ADAM_UPDATE_AT(p4, g5, m4, v4, j)"),
    "adam_multi: the last slot skipped": ("adam_multi", "(j -= n14) < n15", "(j -= n14) < 0"),
    "bn_backward: the xhat term left out": ("bn_backward", "(ACC)centred - (ACC)along", "(ACC)centred"),
    "bias_relu: the next channel's bias": ("bias_relu", "b[(i / P) % C]", "b[(i / P + 1) % C]"),
    "bias_relu: the channel from the pixel index": ("bias_relu", "b[(i / P) % C]", "b[i % C]"),
    "bias_relu: negatives pass": ("bias_relu", "(ACC)v < (ACC)0", "(ACC)v < (ACC)-1"),
    "bias_relu_pool: the window's last column missed": ("bias_relu_pool", "j < 2", "j < 1"),
    "bias_relu_pool: negatives pass": ("bias_relu_pool", "T best = (T)(ACC)0;", "T best = (T)(ACC)-100;"),
    "bias_relu_pool: the row stride W taken as OW": ("bias_relu_pool", "corner + k * W + j", "corner + k * OW + j"),
    "relu_backward: passes at zero": ("relu_backward", "(ACC)y[i] > (ACC)0", "(ACC)y[i] >= (ACC)0"),
    "uniform: a round constant wrong": ("uniform", "0xCD9E8D57ULL", "0xCD9E8D59ULL"),
    "uniform: the key not bumped": ("uniform", "k1 += 0xBB67AE85u;", ""),
    "uniform: 23 bits": ("uniform", "(c0 >> 8)", "(c0 >> 9)"),
    "max_pool_backward: swapped OH and OW": ("max_pool_backward", "((n * C + c) * OH + y) * OW + x",
                                             "((n * C + c) * OW + y) * OH + x"),
}


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_a_planted_bug_fails_the_suite(mutant):
    name, old, new, *dtype = MUTANTS[mutant]  # float32 unless the bug shows only in another dtype
    dtype = dtype[0] if dtype else np.float32
    spec = dict(cupy_kernels.KERNELS[name])
    assert spec["operation"].count(old) == 1, f"the mutant no longer applies to {name}'s source"
    spec["operation"] = spec["operation"].replace(old, new)
    kernel = cuda_exec.CpuKernel(spec, dtype)
    with pytest.raises((AssertionError, IndexError)):
        check(name, kernel, dtype)


def test_the_geometries_cover_the_combinations_that_matter():
    # every stride meets every padding somewhere, so stride/pad interactions are exercised
    pairs = {(g[6], g[7]) for g in GEOMETRIES}
    assert pairs >= set(itertools.product((1, 2, 3), (0, 1))), sorted(pairs)
