"""One platform per data directory: an OS lock on a file in it.

Two servers (or a server and an embedded Client) on one data directory would both
run its unfinished jobs and write its results. ``flock`` is released by the kernel
when the holder dies, so a lock file left behind by a killed process never blocks.
PostgreSQL stores are locked the same way: by the data directory beside them.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from qlambda.core.errors import ConfigurationError

LOCK_FILE = "qlambda.lock"


class DataDirLockedError(ConfigurationError):
    """Another live process holds the data directory."""


class DataDirLock:
    def __init__(self, data_dir: str | Path) -> None:
        self.path = Path(data_dir) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> DataDirLock:
        """Hold the lock, or raise ``DataDirLockedError`` naming the process holding it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise DataDirLockedError(
                f"the data directory {str(self.path.parent)!r} is in use by process {holder} "
                "(a `qlambda serve` or an embedded Client); stop it first, or use another "
                "data directory (--data-dir, $QLAMBDA_DATA_DIR)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the last descriptor releases the flock
            self._fd = None
