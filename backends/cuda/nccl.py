"""NCCL all-reduce of a step's gradients on the GPU, set up over an MPI communicator (the NCCL id travels
by MPI broadcast). The GPU backend hands one out (CupyBackend.gradient_reducer); deepnet's
Communicator (deepnet/distributed.py) uses it instead of its host-side MPI all-reduce. It imports
nothing from the rest of deepnet."""
from __future__ import annotations


class NcclReducer:
    """sum over ranks of weight_r * arrays_r, in place, in one flat float32 buffer per call."""

    def __init__(self, cupy, mpi_comm):
        from cupy.cuda import nccl

        self.cp, self.nccl = cupy, nccl
        rank, size = mpi_comm.Get_rank(), mpi_comm.Get_size()
        uid = mpi_comm.bcast(nccl.get_unique_id() if rank == 0 else None, root=0)
        self.comm = nccl.NcclCommunicator(size, uid, rank)

    def reduce(self, arrays, weight: float) -> int:
        """Reduce `arrays` (device arrays of any float dtype) in place; returns the bytes all-reduced."""
        cp = self.cp
        flat = cp.concatenate([a.astype(cp.float32, copy=False).ravel() for a in arrays])
        if weight != 1.0:
            flat *= weight
        stream = cp.cuda.get_current_stream()
        self.comm.allReduce(flat.data.ptr, flat.data.ptr, flat.size, self.nccl.NCCL_FLOAT32, self.nccl.NCCL_SUM,
                            stream.ptr)
        start = 0
        for a in arrays:
            a[...] = flat[start : start + a.size].reshape(a.shape).astype(a.dtype, copy=False)
            start += a.size
        stream.synchronize()
        return flat.nbytes
