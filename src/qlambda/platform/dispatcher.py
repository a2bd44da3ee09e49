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
import math
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
    VendorJobError,
    WorkerDiedError,
)
from qlambda.engine.base import TaskSpec
from qlambda.engine.local import LocalEngine
from qlambda.engine.local.engine import hide_variables, remote_error
from qlambda.engine.local.routes import ANSWERED
from qlambda.engine.protocol import Encoded, ErrorInfo
from qlambda.platform import qpu
from qlambda.platform.lanes import IDLE_SECONDS, Lane
from qlambda.platform.reservations import Reservation, Reservations, window
from qlambda.policy import Policy, make_policy
from qlambda.quantum.backends import backend_kind
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
    lane: bool = False  # it came to the executor straight from the worker (a lane)
    outcome: str = "pending"
    future: Future[Any] = field(default_factory=Future)
    engine_task: int | None = None  # the executor engine's id of the running task
    route: Any = field(default=None, repr=False)  # where the executor may answer directly
    vendor: dict[str, Any] = field(default_factory=dict)
    """What the device last reported of this task (``Device.execute``'s ``report``): a
    vendor's job id, status, queue position, estimated start."""
    _estimate: float | None = field(default=None, repr=False)

    @property
    def estimated_duration(self) -> float:
        """Seconds a real device would take; computed on first use, off the start path."""
        if self._estimate is None:
            self._estimate = self.request.estimate_seconds(self.config)
        return self._estimate

    @property
    def qpu_seconds(self) -> float:
        """The device's time for this task: what its vendor charged, where it said so; the
        executor's estimate for the circuits as it compiled them, where it emulated the
        device's time; else the dispatcher's."""
        charged = self.vendor.get("vendor_qpu_seconds")
        if (
            isinstance(charged, int | float)
            and not isinstance(charged, bool)
            and math.isfinite(charged)
            and charged >= 0
        ):
            return float(charged)
        if self.emulated_seconds is not None:
            return self.emulated_seconds / self.config.time_scale
        return self.estimated_duration


class JobEstimates(TypedDict):
    """The fields of :class:`~qlambda.platform.jobs.JobInfo` the dispatcher knows."""

    starts_in_seconds: float | None
    done_in_seconds: float | None


# what the dispatcher reports: (task, "queued" | "started" | "vendor" | "recompiled" |
# "finished"); "vendor": the device reported news of the running task (task.vendor)
EventSink = Callable[[QuantumTask, str], None]


class _Backend:
    def __init__(self, config: BackendConfig, allow_code: bool) -> None:
        self.config = config
        self.name: str = config.name
        self.slots: int = config.concurrency
        self.pending: list[QuantumTask] = []
        self.running = 0
        self.executing: list[QuantumTask] = []
        kind = backend_kind(config.kind)
        # the device's credentials: this backend's executors get them, no other worker does
        hide_variables(kind.secret_variables(config))
        self.engine = LocalEngine(
            cpus=self.slots,
            max_workers=self.slots,
            initializer=qpu.open_device,
            initargs=(config, allow_code),
            prefetch=0,
            name=f"qpu-{self.name}",
            trusted=False,  # shared by every job: its answers are data, never unpickled
            environment=kind.executor_environment(config),
        )
        self.busy_seconds = 0.0
        self.completed = 0
        self.first_start: float | None = None
        self.sent_calibration: str | None = None
        self.last_finish: float | None = None
        self.lane: Lane | None = None  # a job's worker talks to the executor directly

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
        # per job: the sessions and batches its calls ran in, per backend with vendor sessions
        self._modes: dict[str, dict[str, set[str]]] = {}
        self._device_data: dict[str, dict[str, Any]] = {}
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
        if request.mode is not None and backend_kind(backend.config.kind).vendor_sessions:
            self._modes.setdefault(job_id, {}).setdefault(backend.name, set()).add(request.mode)
        backend.pending.append(task)
        if backend.lane is not None and not backend.lane.yielding:
            backend.lane.yielding = True  # another task waits: the policy decides again
            backend.engine.nudge(backend.lane.engine_task)
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
            for backend in self._backends.values():
                lane = backend.lane
                if lane is not None and lane.job_id == job_id and not lane.yielding:
                    lane.yielding = True
                    backend.engine.nudge(lane.engine_task)
            modes = self._modes.pop(job_id, {})
        for name, ids in modes.items():  # the vendor's sessions end with the job
            backend = self._backends[name]
            backend.engine.submit(
                TaskSpec(
                    qpu.close_modes,
                    (sorted(ids),),
                    timeout_s=backend.config.task_timeout_seconds,
                    name=f"close the sessions of job {job_id}",
                )
            )

    # ------------------------------------------------------------ the device
    def device_call(self, backend: str, function: Any, *args: Any, timeout: float = 120) -> Any:
        """Run ``function`` (of :mod:`qlambda.platform.qpu`) in ``backend``'s executor, which
        alone talks to the device, and return its answer as plain data."""
        from qlambda.engine.protocol import Encoded, unpack_data

        target = self._backends[backend]
        spec = TaskSpec(function, args, timeout_s=timeout, name=f"{function.__name__} {backend}")
        value = target.engine.submit(spec).result(timeout)
        if not isinstance(value, Encoded) or value.format != "data":
            raise QuantumRequestError(f"backend {backend!r}'s executor answered with no data")
        return unpack_data(value.data)

    def device_data(self, backend: str) -> dict[str, Any]:
        """What ``backend``'s executor says a worker needs to build its ``Target`` (asked
        once, for kinds that read it from the device)."""
        config = self._backends[backend].config
        if not backend_kind(config.kind).calibration_from_device:
            return {}
        with self._lock:
            known = self._device_data.get(backend)
        if known is None:
            known = self.device_call(backend, qpu.describe_device)
            with self._lock:
                self._device_data[backend] = known
        return known

    def device_calibration(self, backend: str, taken_at: float) -> Any:
        """``backend``'s calibration read from the device by its executor."""
        from qlambda.quantum.calibration import Calibration

        data = self.device_call(backend, qpu.device_snapshot, taken_at)
        return None if data is None else Calibration.from_json(data)

    def job_estimates(self, job_id: str) -> JobEstimates:
        """For a job's quantum tasks not yet finished: in about how many seconds the first
        waiting one starts, and the last one is done (None when it has none)."""
        now = time.time()
        starts: list[float] = []
        dones: list[float] = []
        with self._lock:
            for backend in self._backends.values():
                for task in backend.executing:
                    if task.job_id != job_id:
                        continue
                    vendor_start = _vendor_start(task, now)
                    if vendor_start is not None:  # waiting in the vendor's own queue
                        starts.append(vendor_start)
                        dones.append(vendor_start + task.estimated_duration)
                    else:
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
            lane_fd = self._lane_for(backend, task)
            if lane_fd is not None:
                started.append(self._open_lane(backend, task, lane_fd))
                continue
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
                on_message=functools.partial(self._reported_by_device, task),
            )
            task.engine_task = spec.task_id
            future = backend.engine.submit(spec)
            future.add_done_callback(functools.partial(self._finished, backend, task))
            started.append(task)
        return started

    # ------------------------------------------------------------------ lanes
    def _lane_for(self, backend: _Backend, task: QuantumTask) -> int | None:
        """The job worker's request route to lend with ``task`` (``qlambda.platform.lanes``)
        if the task may open a lane: nothing else waits for the backend, which has no
        calibration to keep current and no reservation, the job's owner has no quota
        to check request by request (its route then offers no lane), and the route can
        be lent now. Lock held."""
        route = task.route
        if (
            route is None
            or route.lanes is None
            or task.request.mode is not None  # a vendor session's calls keep their path
            or backend.pending
            or backend.lane is not None
            or self._reservations.any_on(backend.name)
            or (self._calibration is not None and self._calibration(backend.name) is not None)
        ):
            return None
        fd: int | None = route.lanes.lend()
        return fd

    def _open_lane(self, backend: _Backend, task: QuantumTask, lane_fd: int) -> QuantumTask:
        """Start ``task`` as the first request of a lane. Lock held."""
        route = task.route
        lanes = route.lanes
        terms = qpu.LaneTerms(
            backend=backend.name,
            task_id=lanes.task_id,
            request_id=route.request_id,
            route=route.key,
            unnamed=self._pins.get(task.job_id) == backend.name,
            idle_seconds=IDLE_SECONDS,
        )
        spec = TaskSpec(
            qpu.serve_lane,
            (task.request, None, route.address, terms),
            timeout_s=backend.config.task_timeout_seconds,
            name=f"lane of job {task.job_id}",
            route=route,
            lane_fd=lane_fd,
        )
        lane = Lane(task.job_id, task.priority, lanes, lanes.task_id, spec.task_id)
        lane.current[route.request_id] = task
        spec.on_message = functools.partial(self._lane_message, backend, lane)
        backend.lane = lane
        task.engine_task = spec.task_id
        future = backend.engine.submit(spec)
        future.add_done_callback(functools.partial(self._lane_ended, backend, lane))
        return task

    def _lane_message(self, backend: _Backend, lane: Lane, message: Any) -> None:
        """The lane's executor reports a request: started (taken off the route), done or
        failed. Its data is checked as any executor's answer is."""
        try:
            kind, payload = message.kind, message.payload
            if kind == "device":  # news of the request in hand
                for task in list(lane.current.values()):
                    self._reported_by_device(task, message)
                return
            if not isinstance(payload, list) or not payload or type(payload[0]) is not int:
                raise QuantumRequestError("a malformed report from a lane")
            request_id = payload[0]
            timeout = backend.config.task_timeout_seconds
            if kind == "started" and len(payload) == 2 and isinstance(payload[1], dict):
                self._lane_started(backend, lane, request_id, payload[1])
            elif kind == "done" and len(payload) == 2 and isinstance(payload[1], bytes):
                task = lane.current.pop(request_id)
                backend.engine.set_deadline(lane.engine_task, timeout)  # waits ~IDLE_SECONDS
                outcome = ResultEnvelope.from_encoded(Encoded("data", payload[1]))
                self._settle(backend, task, outcome, None)
            elif kind == "failed" and len(payload) == 4:
                task = lane.current.pop(request_id)
                backend.engine.set_deadline(lane.engine_task, timeout)
                info = ErrorInfo(str(payload[1]), str(payload[2]), str(payload[3]))
                error = _executor_error(remote_error(info, trusted=False), backend.config)
                self._settle(backend, task, None, error)
            else:
                raise QuantumRequestError(f"an unknown report {kind!r} from a lane")
        except (KeyError, QuantumRequestError, ValueError) as exc:
            # an executor that breaks the protocol serves no one any more
            backend.engine.cancel(lane.engine_task, f"the lane's executor misbehaved: {exc}")

    def _lane_started(
        self, backend: _Backend, lane: Lane, request_id: int, facts: dict[str, Any]
    ) -> None:
        from qlambda.quantum.envelope import RequestEnvelope

        reply = lane.lanes.took(request_id)  # first: whatever happens, it is answered
        try:
            request = RequestEnvelope.from_data({**facts, "payload": b""})
        except ValueError as exc:
            if reply is not None:
                reply(False, QuantumRequestError(f"the lane's executor misreported it: {exc}"))
            raise
        now = time.time()
        task = QuantumTask(
            request=request,
            job_id=lane.job_id,
            priority=lane.priority,
            backend=backend.name,
            config=backend.config,
            arrival=time.monotonic(),
            queued_at=now,
        )
        task.started_at = now
        task.engine_task = lane.engine_task
        task.lane = True
        backend.engine.set_deadline(lane.engine_task, backend.config.task_timeout_seconds)
        with self._lock:
            lane.current[request_id] = task
            backend.executing.append(task)
            self._emit(task, "queued")
            self._emit(task, "started")
        if reply is not None:
            task.future.add_done_callback(functools.partial(answer, reply))

    def _lane_ended(self, backend: _Backend, lane: Lane, future: Future[Any]) -> None:
        """The executor let the lane go (or died): what it had not answered fails, the
        worker's request route goes back to its engine, the backend serves the queue."""
        error = CancelledError() if future.cancelled() else future.exception()
        with self._lock:
            backend.lane = None
            unanswered = list(lane.current.values())
            lane.current.clear()
        lane.lanes.give_back()
        failure = _executor_error(
            error or TaskFailedError("the lane ended before the request was answered", None),
            backend.config,
        )
        for task in unanswered:
            self._settle(backend, task, None, failure)
        with self._lock:
            backend.running -= 1
            for other in self._start_next(backend):
                self._emit(other, "started")

    def _reported_by_device(self, task: QuantumTask, message: Any) -> None:
        """A running task's device reported news (from the executor: plain data, checked
        here); it is kept on the task and told as a "vendor" event."""
        news = _device_news(message.payload) if message.kind == "device" else None
        if not news:
            return
        with self._lock:
            if task.finished_at is not None:
                return
            task.vendor.update(news)
            self._emit(task, "vendor")

    def _cancel_vendor_jobs(self, backend: _Backend, task: QuantumTask) -> None:
        """A task stopped while a vendor ran its circuits: the backend's next executor
        (it alone has the credentials) cancels the vendor's job."""
        job = task.vendor.get("vendor_job_id")
        if not isinstance(job, str) or task.vendor.get("vendor_status") in _VENDOR_FINAL:
            return
        spec = TaskSpec(
            qpu.cancel_vendor_jobs,
            ([job],),
            timeout_s=backend.config.task_timeout_seconds,
            name=f"cancel vendor job of quantum task {task.number}",
        )
        backend.engine.submit(spec)

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
        self._settle(backend, task, outcome, error, frees_slot=True)

    def _settle(
        self,
        backend: _Backend,
        task: QuantumTask,
        outcome: ResultEnvelope | None,
        error: BaseException | None,
        frees_slot: bool = False,
    ) -> None:
        """Record a task's end, answer it, report it "finished". ``frees_slot``: its
        executor is free for the next task (a lane's requests leave it to the lane)."""
        task.finished_at = time.time()
        if isinstance(error, CancelledError | TimeLimitError | WorkerDiedError):
            self._cancel_vendor_jobs(backend, task)  # stopped: canceled, or past its limit
        with self._lock:
            if frees_slot:
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
            if frees_slot:
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


def answer(reply: Callable[[bool, Any], None], future: Future[Any]) -> None:
    """Answer a job's quantum request with the outcome of its task's ``future``."""
    if future.cancelled():
        reply(False, CancelledError("the quantum task was canceled"))
    elif future.exception() is not None:
        reply(False, future.exception())
    else:
        value = future.result()
        if isinstance(value, ResultEnvelope) and value.delivered:
            value = ANSWERED  # the executor answered the worker directly
        reply(True, value)


def _vendor_start(task: QuantumTask, now: float) -> float | None:
    """Seconds until a task queued at its vendor starts, by the vendor's estimate."""
    from datetime import datetime

    if task.vendor.get("vendor_status") != "QUEUED":
        return None
    stamp = task.vendor.get("estimated_start_time")
    if not isinstance(stamp, str):
        return None
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
    return max(0.0, when - now)


_VENDOR_FINAL = ("DONE", "ERROR", "CANCELLED", "CANCELED")
_NEWS_MAX_FIELDS = 16
_NEWS_MAX_TEXT = 2000


def _device_news(payload: Any) -> dict[str, Any] | None:
    """A device's report as plain scalars (an executor is not trusted: anything else is
    dropped, text is cut short)."""
    if not isinstance(payload, dict):
        return None
    news: dict[str, Any] = {}
    for key, value in list(payload.items())[:_NEWS_MAX_FIELDS]:
        if not isinstance(key, str) or len(key) > 64:
            continue
        if isinstance(value, str):
            news[key] = value[:_NEWS_MAX_TEXT]
        elif value is None or isinstance(value, bool | int | float):
            news[key] = value
    return news


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
        VendorJobError,
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
