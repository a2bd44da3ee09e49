"""One queue per QPU backend across replicas: a leader per backend, the queue in the database.

Replicas configure the same backends, and each keeps its QPU executors warm, but only
one replica, the backend's leader, runs a backend's tasks: it holds the backend's row in
``backend_leases``, whose lease is its controller's (taken over, atomically, only once
that lease has expired). The leader's own dispatcher (``QPUDispatcher``) holds the whole
queue of the backend and its policy picks every start, as with one server:

- a job's quantum request on a backend this replica leads goes straight to its
  dispatcher, as it would without replicas;
- on a backend another replica leads, it becomes a row of ``quantum_queue`` (its request
  the bytes the dispatcher forwards, never opened here); the leader hears of it (a
  notification, or its sweep every second), loads it into its dispatcher in the rows'
  order, marks it running when the policy starts it, and writes the result's bytes back;
  the requester hears of that, reads the result, answers the job and deletes the row.

A new leader first puts its dead predecessor's running rows back to pending: quantum
tasks are pure, so one cut short runs again (at least once). Rows of a requester whose
lease has expired are dropped: its job runs again elsewhere, with requests of its own.
"""

from __future__ import annotations

import builtins
import dataclasses
import functools
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from qlambda.core import errors as qlambda_errors
from qlambda.engine.protocol import pack_data, unpack_data
from qlambda.platform.bus import Bus
from qlambda.platform.controller import Controller
from qlambda.platform.dispatcher import JobEstimates, QPUDispatcher, QuantumTask
from qlambda.quantum.envelope import RequestEnvelope, ResultEnvelope
from qlambda.store import Store, ownership, schema

log = logging.getLogger(__name__)
TICK = 0.25  # the sharing thread's clock
SWEEP_SECONDS = 1.0  # a leader looks for rows it missed; a requester for answers it missed
CLEANUP_SECONDS = 10.0  # a leader drops rows of requesters gone
LOAD_SECONDS = 0.5  # how old the queue lengths of backends led elsewhere may be
FINAL = ("done", "error", "canceled")
# (job id, change of its waiting tasks, change of its executing ones, a new task)
Counter = Callable[[str, int, int, bool], None]


@dataclass(eq=False)
class Requested:
    """A quantum task this replica asked another replica's leader to run."""

    job_id: str
    backend: str
    future: Future[ResultEnvelope] = field(default_factory=Future)
    id: int | None = None
    started: bool = False
    asked_at: float = field(default_factory=time.monotonic)


class SharedDispatcher:
    """The dispatcher of a replica: the API of ``QPUDispatcher`` that the platform uses.

    ``count`` keeps jobs' sub-statuses for the tasks it runs through the database (those
    its own dispatcher runs are counted by the quantum journal, as without replicas).
    """

    def __init__(
        self,
        local: QPUDispatcher,
        store: Store,
        controller: Controller,
        bus: Bus,
        count: Counter,
    ) -> None:
        self.local = local
        self._store = store
        self._controller = controller
        self._me = controller.id
        self._count = count
        self._lock = threading.Lock()
        self._led: set[str] = set()
        self._leaders: dict[str, str] = {}
        self._requested: dict[int, Requested] = {}  # by row id
        self._inflight: list[Requested] = []  # rows being inserted: no id yet
        self._early: dict[int, list[str]] = {}  # answers heard before the id was known
        self._loaded: dict[int, QuantumTask] = {}  # rows this leader queued, by row id
        self._row_of: dict[int, int] = {}  # task number -> row id, for those
        self._queue_lengths: dict[str, int] = {}
        self._lengths_at = 0.0
        self._actions: queue.SimpleQueue[tuple[str, list[str]]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="qlambda-qpu-share", daemon=True)
        bus.on("q", lambda fields: self._actions.put(("note", fields)))
        bus.on("c", lambda fields: self._actions.put(("lead", fields)))
        bus.on_resync(lambda: self._actions.put(("sweep", [])))

    # ------------------------------------------------------------ life cycle
    def start(self) -> None:
        self._lead()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def wait_ready(self, timeout: float | None = None) -> bool:
        return self.local.wait_ready(timeout)

    @property
    def backend_names(self) -> list[str]:
        return self.local.backend_names

    def configs(self) -> list[Any]:
        return self.local.configs()

    def device_data(self, backend: str) -> dict[str, Any]:
        """Read by this replica's own executor of ``backend`` (every replica has one)."""
        return self.local.device_data(backend)

    def leads(self, backend: str) -> bool:
        return backend in self._led

    # ------------------------------------------------------------ requesting
    def submit(
        self,
        request: Any,
        *,
        job_id: str,
        priority: float = 1.0,
        pin: bool = True,
        route: Any = None,
        backend: str | None = None,
    ) -> QuantumTask | Requested:
        """``route``: the worker's reply route, used where this replica leads the backend
        (its own executor answers the worker); another replica's answer is relayed here.
        ``backend``: where it runs, chosen already (:meth:`choose`)."""
        if backend is None:
            backend = self.choose(request, job_id=job_id, pin=pin)
        if backend in self._led:
            return self.local.submit(
                request, job_id=job_id, priority=priority, backend=backend, route=route
            )
        item = Requested(job_id, backend)
        row = {
            "job_id": job_id,
            "requester": self._me,
            "backend": backend,
            "priority": priority,
            "queued_at": time.time(),
            "state": "pending",
            "request": pack_data(request.to_data()),
        }
        with self._lock:
            self._inflight.append(item)
        self._count(job_id, 1, 0, True)
        table = schema.quantum_queue

        def insert(conn: sa.Connection) -> int:
            statement = table.insert().values(**row).returning(table.c.id)
            return int(conn.execute(statement).scalar_one())

        stored = self._store.writer.submit(insert)
        stored.add_done_callback(lambda f: self._inserted(item, f))
        return item

    def choose(self, request: Any, *, job_id: str, pin: bool = True) -> str:
        """The backend ``request`` would run on, by the queues of every replica."""
        return self.local.choose(request, job_id=job_id, load=self._load(), pin=pin)

    def _inserted(self, item: Requested, stored: Future[int]) -> None:
        early: list[str] | None = None
        with self._lock:
            self._inflight.remove(item)
            error = stored.exception()
            if error is None:
                row = item.id = stored.result()
                if not item.future.done():  # else its job was canceled meanwhile
                    self._requested[row] = item
                early = self._early.pop(row, None)
        if error is not None:
            self._count(item.job_id, -1, 0, False)
            if not item.future.done():
                item.future.set_exception(error)
            return
        if item.future.done():
            self._cancel_rows([stored.result()])
        elif early is not None:
            self._actions.put(("note", early))

    def cancel_job(self, job_id: str) -> int:
        """Drop a job's waiting tasks (its own dispatcher's, and its rows not yet running)."""
        dropped = self.local.cancel_job(job_id)
        with self._lock:
            doomed = [
                (row, item)
                for row, item in self._requested.items()
                if item.job_id == job_id and not item.started
            ]
            for row, _ in doomed:
                del self._requested[row]
            doomed += [(-1, item) for item in self._inflight if item.job_id == job_id]
        rows = [row for row, _ in doomed if row >= 0]
        if rows:
            self._cancel_rows(rows)
        for _, item in doomed:
            if not item.future.done():
                self._count(job_id, -1, 0, False)
                item.future.set_exception(CancelledError())
        return dropped + len(doomed)

    def _cancel_rows(self, rows: list[int]) -> None:
        table = schema.quantum_queue
        self._store.writer.submit(
            lambda conn: conn.execute(
                table.update()
                .where(table.c.id.in_(rows), table.c.state == "pending")
                .values(state="canceled")
            ),
            urgent=False,
        )

    def end_job(self, job_id: str, timeout: float = 10.0, answered_directly: int = 0) -> None:
        self.local.end_job(job_id, timeout, answered_directly)

    def job_estimates(self, job_id: str) -> JobEstimates:
        return self.local.job_estimates(job_id)

    def pending_count(self) -> int:
        """Waiting tasks: this replica's dispatcher's, and the rows of backends led
        elsewhere (as of at most ``LOAD_SECONDS`` ago)."""
        lengths = self._lengths()
        elsewhere = sum(n for name, n in lengths.items() if name not in self._led)
        return self.local.pending_count() + elsewhere

    def executing(self) -> dict[str, list[dict[str, Any]]]:
        """The tasks running on the backends this replica leads."""
        return self.local.executing()

    def stats(self) -> list[dict[str, Any]]:
        rows = self.local.stats()
        for row in rows:
            row["leader"] = self._leaders.get(row["backend"])
        return rows

    def _load(self) -> dict[str, float]:
        """Tasks per slot of each backend, as ``QPUDispatcher`` counts them."""
        lengths = self._lengths()
        load = {}
        for config in self.local.configs():
            if config.name in self._led:
                load[config.name] = self.local.load(config.name)
            else:
                load[config.name] = lengths.get(config.name, 0) / config.concurrency
        return load

    def _lengths(self) -> dict[str, int]:
        return self._queue_lengths

    def _refresh_lengths(self) -> None:
        table = schema.quantum_queue
        statement = (
            sa.select(table.c.backend, sa.func.count())
            .where(table.c.state.in_(("pending", "running")))
            .group_by(table.c.backend)
        )
        with self._store.engine.connect() as conn:
            self._queue_lengths = {backend: int(n) for backend, n in conn.execute(statement)}
        self._lengths_at = time.monotonic()

    # ------------------------------------------------------------ the thread
    def _loop(self) -> None:
        last_lead = last_sweep = last_cleanup = time.monotonic()
        while not self._stop.is_set():
            try:
                action, fields = self._actions.get(timeout=TICK)
            except queue.Empty:
                action, fields = "tick", []
            try:
                if action == "note":
                    self._heard(fields)
                elif action == "lead":
                    self._lead()
                elif action == "sweep":
                    self._sweep()
                now = time.monotonic()
                if now - last_lead >= self._controller.lease / 5:
                    last_lead = now
                    self._lead()
                if now - last_sweep >= SWEEP_SECONDS:
                    last_sweep = now
                    self._sweep()
                if now - last_cleanup >= CLEANUP_SECONDS:
                    last_cleanup = now
                    self._clean_up()
                if now - self._lengths_at >= LOAD_SECONDS:
                    self._refresh_lengths()
            except Exception as exc:  # the database away: the sweeps catch up later
                log.warning("sharing the QPU queues failed (%s); trying again", exc)
                self._stop.wait(SWEEP_SECONDS)

    def _heard(self, fields: list[str]) -> None:
        state, row, backend, requester = fields[0], int(fields[1]), fields[2], fields[3]
        if requester == self._me:
            self._answer(row, state, fields)
        if backend in self._led:
            if state == "pending":
                self._load_rows(backend, [row])
            elif state == "canceled":
                task = self._loaded.get(row)
                if task is not None:
                    self.local.cancel_job(task.job_id)

    # ------------------------------------------------------------ requester
    def _answer(self, row: int, state: str, fields: list[str]) -> None:
        with self._lock:
            item = self._requested.get(row)
            if item is None:
                if any(i.id is None for i in self._inflight):
                    self._early[row] = fields  # heard before its insert's callback ran
                elif state in FINAL:
                    self._delete_rows([row])  # its job was canceled: nobody waits
                return
        if state == "running" and not item.started:
            item.started = True
            self._count(item.job_id, -1, 1, False)
        elif state == "pending" and item.started:  # its leader died: queued again
            item.started = False
            self._count(item.job_id, 1, -1, False)
        elif state in FINAL:
            table = schema.quantum_queue
            with self._store.engine.connect() as conn:
                found = conn.execute(
                    sa.select(table.c.state, table.c.result).where(table.c.id == row)
                ).first()
            self._settle(row, item, None if found is None else (found[0], found[1]))

    def _settle(self, row: int, item: Requested, found: tuple[str, bytes | None] | None) -> None:
        with self._lock:
            if self._requested.pop(row, None) is None:
                return
        self._count(item.job_id, 0 if item.started else -1, -1 if item.started else 0, False)
        if found is None:
            item.future.set_exception(
                RuntimeError("the quantum task's row is gone (its leader dropped it)")
            )
            return
        state, result = found
        if state == "done" and result is not None:
            item.future.set_result(ResultEnvelope(**unpack_data(result)))
        elif state == "error" and result is not None:
            item.future.set_exception(rebuild_error(unpack_data(result)))
        else:
            item.future.set_exception(CancelledError())
        self._delete_rows([row])

    def _delete_rows(self, rows: list[int]) -> None:
        table = schema.quantum_queue
        self._store.writer.submit(
            lambda conn: conn.execute(table.delete().where(table.c.id.in_(rows))), urgent=False
        )

    # ------------------------------------------------------------ leader
    def _lead(self) -> None:
        """Take the lead of every backend whose leader's lease has expired (or that has
        none); note who leads the others."""
        for name in self.local.backend_names:
            if name in self._led:
                continue
            if self._store.writer.submit(self._acquisition(name)).result():
                log.warning("control plane %s leads backend %r", self._me, name)
                self._became_leader(name)
        leases = schema.backend_leases
        with self._store.engine.connect() as conn:
            statement = sa.select(leases.c.backend, leases.c.controller)
            self._leaders = {backend: leader for backend, leader in conn.execute(statement)}

    def _acquisition(self, name: str) -> Callable[[sa.Connection], bool]:
        leases, controllers = schema.backend_leases, schema.controllers

        def acquire(conn: sa.Connection) -> bool:
            live = sa.select(controllers.c.id).where(
                controllers.c.lease_expires_at > ownership.db_now(conn)
            )
            values = {"backend": name, "controller": self._me, "since": time.time()}
            statement = (
                pg_insert(leases)
                .values(**values)
                .on_conflict_do_update(
                    index_elements=[leases.c.backend],
                    set_={"controller": self._me, "since": values["since"]},
                    where=leases.c.controller.not_in(live),
                )
                .returning(leases.c.controller)
            )
            return conn.execute(statement).scalar() == self._me

        return acquire

    def _became_leader(self, name: str) -> None:
        table = schema.quantum_queue
        self._store.writer.submit(
            lambda conn: conn.execute(
                table.update()
                .where(table.c.backend == name, table.c.state == "running")
                .values(state="pending", leader=None)
            )
        ).result()
        self._led.add(name)
        self._load_rows(name)

    def _load_rows(self, backend: str, rows: list[int] | None = None) -> None:
        """Queue pending rows of ``backend`` (those given, or all) in their order."""
        table, controllers = schema.quantum_queue, schema.controllers
        with self._store.engine.connect() as conn:
            live = sa.select(controllers.c.id).where(
                controllers.c.lease_expires_at > ownership.db_now(conn)
            )
            statement = (
                sa.select(table.c.id, table.c.job_id, table.c.priority, table.c.request)
                .where(
                    table.c.backend == backend,
                    table.c.state == "pending",
                    table.c.requester.in_(live),
                )
                .order_by(table.c.id)
            )
            if rows is not None:
                statement = statement.where(table.c.id.in_(rows))
            else:
                known = list(self._loaded)
                if known:
                    statement = statement.where(table.c.id.not_in(known))
            found = conn.execute(statement).all()
        for row, job_id, priority, request in found:
            if row in self._loaded:
                continue
            try:
                envelope = RequestEnvelope.from_data(unpack_data(request))
            except Exception as exc:
                self._write_outcome(row, "error", _error_data(exc))
                continue
            task = self.local.submit(envelope, job_id=job_id, priority=priority, backend=backend)
            self._loaded[row] = task
            self._row_of[task.number] = row
            if task.started_at is not None:
                self._mark_running(row)
            task.future.add_done_callback(functools.partial(self._executed, row))

    def is_shared(self, task: QuantumTask) -> bool:
        """Whether ``task`` came from another replica's row (the quantum journal records
        it, but counts it only where its job lives)."""
        return task.number in self._row_of

    def on_local_event(self, task: QuantumTask, what: str) -> None:
        """The local dispatcher's report on one of its tasks (lock held: only queue)."""
        if what == "started":
            row = self._row_of.get(task.number)
            if row is not None:
                self._mark_running(row)

    def _mark_running(self, row: int) -> None:
        table = schema.quantum_queue
        self._store.writer.submit(
            lambda conn: conn.execute(
                table.update()
                .where(table.c.id == row, table.c.state == "pending")
                .values(state="running", leader=self._me)
            ),
            urgent=False,
        )

    def _executed(self, row: int, future: Future[ResultEnvelope]) -> None:
        task = self._loaded.pop(row, None)
        if task is not None:
            self._row_of.pop(task.number, None)
        if future.cancelled():
            self._write_outcome(row, "canceled", None)
            return
        error = future.exception()
        if isinstance(error, CancelledError):
            self._write_outcome(row, "canceled", None)
        elif error is not None:
            self._write_outcome(row, "error", _error_data(error))
        else:
            self._write_outcome(row, "done", dataclasses.asdict(future.result()))

    def _write_outcome(self, row: int, state: str, data: Any) -> None:
        table = schema.quantum_queue
        values = {"state": state, "result": None if data is None else pack_data(data)}
        self._store.writer.submit(
            lambda conn: conn.execute(
                table.update()
                .where(table.c.id == row, table.c.state.in_(("pending", "running")))
                .values(**values)
            )
        )

    # ------------------------------------------------------------ catching up
    def _sweep(self) -> None:
        """What notifications may have missed: rows to lead, answers to read."""
        for name in list(self._led):
            self._load_rows(name)
        with self._lock:
            waiting = {
                row: item
                for row, item in self._requested.items()
                if time.monotonic() - item.asked_at > SWEEP_SECONDS
            }
        if not waiting:
            return
        table = schema.quantum_queue
        with self._store.engine.connect() as conn:
            found = {
                row: (state, result)
                for row, state, result in conn.execute(
                    sa.select(table.c.id, table.c.state, table.c.result).where(
                        table.c.id.in_(list(waiting))
                    )
                )
            }
        for row, item in waiting.items():
            answer = found.get(row)
            if answer is None or answer[0] in FINAL:
                self._settle(row, item, answer)
            elif answer[0] == "running" and not item.started:
                item.started = True
                self._count(item.job_id, -1, 1, False)

    def _clean_up(self) -> None:
        """Rows of requesters whose lease has expired: their jobs run again elsewhere."""
        if not self._led:
            return
        table, controllers = schema.quantum_queue, schema.controllers
        led = list(self._led)

        def drop(conn: sa.Connection) -> None:
            live = sa.select(controllers.c.id).where(
                controllers.c.lease_expires_at > ownership.db_now(conn)
            )
            gone = table.c.backend.in_(led) & table.c.requester.not_in(live)
            conn.execute(table.delete().where(gone, table.c.state.in_(FINAL)))
            conn.execute(
                table.update().where(gone, table.c.state == "pending").values(state="canceled")
            )

        self._store.writer.submit(drop, urgent=False)


def _error_data(error: BaseException) -> dict[str, str]:
    return {"type": type(error).__name__, "message": str(error)}


_KNOWN: dict[str, type[BaseException]] = {
    name: cls
    for name, cls in vars(qlambda_errors).items()
    if isinstance(cls, type) and issubclass(cls, Exception)
}


def rebuild_error(data: Any) -> BaseException:
    """A quantum task's error as the requesting job sees it: its type when it is one of
    qlambda's or a builtin one that takes a message, else a ``TaskFailedError``."""
    if not isinstance(data, dict):
        return qlambda_errors.TaskFailedError("the quantum task failed")
    name, message = str(data.get("type")), str(data.get("message"))
    cls = _KNOWN.get(name) or getattr(builtins, name, None)
    if isinstance(cls, type) and issubclass(cls, Exception):
        try:
            return cls(message)
        except Exception:
            pass
    return qlambda_errors.TaskFailedError(f"{name}: {message}")
