"""The QPU dispatcher: a queue per backend, a policy picks whenever a QPU frees.

Every backend slot is a warm executor process holding the simulated device (or,
for real hardware, an adapter). The dispatcher never hands a backend more tasks
than it has slots, so the policy decides every start, as Cicconetti's model [1] defines it.

A request that names no backend goes to one that can serve it; a job's such requests
all go to the backend its first one got (its pin), so its results come from one
device, until the job ends (:meth:`QPUDispatcher.end_job`). ``backend="auto"`` asks
for a choice per request instead.

Executors are shared by every job, so nothing they send back is unpickled here (their
engine does not trust them): an answer is data, a failure its type and message. Every
task runs under its backend's ``task_timeout_seconds``; a task over it, or one of a
canceled job, is stopped by replacing its executor process, which builds its device
again (``qpu.open_device``) and serves the next task.
"""

from __future__ import annotations

import functools
import itertools
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

from qlambda.core.errors import (
    CircuitTooWideError,
    NoSuitableBackendError,
    TaskFailedError,
    TimeLimitError,
    UnknownBackendError,
)
from qlambda.engine.base import TaskSpec
from qlambda.engine.local import LocalEngine
from qlambda.platform import qpu
from qlambda.platform.reservations import Reservation, Reservations, window
from qlambda.policy import Policy, make_policy
from qlambda.quantum.codec import QuantumRequestError
from qlambda.quantum.envelope import ResultEnvelope
from qlambda.quantum.estimator_measurements import MidCircuitMeasurementError
from qlambda.quantum.pipeline.registry import UnknownOptionError
from qlambda.quantum.qasm import QasmLimitError
from qlambda.quantum.wire import CircuitEncodingError

if TYPE_CHECKING:
    from qlambda.quantum.config import BackendConfig
    from qlambda.quantum.envelope import RequestEnvelope

_task_numbers = itertools.count(1)


@dataclass(eq=False)
class QuantumTask:
    """A quantum task; also the read-only view policies select from."""

    request: RequestEnvelope
    job_id: str
    priority: float
    backend: str
    config: BackendConfig = field(repr=False)
    arrival: float  # monotonic, for the policy
    queued_at: float  # wall clock, for events and traces
    number: int = field(default_factory=lambda: next(_task_numbers))
    started_at: float | None = None
    finished_at: float | None = None
    busy_seconds: float | None = None
    simulated_seconds: float | None = None
    emulated_seconds: float | None = None  # the device's time as the executor emulated it
    calibration: str | None = None
    recompiled: bool = False
    direct: bool = False  # the executor answered the job's worker itself
    outcome: str = "pending"
    future: Future[Any] = field(default_factory=Future)
    engine_task: int | None = None  # the executor engine's id of the running task
    route: Any = field(default=None, repr=False)  # where the executor may answer directly
    _estimate: float | None = field(default=None, repr=False)

    @property
    def estimated_duration(self) -> float:
        """Seconds a real device would take; computed on first use, off the start path."""
        if self._estimate is None:
            self._estimate = self.request.estimate_seconds(self.config)
        return self._estimate

    @property
    def qpu_seconds(self) -> float:
        """The device's time for this task: the executor's estimate for the circuits as it
        compiled them, where it emulated the device's time, else the dispatcher's."""
        if self.emulated_seconds is not None:
            return self.emulated_seconds / self.config.time_scale
        return self.estimated_duration


class JobEstimates(TypedDict):
    """The fields of :class:`~qlambda.platform.jobs.JobInfo` the dispatcher knows."""

    starts_in_seconds: float | None
    done_in_seconds: float | None


# what the dispatcher reports: (task, "queued" | "started" | "recompiled" | "finished")
EventSink = Callable[[QuantumTask, str], None]


class _Backend:
    def __init__(self, config: BackendConfig, allow_code: bool) -> None:
        self.config = config
        self.name: str = config.name
        self.slots: int = config.concurrency
        self.pending: list[QuantumTask] = []
        self.running = 0
        self.executing: list[QuantumTask] = []
        self.engine = LocalEngine(
            cpus=self.slots,
            max_workers=self.slots,
            initializer=qpu.open_device,
            initargs=(config, allow_code),
            prefetch=0,
            name=f"qpu-{self.name}",
            trusted=False,  # shared by every job: its answers are data, never unpickled
        )
        self.busy_seconds = 0.0
        self.completed = 0
        self.first_start: float | None = None
        self.sent_calibration: str | None = None
        self.last_finish: float | None = None

    @property
    def load(self) -> float:
        return (len(self.pending) + self.running) / self.slots

    def expected_seconds(self, estimate: float) -> float:
        """How long a task estimated at ``estimate`` device-seconds keeps this backend busy:
        the emulated time, or (for a plain simulator) its measured mean once it has one."""
        if self.config.emulate_qpu_time:
            return estimate * self.config.time_scale
        if self.completed:
            return self.busy_seconds / self.completed
        return estimate * self.config.time_scale

    def remaining(self, task: QuantumTask, now: float) -> float:
        elapsed = now - (task.started_at or now)
        return max(0.0, self.expected_seconds(task.estimated_duration) - elapsed)

    def backlog(self, now: float, before: float | None = None) -> float:
        """Seconds of work ahead of a task arriving at ``before`` (all queued: None), per slot."""
        running = sum(self.remaining(t, now) for t in self.executing)
        queued = sum(
            self.expected_seconds(t.estimated_duration)
            for t in self.pending
            if before is None or t.arrival < before
        )
        return (running + queued) / self.slots


class QPUDispatcher:
    def __init__(
        self,
        backends: Sequence[BackendConfig],
        *,
        policy: str | Policy = "fifo",
        seed: int | None = None,
        on_event: EventSink | None = None,
        calibration: Callable[[str], Any] | None = None,
        selection: Any = None,
        allow_code: bool = False,
    ) -> None:
        """``calibration(backend)``: the backend's current calibration snapshot (or None);
        each executor gets it whenever it changed since the last task sent there.
        ``allow_code``: executors accept execution-option steps carried by value (code of
        the jobs' own), for a platform whose jobs all belong to one trusted user."""
        from qlambda.quantum.native import claim_native_heap

        claim_native_heap()
        self.policy = make_policy(policy)
        self._rng = random.Random(seed)
        self._backends = {config.name: _Backend(config, allow_code) for config in backends}
        self._on_event = on_event
        self._calibration = calibration
        self._selection = selection
        self._pins: dict[str, str] = {}  # job id -> the backend its unnamed requests run on
        # re-entrant: an engine may resolve a future (and call back) inside submit
        self._lock = threading.RLock()
        # per job: tasks whose result is out but whose "finished" is not yet told
        self._unreported: Counter[str] = Counter()
        # per job: tasks reported "finished" whose executor answered the worker itself
        self._reported_direct: Counter[str] = Counter()
        self._reported = threading.Condition(self._lock)
        self._reservations = Reservations()
        self._timers: dict[int, threading.Timer] = {}  # per reservation: its end

    # ---------------------------------------------------------------- set-up
    def start(self) -> None:
        for backend in self._backends.values():
            backend.engine.start()

    def wait_ready(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        for backend in self._backends.values():
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not backend.engine.wait_ready(remaining):
                return False
        return True

    def shutdown(self) -> None:
        with self._lock:
            doomed = [t for b in self._backends.values() for t in b.pending]
            for backend in self._backends.values():
                backend.pending.clear()
            for timer in self._timers.values():
                timer.cancel()
        for task in doomed:
            task.future.set_exception(CancelledError())
        for backend in self._backends.values():
            backend.engine.shutdown()

    @property
    def backend_names(self) -> list[str]:
        return list(self._backends)

    def configs(self) -> list[BackendConfig]:
        return [b.config for b in self._backends.values()]

    # ------------------------------------------------------------ submitting
    def submit(
        self,
        request: RequestEnvelope,
        *,
        job_id: str,
        priority: float = 1.0,
        pin: bool = True,
        backend: str | None = None,
        route: Any = None,
    ) -> QuantumTask:
        """Queue a sealed request (``RequestEnvelope``); the task's ``future`` resolves to
        the executor's ``ResultEnvelope``.

        ``pin``: a request naming no backend runs where ``job_id``'s first such request
        ran (False: chosen per request, as for a pilot's own tasks). ``backend``: where
        it runs, chosen already (:meth:`choose`). ``route``: the requesting worker's reply
        route (``engine.local.routes``); the executor then answers it directly and the
        future's envelope says ``delivered``.
        """
        with self._lock:
            if backend is None:
                chosen = self._choose(request, job_id if pin else None)
            else:
                chosen = self._backends[backend]
            return self._queue(chosen, request, job_id, priority, route)

    def choose(
        self,
        request: RequestEnvelope,
        *,
        job_id: str,
        load: dict[str, float] | None = None,
        pin: bool = True,
    ) -> str:
        """The backend ``request`` would run on (setting the job's pin, as :meth:`submit`
        does); ``load``: tasks per backend, instead of this dispatcher's own queues."""
        with self._lock:
            return self._choose(request, job_id if pin else None, load).name

    def _queue(
        self,
        backend: _Backend,
        request: RequestEnvelope,
        job_id: str,
        priority: float,
        route: Any = None,
    ) -> QuantumTask:
        """Lock held."""
        task = QuantumTask(
            request=request,
            job_id=job_id,
            priority=priority,
            backend=backend.name,
            config=backend.config,
            arrival=time.monotonic(),
            queued_at=time.time(),
            route=route,
        )
        backend.pending.append(task)
        # A free QPU starts before anything is logged; events are emitted under the
        # lock so listeners see every task queued, then started, then finished.
        started = self._start_next(backend)
        self._emit(task, "queued")
        for other in started:
            self._emit(other, "started")
        return task

    def _choose(
        self, request: RequestEnvelope, pin_key: str | None, load: dict[str, float] | None = None
    ) -> _Backend:
        """The backend for ``request``; lock held. ``pin_key``: whose pin an unnamed
        request follows (and sets, at its first such request)."""
        from qlambda.quantum.selection import choose_backend, why_unfit

        pin = pin_key if request.backend is None else None  # the pin it follows, if any
        if pin is not None and pin in self._pins:
            backend = self._backends[self._pins[pin]]
            reason = why_unfit(request, backend.config)
            if reason is not None:
                raise NoSuitableBackendError(
                    f"this job's calls without a backend name run on {backend.name!r} (chosen "
                    f"at its first such call), which cannot serve this one: {reason}; name a "
                    "backend for it, or pass backend='auto' to choose for each call"
                )
            return backend
        if load is None:
            load = {name: backend.load for name, backend in self._backends.items()}
        now = time.time()

        def completion(config: BackendConfig) -> float:
            backend = self._backends[config.name]
            return backend.backlog(now) + backend.expected_seconds(request.estimate_seconds(config))

        config = choose_backend(
            request,
            [b.config for b in self._backends.values()],
            load,
            selection=self._selection,
            completion=completion,
        )
        if pin is not None:
            self._pins[pin] = config.name
        return self._backends[config.name]

    def load(self, backend: str) -> float:
        """Tasks queued or running on ``backend`` per slot."""
        with self._lock:
            return self._backends[backend].load

    def pinned_backend(self, job_id: str) -> str | None:
        """The backend ``job_id``'s requests without a backend name run on, if chosen yet."""
        with self._lock:
            return self._pins.get(job_id)

    def end_job(self, job_id: str, timeout: float = 10.0, answered_directly: int = 0) -> None:
        """``job_id`` ended (whatever its status): forget its pin, once every task whose
        result it got has been reported "finished" (so a job's end is recorded after all
        its tasks). Its tasks still queued or running are left to :meth:`cancel_job`
        (the platform calls it for a job that did not end DONE); a task left running is
        reported when it finishes. ``answered_directly``: how many answers the job's worker
        had from executors over its route, which may reach it before the executor's report
        reaches the dispatcher: their reports are waited for too."""
        with self._reported:
            self._reported.wait_for(
                lambda: (
                    job_id not in self._unreported
                    and self._reported_direct[job_id] >= answered_directly
                ),
                timeout,
            )
            self._pins.pop(job_id, None)
            self._reported_direct.pop(job_id, None)

    def job_estimates(self, job_id: str) -> JobEstimates:
        """For a job's quantum tasks not yet finished: in about how many seconds the first
        waiting one starts, and the last one is done (None when it has none)."""
        now = time.time()
        starts: list[float] = []
        dones: list[float] = []
        with self._lock:
            for backend in self._backends.values():
                for task in backend.executing:
                    if task.job_id == job_id:
                        dones.append(backend.remaining(task, now))
                for task in backend.pending:
                    if task.job_id == job_id:
                        start = backend.backlog(now, before=task.arrival)
                        starts.append(start)
                        dones.append(start + backend.expected_seconds(task.estimated_duration))
        return {
            "starts_in_seconds": min(starts) if starts else (0.0 if dones else None),
            "done_in_seconds": max(dones) if dones else None,
        }

    def cancel_job(self, job_id: str) -> int:
        """Drop a job's waiting tasks and stop its executing ones; returns how many.

        A task is stopped by ending its executor process: the backend's engine starts
        another, which builds the device again and takes the next task.
        """
        with self._lock:
            doomed = [t for b in self._backends.values() for t in b.pending if t.job_id == job_id]
            for backend in self._backends.values():
                backend.pending = [t for t in backend.pending if t.job_id != job_id]
            for task in doomed:
                task.outcome = "canceled"
                self._emit(task, "finished")
            running = [
                (backend, task)
                for backend in self._backends.values()
                for task in backend.executing
                if task.job_id == job_id and task.engine_task is not None
            ]
        for task in doomed:
            task.future.set_exception(CancelledError())
        stopped = 0
        for backend, task in running:  # outside the lock: the engine calls back
            stopped += backend.engine.cancel(task.engine_task, "its job was canceled")  # type: ignore[arg-type]
        return len(doomed) + stopped

    # ---------------------------------------------------------- reservations
    def reserve(
        self,
        backend: str,
        holder: str,
        *,
        start: Any = None,
        end: Any = None,
        duration: Any = None,
    ) -> Reservation:
        """Reserve ``backend`` for ``holder``'s tasks (those submitted with that
        ``job_id``) from ``start`` (a time or datetime; None: now) to ``end``, or for
        ``duration`` (seconds or "10m"); see ``qlambda.platform.reservations``."""
        if backend not in self._backends:
            raise UnknownBackendError(backend, list(self._backends))
        begins, ends = window(start, end, duration)
        with self._lock:
            reservation = self._reservations.book(backend, holder, begins, ends)
            timer = threading.Timer(
                max(0.0, ends - time.time()), self._window_closed, (reservation,)
            )
            timer.daemon = True
            self._timers[reservation.id] = timer
        timer.start()
        return reservation

    def cancel_reservation(self, reservation: Reservation | int) -> bool:
        """Give a reservation up; the backend's other tasks may start at once."""
        number = reservation if isinstance(reservation, int) else reservation.id
        with self._lock:
            dropped = self._reservations.cancel(number)
            timer = self._timers.pop(number, None)
        if timer is not None:
            timer.cancel()
        if dropped is not None:
            self._kick(dropped.backend)
        return dropped is not None

    def reservations(self, holder: str | None = None) -> list[Reservation]:
        """The reservations not over yet (of ``holder``: those it holds)."""
        now = time.time()
        with self._lock:
            booked = [r for name in self._backends for r in self._reservations.of_backend(name)]
        return [r for r in booked if r.end > now and (holder is None or r.holder == holder)]

    def _window_closed(self, reservation: Reservation) -> None:
        with self._lock:
            self._timers.pop(reservation.id, None)
            self._reservations.cancel(reservation.id)
        self._kick(reservation.backend)

    def _kick(self, name: str) -> None:
        """Start what may start on ``name`` now (a window closed)."""
        with self._lock:
            backend = self._backends[name]
            for task in self._start_next(backend):
                self._emit(task, "started")

    # ------------------------------------------------------------ scheduling
    def _start_next(self, backend: _Backend) -> list[QuantumTask]:
        """Fill the backend's free slots, the policy choosing each time among the tasks
        its reservations let start now. Lock held."""
        started: list[QuantumTask] = []
        while backend.running < backend.slots and backend.pending:
            if self._reservations.any_on(backend.name):
                now = time.time()
                allowed = [
                    t
                    for t in backend.pending
                    if self._reservations.allows(
                        backend.name,
                        t.job_id,
                        now,
                        backend.expected_seconds(t.estimated_duration),
                    )
                ]
                if not allowed:
                    break
                task = allowed[self.policy.select(allowed, self._rng)]
                backend.pending.remove(task)
            else:
                task = backend.pending.pop(self.policy.select(backend.pending, self._rng))
            backend.running += 1
            backend.executing.append(task)
            task.started_at = time.time()
            if backend.first_start is None:
                backend.first_start = task.started_at
            route = task.route
            spec = TaskSpec(
                qpu.execute,
                (
                    task.request,
                    self._calibration_for(backend),
                    None if route is None else route.address,
                ),
                timeout_s=backend.config.task_timeout_seconds,
                name=f"quantum task {task.number}",
                route=route,
            )
            task.engine_task = spec.task_id
            future = backend.engine.submit(spec)
            future.add_done_callback(functools.partial(self._finished, backend, task))
            started.append(task)
        return started

    def _calibration_for(self, backend: _Backend) -> Any:
        """The snapshot when it changed since the last task to this backend, else its id."""
        if self._calibration is None:
            return None
        snapshot = self._calibration(backend.name)
        if snapshot is None:
            return None
        if backend.sent_calibration == snapshot.id:
            return snapshot.id
        backend.sent_calibration = snapshot.id
        return snapshot

    def _finished(self, backend: _Backend, task: QuantumTask, future: Future[Any]) -> None:
        task.finished_at = time.time()
        outcome: ResultEnvelope | None = None
        if future.cancelled():
            error: BaseException | None = CancelledError()
        else:
            error = future.exception()
        if error is None:
            try:
                outcome = ResultEnvelope.from_encoded(future.result())
            except QuantumRequestError as exc:
                error = exc
        else:
            error = _executor_error(error, backend.config)
        with self._lock:
            backend.running -= 1
            if task in backend.executing:
                backend.executing.remove(task)
            backend.completed += 1
            backend.last_finish = task.finished_at
            if outcome is None:
                backend.sent_calibration = None  # a replaced executor needs it in full
            else:
                task.busy_seconds = outcome.busy_seconds
                task.simulated_seconds = outcome.simulated_seconds
                task.emulated_seconds = outcome.emulated_seconds
                task.calibration = getattr(outcome, "calibration", None)
                task.recompiled = getattr(outcome, "recompiled", False)
                task.direct = outcome.delivered
                if task.calibration != backend.sent_calibration:
                    backend.sent_calibration = None  # a restarted executor: send it in full
                backend.busy_seconds += outcome.busy_seconds
            if error is None:
                task.outcome = "done"
            else:
                task.outcome = "canceled" if isinstance(error, CancelledError) else "error"
            for other in self._start_next(backend):  # the QPU first: it must not idle
                self._emit(other, "started")
            if task.recompiled:  # told before the function sees its result
                self._emit(task, "recompiled")
            self._unreported[task.job_id] += 1
        # the waiting function first (the bookkeeping's store writes would delay it), then
        # the bookkeeping, which end_job waits for: a job can end right after its result
        if error is None:
            task.future.set_result(outcome)
        else:
            task.future.set_exception(error)
        with self._lock:
            try:
                self._emit(task, "finished")
            finally:
                self._unreported[task.job_id] -= 1
                if self._unreported[task.job_id] <= 0:
                    del self._unreported[task.job_id]
                if task.direct:
                    self._reported_direct[task.job_id] += 1
                self._reported.notify_all()

    def _emit(self, task: QuantumTask, what: str) -> None:
        if self._on_event is not None:
            self._on_event(task, what)

    # ------------------------------------------------------------ reporting
    def pending_count(self) -> int:
        with self._lock:
            return sum(len(b.pending) for b in self._backends.values())

    def executing(self) -> dict[str, list[dict[str, Any]]]:
        """Per backend, the tasks running on it now: job, task number, since when."""
        with self._lock:
            return {
                backend.name: [
                    {"job_id": t.job_id, "task": t.number, "started_at": t.started_at}
                    for t in backend.executing
                ]
                for backend in self._backends.values()
            }

    def stats(self) -> list[dict[str, Any]]:
        now = time.time()
        with self._lock:
            rows = []
            for backend in self._backends.values():
                span = None
                if backend.first_start is not None:
                    end = now if backend.running else (backend.last_finish or now)
                    span = end - backend.first_start
                rows.append(
                    {
                        "backend": backend.name,
                        "slots": backend.slots,
                        "num_qubits": _width(backend.config),
                        "pending": len(backend.pending),
                        "running": backend.running,
                        "completed": backend.completed,
                        "busy_seconds": backend.busy_seconds,
                        "utilization": (
                            backend.busy_seconds / (span * backend.slots) if span else None
                        ),
                    }
                )
            return rows


def _width(config: BackendConfig) -> int:
    return int(config.num_qubits or 0)


_KNOWN_ERRORS: dict[str, type[Exception]] = {
    cls.__name__: cls
    for cls in (
        ValueError,
        TypeError,
        CircuitTooWideError,
        NoSuitableBackendError,
        QuantumRequestError,
        MidCircuitMeasurementError,
        UnknownOptionError,
        QasmLimitError,
        CircuitEncodingError,
    )
}
"""Errors of an executor that reach the job as their own type (with their message)."""


def _executor_error(error: BaseException, config: BackendConfig) -> BaseException:
    """What the job sees of an executor's failure: a time limit says whose, an error of a
    known type keeps its type, anything else stays a ``TaskFailedError``."""
    if isinstance(error, TimeLimitError):
        return TimeLimitError(
            f"the quantum task ran longer than backend {config.name!r} allows "
            f"(task_timeout_seconds = {config.task_timeout_seconds:g}); it was stopped"
        )
    info = getattr(error, "remote_info", None)
    if isinstance(error, TaskFailedError) and info is not None and info.type in _KNOWN_ERRORS:
        known = _KNOWN_ERRORS[info.type](info.message)
        known.__cause__ = error.__cause__
        return known
    return error
