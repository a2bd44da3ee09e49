"""One thread that owns all writes, committing whatever has queued up together.

Callers that must not go on before their write is durable (a submission, a final
result) wait on the Future; everything else (events, progress) just queues. Many
writes then share one commit, which is what keeps a busy platform off the disk's
critical path. Within a commit, the rows inserted into one table go in one multi-row
insert and the updates of one shape in one ``executemany``: a statement per batch,
not per write, which is most of what a write costs on PostgreSQL.

While the database cannot be reached the writer keeps every write and retries with
backoff; a Future resolves only once its write is committed (or failed for a reason a
retry cannot fix: a constraint violation fails its own write only). A write nobody
waits for any more can be withdrawn (``PendingWrite.withdraw``) until it is attempted.
When a connection is lost during COMMIT, the writer finds out whether that transaction
committed before doing it again: on PostgreSQL each of its transactions also sets the
writer's row of ``writer_commits`` to the transaction's number, and the row, read once
the database answers (after that transaction's locks are gone), tells. (PostgreSQL's
``txid_status`` cannot: a transaction id never written to disk before a crash is handed
out again after it, and may then read as committed.)
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, ClassVar

import sqlalchemy as sa

from qlambda.store.faults import Health, StoreUnavailableError, describe, is_connection_error

log = logging.getLogger(__name__)

Operation = Callable[[sa.Connection], Any]
Rows = tuple[sa.Table, list[dict[str, Any]]]
Update = tuple[sa.Table, Any, dict[str, Any]]  # table, primary key value, new values
Guard = tuple[str, Any]  # (column, value): an update applies only while the row has it
_STOP = object()
FIRST_BACKOFF = 0.05
MAX_BACKOFF = 2.0
CLOSE_GRACE = 5.0  # how long ``close`` waits for an unreachable database
PATIENCE = 3.0  # seconds a write waits for an unreachable database before it is given up
# The writer's row of ``writer_commits``: set in each of its transactions; read (and made,
# if its first transaction did not commit) after a COMMIT left in doubt; gone at close.
_MARK = (
    "INSERT INTO writer_commits (writer, sequence) VALUES (%s, %s) "
    "ON CONFLICT (writer) DO UPDATE SET sequence = excluded.sequence"
)
_ASK = (
    "INSERT INTO writer_commits (writer, sequence) VALUES (%s, 0) "
    "ON CONFLICT (writer) DO UPDATE SET sequence = writer_commits.sequence RETURNING sequence"
)
_FORGET = "DELETE FROM writer_commits WHERE writer = %s"


class PendingWrite(Future[Any]):
    """A write's Future. ``withdraw`` gives up a write not yet attempted (the caller will
    not acknowledge it): it is then never committed, and the Future is cancelled."""

    def __init__(self) -> None:
        super().__init__()
        self._gate = threading.Lock()
        self._attempting = False
        self._withdrawn = False

    def withdraw(self) -> bool:
        """True if the write will never be committed; False if it is being committed
        now (or was): wait for the Future then."""
        with self._gate:
            if self._attempting or self.done():
                return False
            self._withdrawn = True
        return super().cancel()

    def cancel(self) -> bool:
        """``withdraw``: a write being committed cannot be cancelled (asyncio's
        ``wrap_future`` cancels the Future it wraps when its waiter is cancelled)."""
        return self.withdraw()

    def _claim(self) -> bool:
        with self._gate:
            if self._withdrawn:
                return False
            self._attempting = True
            return True

    def _release(self) -> None:
        with self._gate:
            self._attempting = False


@dataclass(slots=True)
class _Write:
    operation: Operation | None
    inserted: Rows | None  # before the batch's updates: one multi-row insert per table
    updated: Update | None
    appended: Rows | None  # rows nobody updates (events): after everything else
    future: PendingWrite
    urgent: bool
    only_if: Guard | None = None  # ``updated`` applies only while the row holds this


class _InDoubt(Exception):
    """The connection was lost during COMMIT: the transaction may have committed."""

    def __init__(self, number: int | None, results: list[Any], cause: BaseException) -> None:
        super().__init__(str(cause))
        self.number = number  # the transaction's number in ``writer_commits`` (None: SQLite)
        self.results = results
        self.cause = cause


class _Batch:
    """Runs a batch's writes on one connection, in their order, grouping what can be:
    rows inserted into a table (with the same columns) become one statement, updates of
    one table with the same columns one ``executemany``; several updates of one row
    merge into one (the later values win). An ``operation`` (any SQL) runs in its place,
    after everything grouped before it. An update with a guard (``only_if``) is grouped
    with those of its shape and guard column, after the plain ones; its write's result is
    whether it applied, and its appended rows go in only if it did."""

    _update_statements: ClassVar[dict[tuple[sa.Table, tuple[str, ...], str | None], sa.Update]] = {}

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self.inserts: dict[tuple[sa.Table, tuple[str, ...]], list[dict[str, Any]]] = {}
        self.updates: dict[tuple[sa.Table, Any], dict[str, Any]] = {}
        self.guarded: dict[tuple[sa.Table, Any, Guard], dict[str, Any]] = {}
        self.guarded_rows: set[tuple[sa.Table, Any]] = set()

    def run(self, writes: Sequence[_Write]) -> list[Any]:
        results: list[Any] = []
        checks: list[tuple[int, sa.Table, Any, Guard]] = []
        for write in writes:
            if write.operation is not None:
                self.flush()
                results.append(write.operation(self.conn))
            else:
                results.append(None)
            if write.inserted is not None:
                table, rows = write.inserted
                for row in rows:
                    self.inserts.setdefault((table, tuple(row)), []).append(row)
            if write.updated is not None:
                table, key, values = write.updated
                if write.only_if is None:
                    if (table, key) in self.guarded_rows:
                        self.flush()  # after the guarded update of that row, as asked
                    self.updates.setdefault((table, key), {}).update(values)
                else:
                    self.guarded.setdefault((table, key, write.only_if), {}).update(values)
                    self.guarded_rows.add((table, key))
                    checks.append((len(results) - 1, table, key, write.only_if))
        self.flush()
        for index, applied in self._applied(checks):
            results[index] = applied
        appended: dict[sa.Table, list[dict[str, Any]]] = {}
        for write, result in zip(writes, results, strict=True):
            if write.only_if is not None and not result:
                continue  # its update did not apply: neither do its rows
            if write.appended is not None and write.appended[1]:
                appended.setdefault(write.appended[0], []).extend(write.appended[1])
        for table, rows in appended.items():
            self.conn.execute(table.insert(), rows)
        return results

    def flush(self) -> None:
        for (table, _), rows in self.inserts.items():
            self.conn.execute(table.insert(), rows)
        self.inserts.clear()
        shapes: dict[tuple[sa.Table, tuple[str, ...], str | None], list[dict[str, Any]]] = {}
        for (table, key), values in self.updates.items():
            shapes.setdefault((table, tuple(sorted(values)), None), []).append(
                _parameters(key, values)
            )
        for (table, key, (column, value)), values in self.guarded.items():
            shapes.setdefault((table, tuple(sorted(values)), column), []).append(
                {**_parameters(key, values), "g_": value}
            )
        self.updates.clear()
        self.guarded.clear()
        self.guarded_rows.clear()
        for (table, names, guard), parameters in shapes.items():
            self.conn.execute(self._update(table, names, guard), parameters)

    def _applied(self, checks: list[tuple[int, sa.Table, Any, Guard]]) -> list[tuple[int, bool]]:
        """Which guarded updates applied: their rows hold the guard's value now (in this
        transaction, which locked the rows it updated)."""
        groups: dict[tuple[sa.Table, Guard], list[tuple[int, Any]]] = {}
        for index, table, key, guard in checks:
            groups.setdefault((table, guard), []).append((index, key))
        outcome = []
        for (table, (column, value)), members in groups.items():
            (primary,) = table.primary_key.columns
            keys = [key for _, key in members]
            found = set(
                self.conn.execute(
                    sa.select(primary).where(primary.in_(keys), table.c[column] == value)
                ).scalars()
            )
            outcome += [(index, key in found) for index, key in members]
        return outcome

    @classmethod
    def _update(cls, table: sa.Table, names: tuple[str, ...], guard: str | None) -> sa.Update:
        statement = cls._update_statements.get((table, names, guard))
        if statement is None:
            (key,) = table.primary_key.columns
            condition = key == sa.bindparam("k_")
            if guard is not None:
                condition = condition & (table.c[guard] == sa.bindparam("g_"))
            statement = (
                table.update()
                .where(condition)
                .values({name: sa.bindparam(f"v_{name}") for name in names})
            )
            cls._update_statements[(table, names, guard)] = statement
        return statement


def _parameters(key: Any, values: dict[str, Any]) -> dict[str, Any]:
    return {"k_": key, **{f"v_{name}": value for name, value in values.items()}}


class StoreWriter:
    """``linger``: how long writes nobody waits for (events, progress) may wait for company."""

    def __init__(
        self,
        engine: sa.Engine,
        max_batch: int = 500,
        linger: float = 0.02,
        health: Health | None = None,
    ) -> None:
        self._engine = engine
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._max_batch = max_batch
        self._linger = linger
        self.health = health or Health()
        self._postgres = engine.dialect.name == "postgresql"
        self._stopping = threading.Event()
        self._wake = threading.Event()  # set by an urgent write: commit now
        self._stop_deadline: float | None = None
        self._backoff = FIRST_BACKOFF
        self._id = uuid.uuid4().hex  # its row of ``writer_commits``
        self._numbers = itertools.count(1)
        self._marked = False  # its row may exist
        self._thread = threading.Thread(target=self._loop, name="qlambda-store", daemon=True)
        self._thread.start()

    def submit(
        self,
        operation: Operation | None,
        *,
        urgent: bool = True,
        inserted: Rows | None = None,
        updated: Update | None = None,
        appended: Rows | None = None,
        only_if: Guard | None = None,
    ) -> PendingWrite:
        """Queue a write. An urgent one is committed at once, with whatever else is queued.

        ``inserted``: (table, rows) to insert; ``updated``: (table, primary key, values)
        to set. Both are grouped with the batch's other writes of the same shape, in
        their order. ``appended``: (table, rows) inserts that only add rows others never
        update (events, quantum tasks); they run after the batch's other writes, one
        multi-row insert per table for the whole batch, in the same commit.
        ``only_if``: (column, value): ``updated`` applies only while its row holds that
        value; the write's result is then whether it applied (and its ``appended`` rows
        are inserted only if it did).
        """
        future = PendingWrite()
        self._queue.put(_Write(operation, inserted, updated, appended, future, urgent, only_if))
        if urgent:
            self._wake.set()
        return future

    def hurry(self) -> None:
        """Commit what is queued now, as an urgent write would, without waiting for it."""
        self._wake.set()

    def flush(self) -> None:
        """Wait until everything queued so far is committed (``committed``'s rules: while
        the database cannot be reached, ``StoreUnavailableError`` after ``PATIENCE``)."""
        self.committed(self.submit(None))

    def committed(self, stored: PendingWrite, patience: float = PATIENCE) -> Any:
        """The write's result once committed. While the database cannot be reached, a
        write not yet attempted is given up after ``patience`` seconds and
        ``StoreUnavailableError`` raised: it is then never committed."""
        started = time.monotonic()
        while True:
            try:
                return stored.result(timeout=0.25)
            except FutureTimeout:
                late = time.monotonic() - started >= patience
                if late and not self.health.available and stored.withdraw():
                    raise self.health.unavailable() from None

    def close(self) -> None:
        """Commit what is queued and stop; if the database cannot be reached, give up
        after ``CLOSE_GRACE`` seconds (those writes fail: nothing is acknowledged)."""
        self._stop_deadline = time.monotonic() + CLOSE_GRACE
        self._stopping.set()
        self._queue.put(_STOP)
        self._wake.set()
        self._thread.join()
        if self._marked and self.health.available:
            with contextlib.suppress(Exception), self._engine.begin() as conn:
                conn.exec_driver_sql(_FORGET, (self._id,))

    # ------------------------------------------------------------------ loop
    def _loop(self) -> None:
        while True:
            item = self._next_or_probe()
            if item is _STOP:
                return
            if not item.urgent and self._queue.qsize() < self._max_batch:
                # Writes nobody waits for keep company for ``linger``: they queue without
                # waking this thread (each wake-up would take the GIL from the threads on
                # a job's path); only an urgent write or close cuts the wait short.
                self._wake.wait(self._linger)
            self._wake.clear()
            batch, stop = [item], False
            while len(batch) < self._max_batch:
                item = self._drain_one()
                if item is None:
                    break
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
            self._commit(batch)
            if stop:
                return

    def _next_or_probe(self) -> Any:
        """The next write; while the database is away and nothing is queued, try it
        now and then, so that its return is noticed without a write to notice it."""
        while True:
            try:  # a read may find the database away while this thread waits here
                return self._queue.get(timeout=self._backoff if not self.health.available else 1)
            except queue.Empty:
                if not self.health.available:
                    self._probe()

    def _probe(self) -> None:
        try:
            with self._engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except Exception as exc:
            if not is_connection_error(exc):
                log.exception("the database answered the writer's check with an error")
            self.health.down(exc)
            self._backoff = min(MAX_BACKOFF, self._backoff * 2)
        else:
            self._recovered()

    def _recovered(self) -> None:
        if not self.health.available:
            log.warning("the database can be reached again")
        self.health.up()
        self._backoff = FIRST_BACKOFF

    def _drain_one(self) -> Any:
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            return None

    # --------------------------------------------------------------- commits
    def _commit(self, batch: list[_Write]) -> None:
        """Commit the batch, retrying while the database is away; a write that fails for
        another reason sends the batch's writes one by one, so that only it fails."""
        while True:
            writes = [write for write in batch if write.future._claim()]
            if not writes:
                return
            if not self.health.available and self._given_up_in() <= 0:
                self._wait_for_database(StoreUnavailableError("closing"), writes)
                return
            try:
                results = self._attempt(writes)
            except Exception as exc:
                for write in writes:
                    write.future._release()
                if not is_connection_error(exc):
                    self._one_by_one(writes)
                    return
                if not self._wait_for_database(exc, writes):
                    return
                continue
            self._recovered()
            for write, result in zip(writes, results, strict=True):
                write.future.set_result(result)  # told only once committed
            return

    def _one_by_one(self, writes: list[_Write]) -> None:
        for write in writes:
            while write.future._claim():
                try:
                    (result,) = self._attempt([write])
                except Exception as exc:
                    write.future._release()
                    if is_connection_error(exc):
                        if self._wait_for_database(exc, [write]):
                            continue
                        break
                    if isinstance(exc, sa.exc.IntegrityError):  # told to whoever waits
                        log.info("a store write was refused: %s", describe(exc))
                    else:
                        log.exception("store write failed")
                    write.future.set_exception(exc)
                else:
                    self._recovered()
                    write.future.set_result(result)
                break

    def _attempt(self, writes: list[_Write]) -> list[Any]:
        """One transaction: the writes' results, once committed. A connection lost during
        COMMIT is resolved here: the results if it committed, else the error."""
        try:
            return self._transaction(writes)
        except _InDoubt as doubt:
            if self._committed(doubt):
                return doubt.results
            raise doubt.cause from None

    def _transaction(self, writes: list[_Write]) -> list[Any]:
        with self._engine.connect() as conn:
            transaction = conn.begin()
            try:
                results = _Batch(conn).run(writes)
                number = self._mark(conn)
            except BaseException:
                if transaction.is_active:
                    # when the connection is gone, so is the transaction
                    with contextlib.suppress(Exception):
                        transaction.rollback()
                raise
            try:
                transaction.commit()
            except Exception as exc:
                if is_connection_error(exc):
                    raise _InDoubt(number, results, exc) from exc
                raise
        return results

    def _mark(self, conn: sa.Connection) -> int | None:
        """Number this transaction in the writer's row, to ask after a COMMIT left in doubt."""
        if not self._postgres:
            return None  # SQLite's commit either happened or raised before it did
        number = next(self._numbers)
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(_MARK, (self._id, number))
        finally:
            cursor.close()
        self._marked = True
        return number

    def _committed(self, doubt: _InDoubt) -> bool:
        """Whether the transaction left in doubt committed: asked once the database
        answers again. The question upserts the writer's row, so it waits for that
        transaction's lock on the row if it is still committing (after a crash nothing
        holds it: the row is what the disk kept)."""
        if doubt.number is None:
            return False
        while True:
            try:
                with self._engine.begin() as conn:
                    found = conn.exec_driver_sql(_ASK, (self._id,)).scalar_one()
            except Exception as exc:
                if not is_connection_error(exc) or not self._pause(exc):
                    raise doubt.cause from None
                continue
            return bool(found == doubt.number)

    def _wait_for_database(self, error: BaseException, writes: list[_Write]) -> bool:
        """Back off before the next attempt; False (the writes failed) once the writer is
        closing and the database has stayed away past the grace period."""
        if self._pause(error):
            return True
        failure = self.health.unavailable()
        for write in writes:
            if not write.future.done():
                write.future.set_exception(failure)
        return False

    def _pause(self, error: BaseException) -> bool:
        if self.health.available:
            log.warning("the database cannot be reached; writes wait and retry: %s", error)
        self.health.down(error)
        if self._stopping.is_set():
            remaining = self._given_up_in()
            if remaining <= 0:
                return False
            time.sleep(min(self._backoff, remaining))
        else:
            self._stopping.wait(self._backoff)
        self._backoff = min(MAX_BACKOFF, self._backoff * 2)
        return True

    def _given_up_in(self) -> float:
        """Seconds until a closing writer stops waiting for the database (inf: not closing)."""
        if self._stop_deadline is None:
            return float("inf")
        return self._stop_deadline - time.monotonic()
