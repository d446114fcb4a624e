"""NCCL gradient all-reduce for the CuPy backend, set up over MPI (the NCCL id travels by MPI broadcast)."""
from __future__ import annotations

import time

from deepnet.distributed import Communicator

from . import current


class NcclCommunicator(Communicator):
    """MPI for set-up, objects and scalars; NCCL on the device for the per-step gradient buffer."""

    def __init__(self, mpi_comm=None):
        super().__init__(mpi_comm)
        from cupy.cuda import nccl

        self.nccl = nccl
        uid = nccl.get_unique_id() if self.rank == 0 else None
        uid = self.comm.bcast(uid, root=0)
        self.nccl_comm = nccl.NcclCommunicator(self.size, uid, self.rank)

    def _device_flat(self, arrays, scale):
        cp = current().xp
        flat = cp.concatenate([a.astype(cp.float32, copy=False).ravel() for a in arrays])
        if scale != 1.0:
            flat *= scale
        return flat

    def reduce_gradients(self, grads: dict, weight: float) -> None:
        cp = current().xp
        names = sorted(grads)
        arrays = [grads[k] for k in names]
        t0 = time.perf_counter()
        flat = self._device_flat(arrays, weight)
        stream = cp.cuda.get_current_stream()
        self.nccl_comm.allReduce(flat.data.ptr, flat.data.ptr, flat.size, self.nccl.NCCL_FLOAT32,
                                 self.nccl.NCCL_SUM, stream.ptr)
        start = 0
        for a in arrays:
            n = a.size
            a[...] = flat[start : start + n].reshape(a.shape).astype(a.dtype, copy=False)
            start += n
        stream.synchronize()
        self.comm_seconds += time.perf_counter() - t0
        self.bytes_reduced += flat.nbytes
        self.reductions += 1
