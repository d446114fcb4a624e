"""Waiting without sleeping, for the backend's threads (threads.Crew), compiled (Numba).

On a virtual machine a sleeping thread is slow to wake (the host must reschedule its virtual core): a thread
pool whose threads sleep between tasks lost more on every hand-off than many of a small batch's layers take
(benchmarks/results/cpu_tuning.md; benchmarks/README.md, "Threads that spin"). The crew's threads spin on a flag in
memory instead, for a few milliseconds after each task, and hold no GIL while they do."""
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
