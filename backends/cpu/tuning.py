"""The CPU backend's tuning constants in one place: when a pass is shared among the threads, how large a
convolution's chunks are, how long an idle thread spins. Each comes with the measurement behind it
(2-core Intel Xeon, 2 MB L2; benchmarks/README.md has the tables).

Work is counted in one unit, multiply-adds: a convolution pass's or a matrix product's own count, and for an
element-wise pass (ReLU, pooling) ELEMENT_WORK a element, about what one element costs against one
multiply-add of a product (memory traffic, no reuse).
"""

#: A pass of less work than this stays on the calling thread: handing half of it to another thread costs
#: more than it saves (the threads take turns with the GIL, and waking one takes tens of microseconds on a
#: virtual machine). Convolutions, each chunk one compiled call (blas.py), DeepConvNet inference, one thread
#: against two: batch 10, conv1 (1.1 M multiply-adds) 142 against 184-202 us, conv3 and conv5 (9 M) 307 and
#: 289 against 258-273 and 251-263 us; batch 100, conv1 (11 M) 1,374-1,437 against 809-845 us. With 16 M,
#: batch 10 took 2.52 ms, with 4 M 2.39-2.45 ms; batch 100 17.9 against 17.4-17.6 ms. A pooling layer at
#: batch 10 (125,440 elements) took 82 us on one thread, 139 us split in two.
SPLIT_WORK = 1 << 22
#: An element of an element-wise pass, in multiply-adds: 1 << 18 elements (the pooling measurement above)
#: weigh as much as SPLIT_WORK.
ELEMENT_WORK = 16
#: A plain matrix product (the Affine layers' (N, D) x (D, K)) is split from half that work: its threads
#: take no part in a convolution's chunks, and BLAS runs each share on one thread.
SPLIT_PRODUCT_WORK = 1 << 21

#: Bytes of patches per chunk, on the step-by-step path: at least MIN_CHUNK_BYTES (about a core's L2 cache),
#: at most MAX_CHUNK_BYTES, and so that every thread's chunk fits in half the last-level cache. Measured,
#: DeepConvNet, float32: 1 MB chunks 67.0 ms a training step at batch 100, 4 MB 64.1, 8 MB 62.7; at batch 10,
#: 12.1 / 12.3 / 10.7 ms (fewer chunks, less per-chunk overhead in Python, larger products); 16 MB no better
#: than 8. With each chunk one compiled call (blas.py) the Python overhead is gone and MIN_CHUNK_BYTES is
#: used: 1 MB against 8 MB, batch 100 inference 16.9 vs 17.8 ms, training 51.6 vs 54.0 ms; batch 10 2.47 vs
#: 2.43 and 7.84 vs 7.49 ms.
MIN_CHUNK_BYTES = 1 << 20
MAX_CHUNK_BYTES = 8 << 20

#: Checks of a flag (about 15 ns each) a crew thread makes after a task before it sleeps: about 3 ms, longer
#: than the gaps between one layer's work and the next, shorter than a pause a person would notice.
SPINS = 200_000

#: Adam's step runs as one compiled pass (updates.py) from this many elements of a parameter; below it, NumPy's
#: expressions (the reference) are faster: their dozen passes stay in cache and are vectorised, where the
#: compiled loop is not. Measured (benchmarks/adam_step.py, results/adam_step.json, 2-core AMD EPYC), one
#: float32 array, ms a step, compiled on 2 threads / 1 thread / NumPy: 51,200 elements 0.20 / 0.13 / 0.08;
#: 200,000 0.42 / 0.60 / 0.31; 1,048,576 1.68 / 2.74 / 3.60; 4,194,304 7.6 / 12.1 / 35.7 (NumPy's temporaries no
#: longer fit its cached memory and fault in every step).
ADAM_COMPILED_MIN = 1 << 19
