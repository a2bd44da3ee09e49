"""Jobs' logs where every replica reads them: the database's ``job_logs`` table.

A job's worker writes its log to a file on its owner's disk. The owner ships what the
file gained, at most every ``interval`` seconds while the job runs and all of it when
the job ends (queued before the job's end is written, so a client that saw the end reads
the whole log); any replica reads the chunks back in order. Each chunk names the file it
came from and where it starts there, so a job that moved to another replica (or came
back to this one after a restart) continues where that file's shipping stopped.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from qlambda.platform.output_caps import LOG_NOTICE, megabytes
from qlambda.store import Store, schema

log = logging.getLogger(__name__)
CHUNK_LIMIT = 1 << 20  # bytes of one row; a larger gain goes in several


class LogShipper:
    """``live()`` lists (job id, log path) of the jobs this control plane runs."""

    def __init__(
        self,
        store: Store,
        live: Callable[[], list[tuple[str, Path | None]]],
        max_log_bytes: int | None,
        interval: float = 1.0,
    ) -> None:
        self._store = store
        self._live = live
        self._limit = max_log_bytes
        self._interval = interval
        self._shipped: dict[str, tuple[str, int]] = {}  # job id -> (source, bytes shipped)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="qlambda-logs", daemon=True)

    def start(self) -> LogShipper:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def adopted(self, job_id: str, path: Path | None) -> None:
        """A job claimed from the store: its file here may hold what an earlier attempt
        shipped already."""
        if path is None or not path.exists():
            return
        table = schema.job_logs
        end = sa.func.max(table.c.file_offset + sa.func.length(table.c.data))
        with self._store.engine.connect() as conn:
            shipped = conn.execute(
                sa.select(end).where(table.c.job_id == job_id, table.c.source == str(path))
            ).scalar()
        with self._lock:
            self._shipped[job_id] = (str(path), int(shipped or 0))

    def ship(self, job_id: str, path: Path | None, *, final: bool = False) -> None:
        """Queue what the file gained since the last time (a write nobody waits for);
        ``final``: the job ended, forget it afterwards."""
        with self._lock:
            if path is not None:
                source, done = self._shipped.get(job_id, (str(path), 0))
                if source != str(path):
                    source, done = str(path), 0
                chunks = _read_from(path, done, self._room(done))
                rows: list[dict[str, Any]] = [
                    {"job_id": job_id, "source": source, "file_offset": offset, "data": data}
                    for offset, data in chunks
                ]
                if rows:  # appended rows: in the batch's commit, after its updates
                    self._store.writer.submit(None, urgent=False, appended=(schema.job_logs, rows))
                    offset, data = chunks[-1]
                    done = offset + len(data)
                self._shipped[job_id] = (source, done)
            if final:
                self._shipped.pop(job_id, None)

    def _room(self, done: int) -> int | None:
        """How much more of one file is kept: the cap and the notice the worker adds."""
        if self._limit is None:
            return None
        notice = len(LOG_NOTICE.format(limit=megabytes(self._limit)).encode())
        return max(0, self._limit + notice - done)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                for job_id, path in self._live():
                    self.ship(job_id, path)
            except Exception:
                log.exception("shipping jobs' logs failed")


def _read_from(path: Path, start: int, room: int | None) -> list[tuple[int, bytes]]:
    try:
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            if size <= start:
                return []
            file.seek(start)
            wanted = size - start if room is None else min(size - start, room)
            data = file.read(wanted)
    except FileNotFoundError:
        return []
    return [(start + i, data[i : i + CHUNK_LIMIT]) for i in range(0, len(data), CHUNK_LIMIT)]


def read_shipped(store: Store, job_id: str, limit: int | None) -> tuple[str, bool]:
    """A job's log as shipped (at most ``limit`` bytes of it) and whether it was cut."""
    table = schema.job_logs
    with store.engine.connect() as conn:
        chunks = conn.execute(
            sa.select(table.c.data).where(table.c.job_id == job_id).order_by(table.c.id)
        ).scalars()
        data = b"".join(chunks)
    if limit is None or len(data) <= limit:
        return data.decode(errors="replace"), False
    notice = LOG_NOTICE.format(limit=megabytes(limit))
    return data[:limit].decode(errors="replace") + notice, True
