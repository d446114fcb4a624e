"""CUDA kernels for the CuPy backend, as CuPy ElementwiseKernel sources.

Each kernel runs one thread per output element and gathers what it needs, so results are
deterministic (no atomics) and match the base backend's plain array code, which stays the
reference they are tested against. Sums are accumulated in `ACC` (float for float16/float32,
double for float64). Without a GPU, CI compiles the exact source CuPy generates from these strings with
NVIDIA's compiler (tests/backends/test_cuda_compile.py), and runs each kernel body once per index on the CPU
against that reference (tests/backends/test_cuda_kernels_on_cpu.py): gathers only, so that loop is exact. Keep it
so: a kernel that used shared memory, barriers or atomics would need a GPU to be tested.
"""
from __future__ import annotations

def _gather_windows(body: str, out: str) -> str:
    """A thread per input pixel (n, c, h, w) that visits every output (y, x) whose window covers it,
    at window offset (k, j), runs `body` there to add into `acc`, and stores `acc` in `out`."""
    return """
    long long r = i;
    const int w = r % W; r /= W;
    const int h = r % H; r /= H;
    const int c = r % C;
    const long long n = r / C;
    ACC acc = 0;
    for (int k = 0; k < KH; ++k) {
        const int ty = h + P - k;
        if (ty < 0 || ty % S != 0) continue;
        const int y = ty / S;
        if (y >= OH) continue;
        for (int j = 0; j < KW; ++j) {
            const int tx = w + P - j;
            if (tx < 0 || tx % S != 0) continue;
            const int x = tx / S;
            if (x >= OW) continue;""" + body + """        }
    }
    """ + out + """ = (T)acc;"""


# col[n, i, j, c, y, x] = img[n, c, y*s + i - p, x*s + j - p] (or `fill` outside the image).
IM2COL = dict(
    in_params="raw T img, int32 C, int32 H, int32 W, int32 KH, int32 KW, int32 OH, int32 OW, int32 S, int32 P, "
              "T fill",
    out_params="T col",
    operation="""
    long long r = i;
    const int x = r % OW; r /= OW;
    const int y = r % OH; r /= OH;
    const int c = r % C; r /= C;
    const int j = r % KW; r /= KW;
    const int k = r % KH;
    const long long n = r / KH;
    const int h = y * S + k - P;
    const int w = x * S + j - P;
    col = (h >= 0 && h < H && w >= 0 && w < W) ? img[((n * C + c) * H + h) * W + w] : fill;
    """,
    name="deepnet_im2col",
)

# img[n, c, h, w] = sum over (i, j) with h = y*s + i - p, w = x*s + j - p of col[n, i, j, c, y, x].
COL2IM = dict(
    in_params="raw T col, int32 C, int32 H, int32 W, int32 KH, int32 KW, int32 OH, int32 OW, int32 S, int32 P",
    out_params="T img",
    operation="""
""" + _gather_windows("""
            acc += (ACC)col[((((n * KH + k) * KW + j) * C + c) * OH + y) * OW + x];
""", "img") + """
    """,
    name="deepnet_col2im",
)

# The thread's output pixel (n, c, y, x) of an (N, C, OH, OW) array, from its index.
_OUTPUT_PIXEL = """
    long long r = i;
    const int x = r % OW; r /= OW;
    const int y = r % OH; r /= OH;
    const int c = r % C;
    const long long n = r / C;
"""

# out[n, c, y, x] = max over the window; arg = offset k*KW + j of the first maximum.
MAX_POOL = dict(
    in_params="raw T img, int32 C, int32 H, int32 W, int32 KH, int32 KW, int32 OH, int32 OW, int32 S, int32 P",
    out_params="T out, int32 arg",
    operation=_OUTPUT_PIXEL + """
    bool found = false;
    ACC best = 0;
    int best_k = 0;
    for (int k = 0; k < KH; ++k) {
        const int h = y * S + k - P;
        for (int j = 0; j < KW; ++j) {
            const int w = x * S + j - P;
            if (h < 0 || h >= H || w < 0 || w >= W) continue;
            const ACC v = (ACC)img[((n * C + c) * H + h) * W + w];
            if (!found || v > best) { best = v; best_k = k * KW + j; found = true; }
        }
    }
    out = (T)best;
    arg = best_k;
    """,
    name="deepnet_max_pool",
)

# dx[n, c, h, w] = sum of dout over the windows whose first maximum is this pixel.
MAX_POOL_BACKWARD = dict(
    in_params="raw T dout, raw int32 arg, int32 C, int32 H, int32 W, int32 KH, int32 KW, int32 OH, int32 OW, "
              "int32 S, int32 P",
    out_params="T dx",
    operation="""
""" + _gather_windows("""
            const long long o = ((n * C + c) * OH + y) * OW + x;
            if (arg[o] == k * KW + j) acc += (ACC)dout[o];
""", "dx") + """
    """,
    name="deepnet_max_pool_backward",
)

# Adam's whole update of one parameter in one pass (Backend.adam_step's three lines): p, m and v are read and
# written in place, g read; the constants come in the arrays' precision, as NumPy rounds a Python float. In
# ACC (float for float16 parameters); the CPU executor runs it bit for bit as the reference, while NVRTC may
# contract a product and a sum into one fused multiply-add (a last-bit difference on the GPU).
ADAM = dict(
    in_params="raw T g, T lr_t, T one_minus_b1, T one_minus_b2, T eps",
    out_params="T p, T m, T v",
    operation="""
    const ACC gi = (ACC)g[i];
    const ACC mi = (ACC)m + (ACC)one_minus_b1 * (gi - (ACC)m);
    const ACC vi = (ACC)v + (ACC)one_minus_b2 * (gi * gi - (ACC)v);
    m = (T)mi;
    v = (T)vi;
    p = (T)((ACC)p - (ACC)lr_t * mi / (sqrt(vi) + (ACC)eps));
    """,
    name="deepnet_adam",
)

# Adam's update of up to ADAM_SLOTS parameters in one launch (a multi-tensor apply): one thread an element of
# the parameters laid end to end, n0, n1, ... elements each (0 for an unused slot), finds its slot by the
# running sizes and runs ADAM's body there. The slots are separate arrays (no flat buffer to keep in step with
# the model and the checkpoints); a slot's four arrays come as kernel arguments, 4 x 16 array descriptors
# (about 2 KB) inside the 4 KB CUDA gives every launch's arguments.
ADAM_SLOTS = 16


def _adam_multi() -> dict:
    k = range(ADAM_SLOTS)
    step = """
    #define ADAM_UPDATE_AT(P, G, M, V, J) { \\
        const ACC gi = (ACC)G[J]; \\
        const ACC mi = (ACC)M[J] + (ACC)one_minus_b1 * (gi - (ACC)M[J]); \\
        const ACC vi = (ACC)V[J] + (ACC)one_minus_b2 * (gi * gi - (ACC)V[J]); \\
        M[J] = (T)mi; \\
        V[J] = (T)vi; \\
        P[J] = (T)((ACC)P[J] - (ACC)lr_t * mi / (sqrt(vi) + (ACC)eps)); \\
    }
    long long j = i;
    if (j < n0) ADAM_UPDATE_AT(p0, g0, m0, v0, j)
""" + "".join(f"    else if ((j -= n{s - 1}) < n{s}) ADAM_UPDATE_AT(p{s}, g{s}, m{s}, v{s}, j)\n"
              for s in k if s) + "    #undef ADAM_UPDATE_AT\n"
    return dict(
        in_params=", ".join(f"raw T g{s}" for s in k) + ", T lr_t, T one_minus_b1, T one_minus_b2, T eps, "
        + ", ".join(f"int64 n{s}" for s in k),
        out_params=", ".join(f"raw T {a}{s}" for a in "pmv" for s in k),
        operation=step,
        name="deepnet_adam_multi",
    )


ADAM_MULTI = _adam_multi()


# Uniform numbers in [0, 1) drawn on the device, for dropout masks: element i is the first word of Philox4x32-10
# (Salmon et al., 2011; cuRAND's and NumPy's counter-based generator) at counter (i, 0) under a 64-bit key the
# host's seeded generator draws for each call, so a run is reproducible and resumes exactly with no state on the
# device; its top 24 bits give the number (exact in float32). The CPU executor runs it against a NumPy Philox
# that reproduces Random123's known answers (tests/backends/test_cuda_kernels_on_cpu.py).
UNIFORM = dict(
    in_params="uint32 key0, uint32 key1",
    out_params="T u",
    operation="""
    unsigned int c0 = (unsigned int)((unsigned long long)i & 0xffffffffULL);
    unsigned int c1 = (unsigned int)((unsigned long long)i >> 32), c2 = 0u, c3 = 0u;
    unsigned int k0 = key0, k1 = key1;
    for (int r = 0; r < 10; ++r) {
        const unsigned long long p0 = 0xD2511F53ULL * (unsigned long long)c0;
        const unsigned long long p1 = 0xCD9E8D57ULL * (unsigned long long)c2;
        c0 = (unsigned int)(p1 >> 32) ^ c1 ^ k0;
        c1 = (unsigned int)p1;
        c2 = (unsigned int)(p0 >> 32) ^ c3 ^ k1;
        c3 = (unsigned int)p0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    u = (T)((ACC)(c0 >> 8) * (ACC)5.9604644775390625e-08);
    """,
    name="deepnet_uniform",
)

# Batch normalisation's passes, the per-channel sums left to CuPy's reductions: x and its gradients seen as
# (N, C, P), channel c = (i / P) % C. BN_STATS, one thread a channel: inv_std = 1 / sqrt(var + eps) and, in
# training, the running statistics' update running = momentum running + (1 - momentum) batch (the reference's
# three operations and the layer's six, Backend.batch_norm with `running`). BN_APPLY: xhat = xc inv_std,
# y = gamma xhat + beta and, with RELU, max(y, 0), in one pass writing both (its five). BN_BACKWARD with the
# batch's statistics: dx = gamma inv_std (dy - dbeta / M - xhat dgamma / M) from the per-channel sums (its six).
BN_STATS = dict(
    in_params="raw T mean, raw T var, T eps, T momentum, T one_minus_momentum, int32 UPDATE",
    out_params="T inv_std, raw T running_mean, raw T running_var",
    operation="""
    const T root = (T)sqrt((ACC)(T)((ACC)var[i] + (ACC)eps));
    inv_std = (T)((ACC)1 / (ACC)root);
    if (UPDATE) {
        running_mean[i] = (T)((ACC)(T)((ACC)running_mean[i] * (ACC)momentum)
                              + (ACC)(T)((ACC)one_minus_momentum * (ACC)mean[i]));
        running_var[i] = (T)((ACC)(T)((ACC)running_var[i] * (ACC)momentum)
                             + (ACC)(T)((ACC)one_minus_momentum * (ACC)var[i]));
    }
    """,
    name="deepnet_bn_stats",
)

BN_APPLY = dict(
    in_params="raw T xc, raw T inv_std, raw T gamma, raw T beta, int32 C, int32 P, int32 RELU",
    out_params="T xhat, T y",
    operation="""
    const int c = (int)((i / P) % C);
    const T h = (T)((ACC)xc[i] * (ACC)inv_std[c]);
    xhat = h;
    const T scaled = (T)((ACC)gamma[c] * (ACC)h);
    T v = (T)((ACC)scaled + (ACC)beta[c]);
    if (RELU && (ACC)v < (ACC)0) v = (T)(ACC)0;
    y = v;
    """,
    name="deepnet_bn_apply",
)

# The means dbeta / M and dgamma / M in ACC, rounded once to T: M (the samples a channel averages, N P) passes
# float16's largest value (65,504) at ResNet's batch 64 on 32x32 pictures.
BN_BACKWARD = dict(
    in_params="raw T dy, raw T xhat, raw T gamma, raw T inv_std, raw T dbeta, raw T dgamma, int32 C, int32 P, "
              "int64 M",
    out_params="T dx",
    operation="""
    const int c = (int)((i / P) % C);
    const T scale = (T)((ACC)gamma[c] * (ACC)inv_std[c]);
    const T mean_dy = (T)((ACC)dbeta[c] / (ACC)M);
    const T mean_dy_xhat = (T)((ACC)dgamma[c] / (ACC)M);
    const T centred = (T)((ACC)dy[i] - (ACC)mean_dy);
    const T along = (T)((ACC)xhat[i] * (ACC)mean_dy_xhat);
    dx = (T)((ACC)scale * (ACC)(T)((ACC)centred - (ACC)along));
    """,
    name="deepnet_bn_backward",
)

# A convolution's bias and its ReLU in one pass over the product, in place: y = max(y + b, 0) (the reference's
# bias add and ReLU, Backend.conv2d_relu), y seen as (N, C, P).
BIAS_RELU = dict(
    in_params="raw T b, int32 C, int32 P",
    out_params="T y",
    operation="""
    const T v = (T)((ACC)y + (ACC)b[(i / P) % C]);
    y = (ACC)v < (ACC)0 ? (T)(ACC)0 : v;
    """,
    name="deepnet_bias_relu",
)

# Inference's convolution, bias, ReLU and 2x2/2 max-pooling (Backend.conv2d_relu_pool) after the product: one
# thread per pooled output reads its four products, adds the bias, rectifies and keeps the largest, so the
# rectified map is never written. A NaN is kept, as the reference's ReLU and pooling keep it.
BIAS_RELU_POOL = dict(
    in_params="raw T prod, raw T b, int32 C, int32 H, int32 W, int32 OH, int32 OW",
    out_params="T out",
    operation=_OUTPUT_PIXEL + """
    const long long corner = ((n * C + c) * H + 2 * y) * W + 2 * x;
    T best = (T)(ACC)0;
    for (int k = 0; k < 2; ++k) {
        for (int j = 0; j < 2; ++j) {
            const T s = (T)((ACC)prod[corner + k * W + j] + (ACC)b[c]);
            if ((ACC)s > (ACC)best || (ACC)s != (ACC)s) best = s;
            if ((ACC)best != (ACC)best) break;
        }
        if ((ACC)best != (ACC)best) break;
    }
    out = best;
    """,
    name="deepnet_bias_relu_pool",
)

# ReLU's backward in one pass: dx = dout where the forward's output was positive, else 0 (the reference's
# compare and multiply).
RELU_BACKWARD = dict(
    in_params="raw T dout, raw T y",
    out_params="T dx",
    operation="""
    dx = (ACC)y[i] > (ACC)0 ? dout[i] : (T)(ACC)0;
    """,
    name="deepnet_relu_backward",
)

KERNELS = {"im2col": IM2COL, "col2im": COL2IM, "max_pool": MAX_POOL, "max_pool_backward": MAX_POOL_BACKWARD,
           "adam": ADAM, "adam_multi": ADAM_MULTI, "uniform": UNIFORM, "bn_stats": BN_STATS, "bn_apply": BN_APPLY,
           "bn_backward": BN_BACKWARD, "bias_relu": BIAS_RELU, "bias_relu_pool": BIAS_RELU_POOL,
           "relu_backward": RELU_BACKWARD}


def accumulator(dtype) -> str:
    return "double" if dtype.itemsize == 8 else "float"


def build(cupy, name: str, dtype):
    """The ElementwiseKernel `name`, with sums accumulated in the right precision for `dtype`."""
    spec = KERNELS[name]
    acc = accumulator(dtype)
    return cupy.ElementwiseKernel(spec["in_params"], spec["out_params"], spec["operation"],
                                  f"{spec['name']}_{acc}", preamble=f"typedef {acc} ACC;")
