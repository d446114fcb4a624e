"""The CPU backend's own threads: work split into chunks, one thread per core.

NumPy's element-wise code runs on one core, and OpenBLAS threads each product on its own. On a
2-core machine that left a core idle through every im2col, col2im and bias add, and OpenBLAS's
threads, spinning for their next job, fought deepnet's for the two cores (benchmarks/results/
cpu_tuning.md). So once deepnet runs work on several threads, it sets BLAS to one thread for the whole
process (threadpoolctl) and splits the large products itself. DEEPNET_THREADS=1 keeps everything on the
calling thread and leaves BLAS alone.

NumPy, BLAS and the Numba kernels release the GIL, so the threads run in parallel. Each chunk is
given to a fixed thread (round-robin), so results do not depend on timing: a given shape and
thread count gives the same bits on every run.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .. import settings
from . import tuning


def default_threads() -> int:
    """DEEPNET_THREADS, else the cores this process may run on."""
    return settings.threads() or usable_cores()


def usable_cores() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


_BLAS_LIMITED = []


def _spin_enabled() -> bool:
    return settings.spin()


def _blas_on_one_thread() -> None:
    """Once per process: NumPy's BLAS on one thread, since deepnet's workers already occupy every core.

    Only the BLAS NumPy calls is limited (another library's, such as PyTorch's, keeps its threads),
    unless NumPy's cannot be told apart, when every BLAS threadpoolctl finds is."""
    if _BLAS_LIMITED:
        return
    from threadpoolctl import ThreadpoolController

    blas = ThreadpoolController().select(user_api="blas").lib_controllers
    numpy_dir = os.path.dirname(os.path.dirname(np.__file__))
    own = [lib for lib in blas if os.path.basename(os.path.dirname(lib.filepath)).startswith("numpy")
           or lib.filepath.startswith(os.path.join(numpy_dir, "numpy"))]
    for lib in own or blas:
        lib.set_num_threads(1)
    _BLAS_LIMITED.append(True)


class Workers:
    """A pool of `threads` threads (the caller counts as one) and per-thread scratch buffers."""

    def __init__(self, threads: int | None = None):
        self.threads = default_threads() if threads is None else int(threads)
        if self.threads < 1:
            raise ValueError(f"Workers needs at least one thread; got {threads}")
        self._pool = None
        self._pool_pid = None
        self._spin_crew = None
        self._busy = threading.Lock()
        self._local = threading.local()

    @staticmethod
    def chunks(n: int, size: int) -> list[tuple[int, int]]:
        """[start, stop) ranges of at most `size` covering range(n)."""
        size = max(1, int(size))
        return [(s, min(n, s + size)) for s in range(0, n, size)]

    def balanced_chunks(self, n: int, size: int) -> list[tuple[int, int]]:
        """Ranges of at most `size` covering range(n), as many as a multiple of the thread count where
        n allows, of near-equal length: every thread gets the same work (at batch 10, five chunks of
        two images left one thread idle for a fifth of each convolution)."""
        count = -(-n // max(1, int(size)))
        if count > 1 or n >= self.threads:
            count = min(n, -(-count // self.threads) * self.threads)
        bounds = [n * i // count for i in range(count + 1)]
        return list(zip(bounds[:-1], bounds[1:]))

    def run(self, work, chunks) -> list:
        """[work(k, chunks[k::workers]) for each worker k]; worker 0 is the calling thread."""
        workers = min(self.threads, len(chunks))
        if workers <= 1:
            return [work(0, chunks)]
        _blas_on_one_thread()
        if not self._busy.acquire(blocking=False):
            # another thread of the program is using the workers, or a task asked for them again: each
            # worker's share in turn on this thread, so the results are the same, bits included
            return [work(k, chunks[k::workers]) for k in range(workers)]
        try:
            crew = self._crew()
            if crew is not None:
                return crew.run(work, chunks, workers)
            if self._pool is None or self._pool_pid != os.getpid():
                # a forked child inherits the pool object but not its threads: it needs a pool of its own
                self._pool = ThreadPoolExecutor(max_workers=self.threads - 1, thread_name_prefix="deepnet")
                self._pool_pid = os.getpid()
            futures = [self._pool.submit(work, k, chunks[k::workers]) for k in range(1, workers)]
            first = work(0, chunks[0::workers])
            return [first] + [f.result() for f in futures]
        finally:
            self._busy.release()

    def each(self, work, n: int) -> list:
        """[work(k) for each worker k], on min(threads, n) threads at once: for work that shares out its n items
        itself, each thread claiming the next from a counter they share (spin.claim)."""
        return self.run(lambda k, _: work(k), [None] * max(1, min(self.threads, n)))

    def _crew(self) -> Crew | None:
        """The spinning threads (Crew), made on first use and again after a fork or a new thread count;
        None without Numba (or with DEEPNET_NUMBA=0, or DEEPNET_SPIN=0): then a plain thread pool."""
        crew = self._spin_crew
        if crew is not None and crew.pid == os.getpid() and crew.size == self.threads - 1:
            return crew
        if crew is not None and crew.pid == os.getpid():
            crew.close()
        self._spin_crew = None
        if not _spin_enabled():
            return None
        from . import kernels

        if not kernels.ENABLED:
            return None
        self._spin_crew = Crew(self.threads - 1, kernels.spin_while_equal)
        return self._spin_crew

    def buffer(self, name: str, size: int, dtype) -> np.ndarray:
        """A flat scratch array of `size` elements owned by the calling thread, kept between calls."""
        store = self._local.__dict__
        buf = store.get(name)
        if buf is None or buf.size < size or buf.dtype != dtype:
            store[name] = None
            buf = store[name] = np.empty(size, dtype=dtype)
        return buf[:size]

    def matmul(self, a, b, out):
        """out = a @ b for 2-D a and b, the columns of b split among the threads."""
        m, k = a.shape
        n = b.shape[1]
        if self.threads == 1 or m * k * n < tuning.SPLIT_PRODUCT_WORK or n < 2 * self.threads:
            return np.matmul(a, b, out=out)
        # column blocks a multiple of 16 wide, so each thread's block starts on a cache line
        width = -(-n // self.threads)
        width = -(-width // 16) * 16

        def work(_, blocks):
            for s, e in blocks:
                np.matmul(a, b[:, s:e], out=out[:, s:e])

        self.run(work, self.chunks(n, width))
        return out


class Crew:
    """`size` threads that wait for work by spinning on a flag, for tuning.SPINS checks, before they sleep.

    The flags are one int64 array (64 bytes apart, a cache line each): flags[0] is the number of the
    latest task; flags[8 * k] is the last task worker k finished. The spin (kernels.spin_while_equal)
    holds no GIL. Every worker answers every task, those with no chunks at once, so a task number is
    never skipped; a worker that spun tuning.SPINS times without news sleeps on a condition until the next.
    A hand-off costs less than a thread pool's; what is left is the worker waiting, asleep, for the GIL,
    which the calling thread holds until its own share reaches compiled code (benchmarks/results/
    cpu_tuning.md; benchmarks/README.md, "Threads that spin")."""

    def __init__(self, size: int, spin):
        self.size, self.spin, self.pid = size, spin, os.getpid()
        self.flags = np.zeros(8 * (size + 1), dtype=np.int64)
        self.task = None
        self.results = [None] * (size + 1)
        self.wake = threading.Condition()
        self.sleeping = 0
        for k in range(1, size + 1):
            threading.Thread(target=self._serve, args=(k,), name=f"deepnet-{k}", daemon=True).start()

    def _serve(self, k: int) -> None:
        flags, seen = self.flags, 0
        while True:
            number = int(self.spin(flags, 0, seen, tuning.SPINS))
            if number == seen:
                with self.wake:
                    self.sleeping += 1
                    while flags[0] == seen:
                        self.wake.wait()
                    self.sleeping -= 1
                number = int(flags[0])
            if number < 0:  # closed
                return
            seen = number
            work, chunks, workers = self.task
            try:
                self.results[k] = (True, work(k, chunks[k::workers]) if k < workers else None)
            except BaseException as error:  # handed to the caller, raised there
                self.results[k] = (False, error)
            flags[8 * k] = number

    def run(self, work, chunks, workers: int) -> list:
        flags = self.flags
        self.task = (work, chunks, workers)
        number = int(flags[0]) + 1
        flags[0] = number
        if self.sleeping:
            with self.wake:
                self.wake.notify_all()
        try:
            first = work(0, chunks[0::workers])
        finally:  # even when this thread's share failed, the others finish theirs before the next task
            for k in range(1, self.size + 1):
                while flags[8 * k] != number:
                    self.spin(flags, 8 * k, flags[8 * k], tuning.SPINS)
        results = [first]
        for k in range(1, workers):
            ok, value = self.results[k]
            if not ok:
                raise value
            results.append(value)
        return results

    def close(self) -> None:
        """Let the threads end (after their current task)."""
        self.flags[0] = -1
        with self.wake:
            self.wake.notify_all()
