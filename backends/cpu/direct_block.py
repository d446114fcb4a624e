"""The direct convolution's inner block (direct.py), written in LLVM IR through Numba: OB output channels by
QB vectors of output positions, their sums over every input channel and the nine taps held in registers.

    acc[o + k, q0 + q] = sum_{c, i, j} w[o + k, c, i, j] x[c, q0 + q + i Wp + j],   k < OB, q < QB lanes

A step reads QB vectors of x (unaligned: the nine taps are shifted rows of the padded plane), broadcasts OB
weights and does OB QB multiply-adds, with no load or store of a sum; the sums are written once, after the
last input channel. Written as Numba loops over q, LLVM's vectoriser kept the sums in memory (a load and a
store of each for every input channel) and spent a load on every weight: the loop ran at 50 GFLOP/s a core
on an Emerald Rapids Xeon, this block at 170 (16 x 16 channels on 32 x 32 images, one core, in cache). The
block is only the product: padding, bias, ReLU, pooling and the residual stay in direct.py.

The vectors are as wide as the processor's registers that Numba's code uses (vectors.py): 512 bits with
AVX-512, else 256 or 128; with AVX-512's 32 registers 16 sums fit, with 16 registers 8.
"""
from __future__ import annotations

import numba
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from . import vectors

#: Bits of a vector register, and vectors of output positions a block holds: OB QB sums in registers, 16 of
#: the 32 that AVX-512 has (at either width), 8 of 16 elsewhere.
BITS = vectors.register_bits()
QB = 4 if vectors.registers() >= 32 else 2
#: Output channels a block computes.
OB = 4
#: Sums a block holds in registers: what decides where it beats Winograd (tuning.DIRECT_OVER_WINOGRAD4_CHANNELS).
SUMS = OB * QB


@numba.njit(cache=True)
def lanes(itemsize: int) -> int:
    """Values of a vector of this item size (callable from compiled code and from Python)."""
    return BITS // (8 * itemsize)


@numba.njit(cache=True)
def step(itemsize: int) -> int:
    """Output positions a block computes: q runs in steps of this."""
    return QB * lanes(itemsize)


def _prologue(context, builder, signature, args, ints, arrays):
    """What both blocks' code starts from: the integer arguments at `ints` as int64, the data pointers of the
    arrays at `arrays`, the vector type of the arrays' dtype, its lane count, llvm.fma for it and the
    alignment of one value."""
    argtypes = signature.args
    dtype = argtypes[arrays[0]].dtype
    n = lanes(dtype.bitwidth // 8)
    vec = ir.VectorType(context.get_value_type(dtype), n)
    fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec, vec, vec]),
                                         f"llvm.fma.v{n}f{dtype.bitwidth}")
    integers = [context.cast(builder, args[k], argtypes[k], types.int64) for k in ints]
    pointers = [context.make_array(argtypes[k])(context, builder, args[k]).data for k in arrays]
    return integers, pointers, vec, n, fma, dtype.bitwidth // 8


def _at(builder, vec, base, index):
    """A pointer to the vector at base[index]."""
    return builder.bitcast(builder.gep(base, [index]), vec.as_pointer())


def _block(ob: int, qb: int):
    """The block for ob output channels and qb vectors of positions, as an intrinsic:
    block(x, xoff, plane, wp, c_n, w, woff, wstride, acc, aoff, astride) computes

        acc.flat[aoff + k astride + q] = sum over c < c_n and the taps (i, j) of
                                         w.flat[woff + k wstride + 9 c + 3 i + j] x.flat[xoff + c plane + i wp + j + q]

    for k < ob, q < qb lanes. x, w and acc C-contiguous, of one float dtype; nothing checks the bounds: the
    caller keeps every index inside."""

    @intrinsic
    def block(typingctx, x, xoff, plane, wp, c_n, w, woff, wstride, acc, aoff, astride):
        sig = types.void(x, xoff, plane, wp, c_n, w, woff, wstride, acc, aoff, astride)

        def codegen(context, builder, signature, args):
            i64 = ir.IntType(64)
            (xoff, plane, wp, c_n, woff, wstride, aoff, astride), (xs_, ws_, as_), vec, n, fma, align = _prologue(
                context, builder, signature, args, (1, 2, 3, 4, 6, 7, 9, 10), (0, 5, 8))
            splat = ir.Constant(ir.VectorType(ir.IntType(32), n), [0] * n)

            def at(base, index):
                return _at(builder, vec, base, index)

            # the sums live in stack slots that LLVM turns into registers (mem2reg)
            sums = [cgutils.alloca_once_value(builder, ir.Constant(vec, [0.0] * n)) for _ in range(ob * qb)]
            with cgutils.for_range(builder, c_n) as loop:
                xc = builder.add(xoff, builder.mul(loop.index, plane))
                wc = builder.add(woff, builder.mul(loop.index, i64(9)))
                acc = [builder.load(s) for s in sums]
                for i in range(3):
                    for j in range(3):
                        row = builder.add(xc, builder.add(builder.mul(wp, i64(i)), i64(j)))
                        xv = [builder.load(at(xs_, builder.add(row, i64(q * n))), align=align) for q in range(qb)]
                        for k in range(ob):
                            wk = builder.add(wc, builder.add(builder.mul(wstride, i64(k)), i64(3 * i + j)))
                            one = builder.insert_element(ir.Constant(vec, None), builder.load(builder.gep(ws_, [wk])),
                                                         i64(0))
                            wv = builder.shuffle_vector(one, ir.Constant(vec, None), splat)
                            for q in range(qb):
                                acc[k * qb + q] = builder.call(fma, [wv, xv[q], acc[k * qb + q]])
                for s, v in zip(sums, acc):
                    builder.store(v, s)
            for k in range(ob):
                for q in range(qb):
                    index = builder.add(aoff, builder.add(builder.mul(astride, i64(k)), i64(q * n)))
                    builder.store(builder.load(sums[k * qb + q]), at(as_, index), align=align)
            return context.get_dummy_value()

        return sig, codegen

    return block


# Numba calls an intrinsic by name: one for each shape of block. A pass runs whole steps by (OB, QB) and the
# positions left, fewer than a step, by as many vectors as they need (the last one partly past L).
block = _block(OB, QB)
block_3, block_2, block_1 = _block(OB, 3), _block(OB, 2), _block(OB, 1)
# the output channels left over from the blocks of OB, one at a time
one = _block(1, QB)
one_3, one_2, one_1 = _block(1, 3), _block(1, 2), _block(1, 1)


# --- the weight gradient ---------------------------------------------------------------------------------
#: Output channels a gradient block sums for, and the rows of taps it takes (3: all nine taps; 1: one row of
#: three, the block called once for each row): with AVX-512's 32 registers 2 x 9 sums, fed by two loads of dy and
#: nine of x for 18 multiply-adds. With 16 registers those 18 sums spill: 3 x 3 sums (one row of taps) fit, fed by
#: three loads of dy and three of x for 9 multiply-adds. On an AMD EPYC (AVX2), ResNet-20's 16 x 16-channel
#: weight gradient at batch 64, two threads: 4.56 ms with 2 x 9 sums, 3.76 with 1 x 9, 3.07 with 3 x 3, 3.64
#: with 2 x 3, 4.97 with 4 x 3 (12 sums, four of dy: spilled).
GB, GROWS = (2, 3) if vectors.registers() >= 32 else (3, 1)


def _gradient_block(ob: int, taprows: int = 3):
    """The weight gradient's block for ob output channels, one input channel and taprows rows of taps (i <
    taprows), as an intrinsic: gradient(x, xoff, wp, dy, dyoff, dystride, span, dw, dwoff, dwstride) adds

        dw.flat[dwoff + k dwstride + 3 i + j] += sum over q < span of dy.flat[dyoff + k dystride + q]
                                                                     x.flat[xoff + i wp + j + q]

    for k < ob, i < taprows and j < 3 (a later row of taps: xoff and dwoff moved on by wp and 3), the sums held
    in vector registers over q, the last vector's positions past span counted as zero (x there belongs to the
    next plane, and a NaN in it must not reach dw); x is read up to a vector past span, dy up to span rounded
    up to whole vectors. Each sum's lanes are added at the end, in a fixed order."""

    @intrinsic
    def gradient(typingctx, x, xoff, wp, dy, dyoff, dystride, span, dw, dwoff, dwstride):
        sig = types.void(x, xoff, wp, dy, dyoff, dystride, span, dw, dwoff, dwstride)

        def codegen(context, builder, signature, args):
            i64 = ir.IntType(64)
            (xoff, wp, dyoff, dystride, span, dwoff, dwstride), (xs_, dys_, dws_), vec, n, fma, align = _prologue(
                context, builder, signature, args, (1, 2, 4, 5, 6, 8, 9), (0, 3, 7))
            zero = ir.Constant(vec, [0.0] * n)

            def at(base, index):
                return _at(builder, vec, base, index)

            taps = [builder.add(xoff, builder.add(builder.mul(wp, i64(i)), i64(j)))
                    for i in range(taprows) for j in range(3)]
            rows = [builder.add(dyoff, builder.mul(dystride, i64(k))) for k in range(ob)]
            nt = 3 * taprows
            sums = [cgutils.alloca_once_value(builder, zero) for _ in range(ob * nt)]

            def step(q, keep=None):
                acc = [builder.load(s) for s in sums]
                d = [builder.load(at(dys_, builder.add(r, q)), align=align) for r in rows]
                for t, tap in enumerate(taps):
                    xv = builder.load(at(xs_, builder.add(tap, q)), align=align)
                    if keep is not None:
                        xv = builder.select(keep, xv, zero)
                    for k in range(ob):
                        acc[k * nt + t] = builder.call(fma, [d[k], xv, acc[k * nt + t]])
                for s, v in zip(sums, acc):
                    builder.store(v, s)

            whole = builder.sdiv(span, i64(n))
            with cgutils.for_range(builder, whole) as loop:
                step(builder.mul(loop.index, i64(n)))
            left = builder.srem(span, i64(n))
            with builder.if_then(builder.icmp_signed(">", left, i64(0))):
                ids = ir.Constant(ir.VectorType(i64, n), list(range(n)))
                limit = builder.insert_element(ir.Constant(ir.VectorType(i64, n), None), left, i64(0))
                limit = builder.shuffle_vector(limit, ir.Constant(ir.VectorType(i64, n), None),
                                               ir.Constant(ir.VectorType(ir.IntType(32), n), [0] * n))
                step(builder.mul(whole, i64(n)), builder.icmp_signed("<", ids, limit))
            for k in range(ob):
                for t in range(nt):
                    v = builder.load(sums[k * nt + t])
                    parts = [builder.extract_element(v, i64(e)) for e in range(n)]
                    while len(parts) > 1:  # pairwise: the same order every time
                        parts = [builder.fadd(parts[e], parts[e + 1]) for e in range(0, len(parts), 2)]
                    p = builder.gep(dws_, [builder.add(dwoff, builder.add(builder.mul(dwstride, i64(k)), i64(t)))])
                    builder.store(builder.fadd(builder.load(p), parts[0]), p)
            return context.get_dummy_value()

        return sig, codegen

    return gradient


gradient = _gradient_block(GB, GROWS)
gradient_one = _gradient_block(1)  # the output channels left over from the blocks of GB
