"""512-bit vectors for the compiled kernels on processors with AVX-512, imported before any kernel is compiled.

Numba compiles for the processor it runs on, but LLVM's tuning for Intel's AVX-512 server processors (Skylake-SP
and later: Ice Lake, Sapphire and Emerald Rapids) prefers 256-bit vectors, a default from Skylake-SP, whose clock
dropped on 512-bit instructions. The kernels here are long runs of multiply-adds over unit-stride rows, where
512-bit vectors do twice the work an instruction: on an Emerald Rapids Xeon, one thread, the direct
convolution's chunk (direct.py; 32 images, 16 x 16 channels, 32 x 32) took 1.3 ms with them against 2.4 ms at
256 bits (benchmarks/README.md). Where the processor has AVX-512, Numba's target features become the host's
with LLVM's 'prefer-256-bit' tuning turned off (where its tuning for the processor has no such preference, that
changes nothing); without AVX-512, nothing is set.

This is Numba's setting for the whole process, and it takes effect only before Numba compiles or loads its first
function: a program that used Numba before deepnet keeps its features. A choice of the user's own
(NUMBA_CPU_NAME or NUMBA_CPU_FEATURES) is kept, and DEEPNET_WIDE_VECTORS=off leaves LLVM's default. Compiled
functions are cached per feature set, so either way the cache stays valid.
"""
from __future__ import annotations

from ..settings import wide_vectors

#: LLVM's tuning flag, turned off: the target then prefers the widest vectors it has.
NOT_256 = "-prefer-256-bit"


def widen(wanted: bool) -> None:
    """Turn off LLVM's preference for 256-bit vectors when wanted, the host has AVX-512, the user chose no
    features and Numba has made no code yet."""
    try:
        from numba.core import codegen, config, registry

        if not wanted or config.CPU_NAME is not None or config.CPU_FEATURES is not None:
            return
        if "_toplevel_target_context" in vars(registry.cpu_target):  # Numba's code generator exists: too late
            return
        features = codegen.get_host_cpu_features()
    except (ImportError, AttributeError):  # Numba's internals have moved: its defaults stay
        return
    if "+avx512f" in features.split(","):
        config.CPU_FEATURES = f"{features},{NOT_256}"


def wide() -> bool:
    """Whether Numba's code generator, as made, has the preference for 256-bit vectors turned off (`deepnet
    info` reports it)."""
    return NOT_256 in _features()


def _features() -> list[str]:
    """The target features of Numba's code generator, as made."""
    try:
        from numba.core import registry

        return registry.cpu_target.target_context.codegen()._tm_features.split(",")
    except (ImportError, AttributeError):
        return []


def registers() -> int:
    """Vector registers the code may use: 32 with AVX-512 (at either width), else 16."""
    return 32 if "+avx512f" in _features() else 16


def register_bits() -> int:
    """The width of the vectors Numba's code uses on this processor: 512 bits where it has AVX-512 and the
    preference for 256 is off, else 256 with AVX (or AVX-512 held to 256), else 128 (SSE, NEON)."""
    features = _features()
    if "+avx512f" in features and NOT_256 in features:
        return 512
    return 256 if "+avx" in features else 128


widen(wide_vectors())
