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
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import sqlalchemy as sa

log = logging.getLogger(__name__)

Operation = Callable[[sa.Connection], Any]
_STOP = object()


class StoreWriter:
    def __init__(self, engine: sa.Engine, max_batch: int = 500) -> None:
        self._engine = engine
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._max_batch = max_batch
        self._thread = threading.Thread(target=self._loop, name="qlambda-store", daemon=True)
        self._thread.start()

    def submit(self, operation: Operation) -> Future:
        future: Future = Future()
        self._queue.put((operation, future))
        return future

    def flush(self) -> None:
        """Wait until everything queued so far is committed."""
        self.submit(lambda conn: None).result()

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join()

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            batch = []
            stop = item is _STOP
            if not stop:
                batch.append(item)
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
            if batch:
                self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[tuple[Operation, Future]]) -> None:
        try:
            with self._engine.begin() as conn:
                results = [operation(conn) for operation, _ in batch]
        except Exception:
            # One bad write must not take the others down: retry them one by one.
            for operation, future in batch:
                try:
                    with self._engine.begin() as conn:
                        future.set_result(operation(conn))
                except Exception as exc:
                    log.exception("store write failed")
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            future.set_result(result)
