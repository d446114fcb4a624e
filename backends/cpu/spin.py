"""Waiting without sleeping, for the backend's threads (threads.Crew), and work claimed from a shared counter,
compiled (Numba).

On a virtual machine a sleeping thread is slow to wake (the host must reschedule its virtual core): a thread
pool whose threads sleep between tasks lost more on every hand-off than many of a small batch's layers take
(benchmarks/results/cpu_tuning.md; benchmarks/README.md, "Threads that spin"). The crew's threads spin on a flag in
memory instead, for a few milliseconds after each task, and hold no GIL while they do.

A kernel that claims its images one at a time (claim) lets every thread take the next image when it is free: the
threads share the batch by how fast each runs, not in equal halves fixed in advance. On a virtual machine both
differ: a worker starts tens of microseconds after the calling thread (it waits for the GIL, then to be woken),
and one virtual core ran the same work 25% slower than the other for seconds at a time. Each image's result does
not depend on which thread computed it, so results stay the same bits."""
from __future__ import annotations

import platform

import numba
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from . import vectors  # noqa: F401  (first: the vector width the kernels below are compiled for)

_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686", "x86")


@intrinsic
def _load_acquire(typingctx, arr, i):
    """arr[i] of a contiguous int64 array, read with an atomic acquire load: LLVM may not hoist it out of a loop
    (a plain load, with nothing in the loop that writes, would be read once and the loop never end)."""
    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        return builder.load_atomic(builder.gep(array.data, [args[1]]), "acquire", 8)
    return types.int64(arr, i), codegen


@intrinsic
def _fetch_add(typingctx, arr, i, value):
    """arr[i] += value atomically (a contiguous int64 array); returns arr[i] before the addition."""
    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        add = context.cast(builder, args[2], signature.args[2], types.int64)
        return builder.atomic_rmw("add", builder.gep(array.data, [args[1]]), add, "seq_cst")
    return types.int64(arr, i, value), codegen


@numba.njit(inline="always")
def claim(counter):
    """The next item's number from counter[0] (an int64 array the threads share, zero at the start): each number
    goes to exactly one caller."""
    return _fetch_add(counter, 0, 1)


@intrinsic
def _pause(typingctx):
    """The x86 spin-wait hint (PAUSE: lets the core rest a few cycles and leaves the memory bus alone);
    nothing elsewhere."""
    def codegen(context, builder, signature, args):
        if _X86:
            fn = builder.module.declare_intrinsic("llvm.x86.sse2.pause", fnty=ir.FunctionType(ir.VoidType(), []))
            builder.call(fn, [])
        return context.get_dummy_value()
    return types.void(), codegen


@numba.njit(cache=True, nogil=True)
def spin_while_equal(flags, i, value, spins):
    """Wait while flags[i] == value, checking at most `spins` times (about 15 ns each here); returns flags[i]."""
    for _ in range(spins):
        now = _load_acquire(flags, i)
        if now != value:
            return now
        _pause()
    return _load_acquire(flags, i)
