"""One thread that owns all writes, committing whatever has queued up together.

Callers that must not go on before their write is durable (a submission, a final
result) wait on the Future; everything else (events, progress) just queues. Many
writes then share one commit, which is what keeps a busy platform off the disk's
critical path.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

log = logging.getLogger(__name__)

Operation = Callable[[sa.Connection], Any]
Appended = tuple[sa.Table, list[dict[str, Any]]]
_STOP = object()


@dataclass(frozen=True, slots=True)
class _Write:
    operation: Operation | None
    appended: Appended | None

    def run(self, conn: sa.Connection) -> Any:
        return None if self.operation is None else self.operation(conn)


def _append_all(conn: sa.Connection, appended: list[Appended | None]) -> None:
    """One multi-row insert per table for every appended row of a batch."""
    by_table: dict[sa.Table, list[dict[str, Any]]] = {}
    for item in appended:
        if item is not None and item[1]:
            by_table.setdefault(item[0], []).extend(item[1])
    for table, rows in by_table.items():
        conn.execute(table.insert(), rows)


class StoreWriter:
    """``linger``: how long writes nobody waits for (events, progress) may wait for company."""

    def __init__(self, engine: sa.Engine, max_batch: int = 500, linger: float = 0.02) -> None:
        self._engine = engine
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._max_batch = max_batch
        self._linger = linger
        self._thread = threading.Thread(target=self._loop, name="qlambda-store", daemon=True)
        self._thread.start()

    def submit(
        self,
        operation: Operation | None,
        *,
        urgent: bool = True,
        appended: Appended | None = None,
    ) -> Future[Any]:
        """Queue a write. An urgent one is committed at once, with whatever else is queued.

        ``appended``: (table, rows) inserts that only add rows others never update
        (events, quantum tasks). They run after the batch's operations, one
        multi-row insert per table for the whole batch, in the same commit.
        """
        future: Future[Any] = Future()
        self._queue.put((_Write(operation, appended), future, urgent))
        return future

    def flush(self) -> None:
        """Wait until everything queued so far is committed."""
        self.submit(None).result()

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join()

    def _loop(self) -> None:
        while True:
            batch: list[tuple[_Write, Future[Any], bool]] = []
            stop = urgent = False
            deadline = None
            item = self._queue.get()
            while True:
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
                urgent = urgent or item[2]
                if len(batch) >= self._max_batch:
                    break
                if urgent:  # someone waits: take what is queued and commit now
                    item = self._drain_one()
                    if item is None:
                        break
                    continue
                if deadline is None:
                    deadline = time.monotonic() + self._linger
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
            if batch:
                self._commit(batch)
            if stop:
                return

    def _drain_one(self) -> Any:
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            return None

    def _commit(self, batch: list[tuple[_Write, Future[Any], bool]]) -> None:
        try:
            with self._engine.begin() as conn:
                results = [write.run(conn) for write, _, _ in batch]
                _append_all(conn, [write.appended for write, _, _ in batch])
        except Exception:
            # One bad write must not take the others down: retry them one by one.
            for operation, future, _ in batch:
                try:
                    with self._engine.begin() as conn:
                        result = operation.run(conn)
                        _append_all(conn, [operation.appended])
                except Exception as exc:
                    log.exception("store write failed")
                    future.set_exception(exc)
                else:  # told only once committed
                    future.set_result(result)
            return
        for (_, future, _), result in zip(batch, results, strict=True):
            future.set_result(result)
