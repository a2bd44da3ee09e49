"""One platform per data directory, and per SQLite database: OS locks on files.

Two servers (or a server and an embedded Client) on one data directory would both
write its job folders; two on one SQLite database would both run its unfinished jobs.
``flock`` is released by the kernel when the holder dies, so a lock file left behind
by a killed process never blocks. A PostgreSQL database is shared in another way: by
control planes that hold leases in it (``qlambda.platform.controller``), each with a
data directory of its own.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Self

from qlambda.core.errors import ConfigurationError

LOCK_FILE = "qlambda.lock"
SQLITE_LOCK_SUFFIX = ".qlambda-lock"


class DataDirLockedError(ConfigurationError):
    """Another live process holds the data directory (or the SQLite database)."""


class _FileLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def _refusal(self, holder: str) -> str:
        raise NotImplementedError

    def acquire(self) -> Self:
        """Hold the lock, or raise ``DataDirLockedError`` naming the process holding it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise DataDirLockedError(self._refusal(holder)) from None
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


class DataDirLock(_FileLock):
    def __init__(self, data_dir: str | Path) -> None:
        super().__init__(Path(data_dir) / LOCK_FILE)

    def _refusal(self, holder: str) -> str:
        return (
            f"the data directory {str(self.path.parent)!r} is in use by process {holder} "
            "(a `qlambda serve` or an embedded Client); stop it first, or use another "
            "data directory (--data-dir, $QLAMBDA_DATA_DIR)"
        )


class SQLiteLock(_FileLock):
    """A SQLite database serves one platform, whatever data directory each has."""

    def __init__(self, database: str | Path) -> None:
        self.database = Path(database)
        super().__init__(self.database.with_name(self.database.name + SQLITE_LOCK_SUFFIX))

    def _refusal(self, holder: str) -> str:
        return (
            f"the SQLite database {str(self.database)!r} is in use by process {holder} (a "
            "`qlambda serve` or an embedded Client with another data directory); a SQLite "
            "database serves one platform: stop that one first, or share a PostgreSQL "
            "database between replicas (docs/team.md)"
        )
