"""Experience replay: a preallocated ring buffer of transitions (observation, action, reward, next observation,
end of episode); the oldest is overwritten once it is full, and batches are drawn uniformly."""
from __future__ import annotations

import math
import os

import numpy as np

from ..errors import InvalidValue


def available_memory() -> int | None:
    """Bytes of memory available now (Linux's MemAvailable), or None where it cannot be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


class Replay:
    FIELDS = ("obs", "action", "reward", "next_obs", "done")

    def __init__(self, capacity: int, observation_shape, observation_dtype):
        if int(capacity) != capacity or capacity < 1:
            raise InvalidValue(f"the replay buffer must hold at least one transition; got {capacity}")
        capacity = int(capacity)
        shape, dtype = tuple(observation_shape), np.dtype(observation_dtype)
        need = self.bytes_needed(capacity, shape, dtype)
        free = available_memory()
        if free is not None and need > 0.8 * free:  # refused before anything is allocated
            raise InvalidValue(f"a replay buffer of {capacity:,} transitions needs {need / 2**30:.1f} GiB, but only "
                               f"{free / 2**30:.1f} GiB of memory is available; give a smaller `replay`",
                               parameters=("replay",))
        self.capacity = capacity
        self.obs = np.zeros((capacity, *shape), dtype)
        self.next_obs = np.zeros((capacity, *shape), dtype)
        self.action = np.zeros(capacity, np.int64)
        self.reward = np.zeros(capacity, np.float32)
        self.done = np.zeros(capacity, bool)
        self.position = 0  # where the next transition goes
        self.size = 0

    @staticmethod
    def bytes_needed(capacity: int, shape, dtype) -> int:
        return capacity * (2 * math.prod(shape) * np.dtype(dtype).itemsize + 8 + 4 + 1)

    def add(self, obs, action, reward, next_obs, done) -> None:
        i = self.position
        self.obs[i], self.action[i], self.reward[i] = obs, action, reward
        self.next_obs[i], self.done[i] = next_obs, done
        self.position = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch: int, rng: np.random.Generator):
        """A batch of `batch` transitions drawn uniformly (with replacement) from those held."""
        if self.size == 0:
            raise RuntimeError("the replay buffer is empty")
        i = rng.integers(0, self.size, batch)
        return self.obs[i], self.action[i], self.reward[i], self.next_obs[i], self.done[i]

    def state(self) -> tuple[dict, dict]:
        """(arrays of the transitions held, {position, size}) for a checkpoint."""
        n = self.size
        return {f"replay/{k}": getattr(self, k)[:n] for k in self.FIELDS}, {"position": self.position, "size": n}

    def load_state(self, arrays: dict, meta: dict) -> None:
        n, pos = int(meta["size"]), int(meta["position"])
        if not 0 <= n <= self.capacity or not 0 <= pos < self.capacity:
            raise InvalidValue(f"the checkpoint's replay buffer (size {n}, position {pos}) does not fit one of "
                               f"{self.capacity:,} transitions")
        for k in self.FIELDS:
            a = arrays[f"replay/{k}"]
            target = getattr(self, k)
            if a.shape != (n, *target.shape[1:]):
                raise InvalidValue(f"the checkpoint's replay {k} has shape {a.shape}; "
                                   f"expected {(n, *target.shape[1:])}")
            target[:n] = a
        self.size, self.position = n, pos
