"""A run directory holds one run: refused when it already holds one, locked while a run writes to it.

    config.json, history.json, last.npz, best.npz, curves.png, misclassified.png

`deepnet train --out R` into a directory holding any of the run's files stops and names --resume and
--overwrite; --overwrite deletes them first. While a run trains, the directory itself is locked
(flock on the directory, released when the process ends however it ends), so a second training
into it fails at once instead of mixing two runs' files. Temporary files left by a killed write
(.NAME.*.tmp) are removed when a run starts.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import RunDirectoryError

RUN_FILES = ("config.json", "history.json", "last.npz", "best.npz", "curves.png", "misclassified.png")

try:
    import fcntl
except ImportError:  # not POSIX: no lock (the existing-run check still holds)
    fcntl = None


class RunDirectory:
    def __init__(self, path):
        self.path = Path(path)
        self._fd = None

    def existing(self) -> list[str]:
        return [name for name in RUN_FILES if (self.path / name).exists()]

    def open(self, resume: bool = False, overwrite: bool = False) -> "RunDirectory":
        """Create and lock the directory; refuse a finished or started run unless resuming or overwriting."""
        if self.path.exists() and not self.path.is_dir():
            raise RunDirectoryError(f"--out {self.path} is a file, not a directory")
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock()
        found = self.existing()
        if found and not resume:
            if not overwrite:
                self.close()
                raise RunDirectoryError(
                    f"{self.path} already holds a run ({', '.join(found)}). Continue it with --resume {self.path}, "
                    f"replace it with --overwrite, or choose another --out")
            for name in found:
                (self.path / name).unlink()
        for stale in self.path.glob(".*.tmp"):  # a write killed half-way (deepnet.io.atomic_open)
            stale.unlink(missing_ok=True)
        return self

    def _lock(self) -> None:
        if fcntl is None:
            return
        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunDirectoryError(f"another deepnet train is writing to {self.path}; wait for it to finish or "
                                    f"choose another --out") from None
        self._fd = fd

    def __del__(self):
        self.close()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the lock
            self._fd = None
