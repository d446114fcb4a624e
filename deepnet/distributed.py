"""Data-parallel training over MPI (mpi4py), with NCCL for the gradients when the backend is CuPy.

    mpiexec -n 4 deepnet train --distributed

Every rank holds the whole model. Each step, rank r takes every size-th sample of the global
batch (batch_size x size samples); the ranks' gradients are summed, each weighted by its share of
the global batch, in one flat buffer per step (one all-reduce, not one per parameter), so every
rank applies the same update as one process training on the whole global batch would. Rank 0
alone writes logs, progress bars, checkpoints and pictures. An exception on any rank aborts the
whole job (MPI_Abort), so the others stop with an error instead of waiting forever.
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

from .backends import current, settings
from .errors import InvalidValue

INSTALL = "pip install 'deepnet[distributed]' (mpi4py and the MPICH wheel)"


def local_rank() -> int | None:
    """This process's rank on its own machine, from the launcher's environment (before MPI starts)."""
    for var in ("MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK", "PMI_LOCAL_RANK", "MV2_COMM_WORLD_LOCAL_RANK",
                "SLURM_LOCALID"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return None


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError(f"distributed training needs mpi4py and an MPI library ({exc}); {INSTALL}") from None
    return MPI


class Communicator:
    """rank/size, broadcast from rank 0, and the weighted gradient all-reduce: over MPI on host buffers,
    or on the device where the backend offers a reducer (NCCL between GPUs)."""

    def __init__(self, mpi_comm=None):
        MPI = _mpi()
        self.MPI = MPI
        self.comm = mpi_comm or MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.device_reducer = current().gradient_reducer(self.comm)
        self.comm_seconds = 0.0
        self.bytes_reduced = 0
        self.reductions = 0

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    # --- objects and scalars ------------------------------------------------------------------
    def bcast_object(self, obj):
        return self.comm.bcast(obj, root=0)

    def sum_scalars(self, values) -> list[float]:
        buf = np.asarray(values, dtype=np.float64)
        out = np.empty_like(buf)
        self.comm.Allreduce(buf, out, op=self.MPI.SUM)
        return out.tolist()

    def barrier(self) -> None:
        self.comm.Barrier()

    # --- arrays --------------------------------------------------------------------------------
    def _pack(self, arrays, scale: float = 1.0):
        bk = current()
        parts = [bk.to_numpy(a).astype(np.float32 if a.dtype.itemsize < 4 else a.dtype, copy=False).ravel()
                 for a in arrays]
        flat = np.concatenate(parts) if parts else np.zeros(0, np.float32)
        if scale != 1.0:
            flat *= scale
        return flat

    def _unpack(self, flat, arrays) -> None:
        bk = current()
        start = 0
        for a in arrays:
            n = int(np.prod(a.shape))
            a[...] = bk.to_device(flat[start : start + n].reshape(a.shape).astype(a.dtype, copy=False))
            start += n

    def broadcast_arrays(self, arrays: dict) -> None:
        """Overwrite every rank's arrays with rank 0's (in place), in one broadcast."""
        names = sorted(arrays)
        flat = self._pack([arrays[k] for k in names])
        self.comm.Bcast(flat, root=0)
        self._unpack(flat, [arrays[k] for k in names])

    def reduce_gradients(self, grads: dict, weight: float) -> None:
        """grads <- sum over ranks of weight_r * grads_r, in place; weight = local share of the global batch."""
        names = sorted(grads)
        t0 = time.perf_counter()
        if self.device_reducer is not None:
            self.bytes_reduced += self.device_reducer.reduce([grads[k] for k in names], weight)
            self.comm_seconds += time.perf_counter() - t0
            self.reductions += 1
            return
        flat = self._pack([grads[k] for k in names], weight)
        out = np.empty_like(flat)
        self.comm.Allreduce(flat, out, op=self.MPI.SUM)
        self._unpack(out, [grads[k] for k in names])
        self.comm_seconds += time.perf_counter() - t0
        self.bytes_reduced += out.nbytes
        self.reductions += 1

    def abort_on_error(self) -> None:
        """Make an uncaught exception on this rank stop every rank (instead of leaving them blocked)."""
        previous = sys.excepthook
        comm = self.comm

        def hook(kind, value, tb):
            previous(kind, value, tb)
            sys.stderr.write(f"deepnet: rank {self.rank} failed; aborting all {self.size} ranks\n")
            sys.stderr.flush()
            # the launcher forwards output through a pipe; Abort tears it down, so give it a moment
            # to pass on the traceback (it was seen cut short otherwise)
            time.sleep(0.5)
            comm.Abort(1)

        sys.excepthook = hook


#: the communicator this process set up, so that a failure anywhere can stop every rank
_ACTIVE: list = []

# Launchers tell each process the job's size before MPI starts (MPICH/Hydra, Open MPI, Slurm).
_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")


def launched_size() -> int:
    """How many ranks the launcher started, from its environment (1 outside a launcher)."""
    for var in _SIZE_VARIABLES:
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return 1


def prepare_device() -> None:
    """One GPU per rank on a multi-GPU machine: DEEPNET_DEVICE from the local rank, before the backend opens."""
    if not settings.given("DEEPNET_DEVICE") and local_rank() is not None:
        os.environ["DEEPNET_DEVICE"] = str(local_rank())


def refuse_undeclared_launch() -> None:
    """`mpiexec -n 2 deepnet train` without --distributed would run the same training twice into one
    directory: refuse it."""
    size = launched_size()
    if size > 1:
        raise InvalidValue(f"started as {size} MPI ranks without `distributed`: each rank would train the same run "
                           f"into the same directory. Add `distributed`, or run one process",
                           parameters=("distributed",))


def running() -> bool:
    """Is this process one rank of a job of several?"""
    return bool(_ACTIVE) and _ACTIVE[0].size >= 2


def abort_all(code: int) -> None:
    """After a failure or an interrupt on this rank: stop every rank of the job (they would wait forever)."""
    if not running():
        return
    comm = _ACTIVE[0]
    sys.stderr.write(f"deepnet: rank {comm.rank} stopped; aborting all {comm.size} ranks\n")
    sys.stderr.flush()
    time.sleep(0.5)  # the launcher forwards output through a pipe that Abort tears down
    comm.comm.Abort(code)


def init() -> Communicator:
    """The communicator for the active backend: MPI, with the backend's device all-reduce where it has one
    (NCCL on the GPU)."""
    comm = Communicator()
    _share_cores(comm)
    comm.abort_on_error()
    _ACTIVE[:] = [comm]
    return comm


def _share_cores(comm: Communicator) -> None:
    """Ranks on one machine split its cores: each rank's backend gets cores // (ranks here) threads,
    unless DEEPNET_THREADS says otherwise (two ranks of two threads on two cores ran slower)."""
    if settings.threads() is not None:
        return
    bk = current()
    threads = bk.describe().get("threads")
    if threads is None:
        return
    here = comm.comm.Split_type(comm.MPI.COMM_TYPE_SHARED).Get_size()
    bk.set_threads(threads // here)


def shard(global_idx, rank: int, size: int):
    """Rank `rank`'s part of a global batch: every size-th sample, so shards differ by at most one."""
    return global_idx[rank::size]
