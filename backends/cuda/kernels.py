"""CUDA kernels for the CuPy backend, as CuPy ElementwiseKernel sources.

Each kernel runs one thread per output element and gathers what it needs, so results are
deterministic (no atomics) and match the base backend's plain array code, which stays the
reference they are tested against. Sums are accumulated in `ACC` (float for float16/float32,
double for float64). Without a GPU, CI compiles the exact source CuPy generates from these strings with
NVIDIA's compiler (tests/test_cuda_compile.py), and runs each kernel body once per index on the CPU
against that reference (tests/test_cuda_kernels_on_cpu.py): gathers only, so that loop is exact. Keep it
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

# out[n, c, y, x] = max over the window; arg = offset k*KW + j of the first maximum.
MAX_POOL = dict(
    in_params="raw T img, int32 C, int32 H, int32 W, int32 KH, int32 KW, int32 OH, int32 OW, int32 S, int32 P",
    out_params="T out, int32 arg",
    operation="""
    long long r = i;
    const int x = r % OW; r /= OW;
    const int y = r % OH; r /= OH;
    const int c = r % C;
    const long long n = r / C;
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

KERNELS = {"im2col": IM2COL, "col2im": COL2IM, "max_pool": MAX_POOL, "max_pool_backward": MAX_POOL_BACKWARD}


def accumulator(dtype) -> str:
    return "double" if dtype.itemsize == 8 else "float"


def build(cupy, name: str, dtype):
    """The ElementwiseKernel `name`, with sums accumulated in the right precision for `dtype`."""
    spec = KERNELS[name]
    acc = accumulator(dtype)
    return cupy.ElementwiseKernel(spec["in_params"], spec["out_params"], spec["operation"],
                                  f"{spec['name']}_{acc}", preamble=f"typedef {acc} ACC;")
