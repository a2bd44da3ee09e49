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
from typing import Any

import sqlalchemy as sa

log = logging.getLogger(__name__)

Operation = Callable[[sa.Connection], Any]
_STOP = object()


class StoreWriter:
    """``linger``: how long writes nobody waits for (events, progress) may wait for company."""

    def __init__(self, engine: sa.Engine, max_batch: int = 500, linger: float = 0.02) -> None:
        self._engine = engine
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._max_batch = max_batch
        self._linger = linger
        self._thread = threading.Thread(target=self._loop, name="qlambda-store", daemon=True)
        self._thread.start()

    def submit(self, operation: Operation, *, urgent: bool = True) -> Future:
        """Queue a write. An urgent one is committed at once, with whatever else is queued."""
        future: Future = Future()
        self._queue.put((operation, future, urgent))
        return future

    def flush(self) -> None:
        """Wait until everything queued so far is committed."""
        self.submit(lambda conn: None).result()

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join()

    def _loop(self) -> None:
        while True:
            batch: list[tuple[Operation, Future, bool]] = []
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

    def _commit(self, batch: list[tuple[Operation, Future, bool]]) -> None:
        try:
            with self._engine.begin() as conn:
                results = [operation(conn) for operation, _, _ in batch]
        except Exception:
            # One bad write must not take the others down: retry them one by one.
            for operation, future, _ in batch:
                try:
                    with self._engine.begin() as conn:
                        result = operation(conn)
                except Exception as exc:
                    log.exception("store write failed")
                    future.set_exception(exc)
                else:  # told only once committed
                    future.set_result(result)
            return
        for (_, future, _), result in zip(batch, results, strict=True):
            future.set_result(result)
