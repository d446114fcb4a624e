"""The CPU backend's tuning constants in one place: when a pass is shared among the threads, how large a
convolution's chunks are, how long an idle thread spins. Each comes with its reason; the measurements behind
them are in benchmarks/results/cpu_tuning.md.

Work is counted in one unit, multiply-adds: a convolution pass's or a matrix product's own count, and for an
element-wise pass (ReLU, pooling) ELEMENT_WORK a element, about what one element costs against one
multiply-add of a product (memory traffic, no reuse).
"""

#: A pass of less work than this stays on the calling thread: handing half of it to another thread costs
#: more than it saves (the threads take turns with the GIL, and waking one takes tens of microseconds on a
#: virtual machine). Measured on DeepConvNet's layers, one thread against two, and the threshold itself at
#: 4 M and 16 M (results/cpu_tuning.md).
SPLIT_WORK = 1 << 22
#: An element of an element-wise pass, in multiply-adds: 1 << 18 elements (a pooling layer's, measured beside
#: SPLIT_WORK) weigh as much as SPLIT_WORK.
ELEMENT_WORK = 16
#: A plain matrix product (the Affine layers' (N, D) x (D, K)) is split from half that work: its threads
#: take no part in a convolution's chunks, and BLAS runs each share on one thread.
SPLIT_PRODUCT_WORK = 1 << 21

#: Bytes of patches per chunk, on the step-by-step path: at least MIN_CHUNK_BYTES (about a core's L2 cache),
#: at most MAX_CHUNK_BYTES, and so that every thread's chunk fits in half the last-level cache. Larger chunks
#: paid while each chunk cost Python overhead; with each chunk one compiled call (blas.py) 1 MB is as fast or
#: faster (results/cpu_tuning.md).
MIN_CHUNK_BYTES = 1 << 20
MAX_CHUNK_BYTES = 8 << 20

#: Checks of a flag (about 15 ns each) a crew thread makes after a task before it sleeps: about 3 ms, longer
#: than the gaps between one layer's work and the next, shorter than a pause a person would notice.
SPINS = 200_000

#: Winograd's F(2x2, 3x3) (winograd.py) runs a 3x3 stride-1 convolution's forward from this many input times
#: output channels, and its input gradient from WINOGRAD_DX_MIN_CHANNELS: its products are 2.25x smaller than
#: im2col's, but its transforms cost about what that saves on narrow layers. Two threads, each layer both ways,
#: 20 alternating rounds (benchmarks/winograd.py, results/winograd_*.json): forward 0.72-0.98x as fast as
#: im2col below 64 x 64 channels, 1.15-1.19x at 64 x 64 (DeepConvNet, ResNet-20), 1.29-1.34x at AlexNet's
#: 256-384; the input gradient 0.78-0.94x up to 64 x 64, 1.04-1.17x at AlexNet's.
WINOGRAD_MIN_CHANNELS = 64 * 64
WINOGRAD_DX_MIN_CHANNELS = 256 * 256
#: Winograd's F(4x4, 3x3) (winograd4.py) in place of F(2x2, 3x3) or im2col for a forward pass from
#: WINOGRAD4_MIN_CHANNELS up to WINOGRAD4_MAX_CHANNELS input times output channels: 36 products for 16 outputs
#: where F(2x2, 3x3) spends 64. Two threads, forced on against im2col, 8 alternating rounds (benchmarks/winograd.py
#: --path winograd4dw, results/winograd4dw_*.json): forward 1.17-1.43x on ResNet-20's and DeepConvNet's 32- and
#: 64-channel layers, 0.99x at 16 x 32 on 14 x 14 (kept on im2col). AlexNet's 13 x 13 layers (256-384 channels,
#: a quarter of each 4x4 tile's outputs cut off) ran 1.06-1.18x, below F(2x2, 3x3)'s 1.29-1.34x, so they keep
#: it. WINOGRAD4_DX_MIN_CHANNELS: its input gradient alone (with im2col's weight gradient, 1.09-1.16x on
#: ResNet-20's layers) is not used; with the weight gradient below it is.
WINOGRAD4_MIN_CHANNELS = 32 * 32
WINOGRAD4_MAX_CHANNELS = 64 * 64
WINOGRAD4_DX_MIN_CHANNELS = 1 << 62
#: F(4x4, 3x3) from this many output tiles (4x4) a thread: DeepConvNet's 32 x 32 layer at batch 10 (160
#: tiles) ran 1.15x faster forward than im2col, its 64-channel layers (40 tiles) 0.60-0.73x
#: (`benchmarks/winograd.py --model deepconvnet --input 1x28x28 --batch 10 --path winograd4 --tag b10`).
WINOGRAD4_THREAD_TILES = 64
#: The weight gradient by F(3x3, 4x4) (winograd4.py) from WINOGRAD4_DW_MIN_CHANNELS to WINOGRAD4_DW_MAX_CHANNELS
#: input times output channels, the input gradient then by F(4x4, 3x3) (unless the direct convolution has it):
#: no patches at all. The whole backward pass against im2col's (same runs): 1.31-1.56x on the 32- and
#: 64-channel layers; 0.74x at 16 x 32 on 14 x 14, 0.80-0.92x on AlexNet's.
WINOGRAD4_DW_MIN_CHANNELS = 32 * 32
WINOGRAD4_DW_MAX_CHANNELS = 64 * 64
#: ... and where the layer's outputs fill at least this share of the 4x4 tiles' positions: on 7 x 7 outputs (a
#: 2 x 2 grid of tiles, 49 of 64 positions) the whole backward pass with it took 5.5 against im2col's 3.4 ms
#: (32 x 64 channels, batch 100) and 9.0 against 6.5 (64 x 64); on 14 x 14 (49 of 64 too) 10.9 against 10.7;
#: on ResNet-20's 8 x 8 and 16 x 16 it still won, 6.1 against 7.1 and 6.1 against 7.0 (two threads, 10
#: alternating rounds, an Emerald Rapids Xeon; benchmarks/README.md).
WINOGRAD4_DW_MIN_FILL = 0.9
#: Images per Winograd chunk: this many bytes of transformed input and product (V and M), and at least
#: WINOGRAD_MIN_TILES tiles, so that each of the chunk's 16 products has rows enough to run near the BLAS's
#: rate (AlexNet's 12x12 layers have 36 tiles an image: one image a chunk ran 1.4x slower than four).
WINOGRAD_CHUNK_BYTES = 2 << 20
WINOGRAD_MIN_TILES = 128
#: A pass with fewer tiles than this for each thread keeps im2col: AlexNet's 3x3 layers (36 tiles an image)
#: ran forward 0.74x im2col's speed at batch 2, even at 4, 1.3x at 8, 1.45x at 16 (benchmarks/winograd.py
#: --batch 2, 4, 16); DeepConvNet's 64 x 64 layer at batch 10 (160 tiles) 0.84x.
WINOGRAD_THREAD_TILES = 128
#: Inference keeps Winograd's transformed weights of folded (read-only) weights up to this many bytes in all
#: (conv.ChunkedConv.transformed): ResNet-20's take 3.7 MB, and transforming them was 1.2 ms of a 47 ms pass at
#: batch 64; VGG-16's would take about 110 MB.
TRANSFORMED_WEIGHTS_BYTES = 128 << 20

#: The direct 3x3 stride-1 convolution (direct.py, its sums in registers: direct_block.py) runs the forward pass
#: up to DIRECT_MAX_CHANNELS input times output channels and the input gradient up to DIRECT_DX_MAX_CHANNELS, on
#: outputs at least DIRECT_MIN_WIDTH wide. Each layer of ResNet-20 (batch 64) and DeepConvNet (100), the default
#: paths against the direct one forced on, two threads, 10 alternating rounds on an Emerald Rapids Xeon
#: (benchmarks/README.md), forward with the fused ReLU: 32 x 32 channels on 16 x 16 4.2 -> 2.7 ms (F(4x4, 3x3)
#: before), on 14 x 14 7.5 -> 3.4, 64 x 64 on 8 x 8 3.3 -> 2.9, on 7 x 7 3.9 -> 3.0, 16 x 32 on 14 x 14 3.6 ->
#: 1.9 (im2col before); at batch 10 0.84 -> 0.44 (32 x 32) and 0.64 -> 0.44 (64 x 64). The backward pass with dx
#: direct and dW by F(3x3, 4x4): 32 x 32 on 16 x 16 8.1 -> 7.5, on 14 x 14 14.2 -> 11.3, 32 x 64 on 7 x 7 9.0 ->
#: 7.2, 64 x 64 on 7 x 7 9.3 -> 9.0 but on 8 x 8 6.4 -> 7.1: so dx up to 32 x 64, and only where the weight
#: gradient needs no patches (conv.ChunkedConv.backward).
DIRECT_MAX_CHANNELS = 64 * 64
DIRECT_DX_MAX_CHANNELS = 32 * 64
DIRECT_MIN_WIDTH = 1
#: Where F(4x4, 3x3) could run a forward pass (its gates above), the direct convolution keeps it only up to this
#: many input times output channels, by the sums a direct block holds in registers (direct_block.OB x QB: 16
#: with AVX-512's 32 registers, 8 with 16). With 16 the direct forward won on every layer up to 64 x 64 (above).
#: With 8, on a 2-core AMD EPYC (AVX2), the same two threads and 10 alternating rounds, the direct forward
#: against the next path with the fused ReLU: 64 x 64 channels on 8 x 8 (batch 64) 2.24 against F(4x4, 3x3)'s
#: 1.48 ms, on 7 x 7 (batch 100) 2.83 against 2.43, where its block runs at 71-82 GFLOP/s a core, near the
#: arithmetic's peak, and Winograd does a quarter of the multiplications; but 32 x 64 on 7 x 7 1.55 against
#: 2.10, 32 x 32 on 14 x 14 2.64 against 3.59, on 16 x 16 2.13 against 2.16; and where Winograd has too few
#: tiles (batch 10), 64 x 64 on 7 x 7 0.36 against im2col's 0.42.
DIRECT_OVER_WINOGRAD4_CHANNELS = {16: 64 * 64, 8: 32 * 64}
#: Its weight gradient (Numba's loops, direct.weight_chunk) up to DIRECT_DW_MAX_CHANNELS on outputs at least
#: DIRECT_DW_MIN_WIDTH wide: there im2col's nine-fold copy is a third of the layer and its product, few output
#: rows high, runs at half the BLAS's rate. Each layer forced on and off, two threads, 20 alternating rounds
#: (benchmarks/winograd.py --path direct; results/direct_*.json), im2col's time over the direct one's, whole
#: backward pass: 16 x 16 channels at 32 x 32 (ResNet-20's first stage) 1.52x, at 28 x 28 (DeepConvNet's second
#: layer) 1.32x; but 16 x 32 channels on 14 x 14 0.71x, 32 x 32 on 14 x 14 0.96x, on 16 x 16 0.82x.
DIRECT_DW_MAX_CHANNELS = 16 * 16
DIRECT_DW_MIN_WIDTH = 24
