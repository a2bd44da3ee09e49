"""The control plane: admission, the job runner, the QPU dispatcher, state and events.

A job's life: ``submit`` stores it (the caller gets its id only once the row is
durable), admission control accepts or drops it, the engine runs it on a warm
worker, its quantum calls go through the dispatcher, and its end (result, error,
cancel) is stored before anyone waiting on it is told.

Each job row names its owner, the control plane running it (``controller``), whose
lease is the job's: a control plane claims only jobs whose owner's lease has expired
(``qlambda.platform.controller``). With ``replica = true``, several control planes share
one PostgreSQL database: each runs the jobs it received or claimed, hears of the others'
through the database's notifications (``bus``), answers for any job from its row, ships
logs to the database (``shared_logs``) and shares one queue per QPU backend
(``shared_qpu``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import math
import os
import random
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cloudpickle

from qlambda.core.errors import ConfigurationError, ResultDeletedError
from qlambda.core.events import Event, EventKind
from qlambda.core.states import JobStatus
from qlambda.engine.base import TaskSpec
from qlambda.engine.protocol import Encoded
from qlambda.platform import layout, results
from qlambda.platform.bus import Bus
from qlambda.platform.calibration import CalibrationManager
from qlambda.platform.config import PlatformConfig
from qlambda.platform.context import JobPayload, execute_job
from qlambda.platform.controller import Controller, describe
from qlambda.platform.dispatcher import QPUDispatcher
from qlambda.platform.functions import Function, FunctionPayload, check_arguments, stored_limits
from qlambda.platform.job_requests import JobRequests
from qlambda.platform.jobs import JobInfo, LiveJob
from qlambda.platform.lock import DataDirLock, SQLiteLock
from qlambda.platform.output_caps import ResultTooLargeError, check_result_size, read_log
from qlambda.platform.pilot import Pilot, PilotDescription
from qlambda.platform.quantum_journal import QuantumJournal
from qlambda.platform.quotas import OwnerQuotas, QueuedRun
from qlambda.platform.retention import RetentionRunner
from qlambda.platform.shared_logs import LogShipper, read_shipped
from qlambda.platform.shared_qpu import SharedDispatcher
from qlambda.platform.tenants import tenant_sandboxes
from qlambda.platform.usage import UsageMeter
from qlambda.store import Store, StoreUnavailableError, ownership
from qlambda.store.pages import Cursor, JobFilter
from qlambda.store.writer import PendingWrite

log = logging.getLogger(__name__)
JobListener = Callable[[str, str, str, str], None]
MAX_PRIORITY = 1000.0  # a job's priority is in (0, MAX_PRIORITY]: far below fan-out's
CLAIM_BATCH = 32  # jobs claimed per transaction: replicas taking over interleave batches
REMOTE_POLL = 1.0  # a wait on another replica's job reads its row this often, as well
CANCEL_WAIT = 5.0  # how long a cancel of another replica's job waits to see it end
ELSEWHERE_SECONDS = 1.0  # how old a count of a user's jobs on other replicas may be


@dataclass(frozen=True)
class Limits:
    """What a job may use: from its Function, or from the stored function row."""

    cpus: int = 1
    timeout_s: float | None = None
    memory_mb: float | None = None

    @classmethod
    def of(cls, function: Function | dict[str, Any]) -> Limits:
        if isinstance(function, dict):
            return cls(function["cpus"], function["timeout_s"], function["memory_mb"])
        return cls(function.cpus, function.timeout_s, function.memory_mb)


_id_bits = random.Random(secrets.randbits(128))  # seeded per process; ids need no secrecy


def new_job_id() -> str:
    """Sortable by submission time, unique without coordination."""
    return f"{time.time_ns() // 1_000_000:011x}{_id_bits.getrandbits(24):06x}"


class Platform:
    """One control plane: its store, its pilot (workers and QPUs), its live jobs.

    Its parts live in modules of their own: what jobs' workers ask (``job_requests``),
    the record of quantum tasks (``quantum_journal``), per-owner quotas (``quotas``),
    how results are stored (``results``).
    """

    def __init__(self, config: PlatformConfig | None = None) -> None:
        self.config = config or PlatformConfig()
        self.data_dir = Path(self.config.data_dir).resolve()
        (self.data_dir / "jobs").mkdir(parents=True, exist_ok=True)
        (self.data_dir / "results").mkdir(parents=True, exist_ok=True)
        self._dir_lock = DataDirLock(self.data_dir).acquire()
        try:
            self._set_up()
        except BaseException:
            if hasattr(self, "pilot"):
                self.pilot.cancel()
            if hasattr(self, "controller"):
                self.controller.stop()
            if hasattr(self, "store"):
                self.store.close()
            db_lock: SQLiteLock | None = getattr(self, "_db_lock", None)
            if db_lock is not None:
                db_lock.release()
            self._dir_lock.release()  # a failed start leaves the directory free
            raise

    def _set_up(self) -> None:
        self.store = Store.open(self.data_dir)
        self._lock = threading.RLock()
        self.shared = self.config.replica
        self._db_lock: SQLiteLock | None = self._lock_database()
        self._closing = False
        self._closed = False
        self.fenced = threading.Event()
        self.fenced_reason: str | None = None
        self.controller = Controller(
            self.store,
            self.data_dir,
            replica=self.shared,
            lease_seconds=self.config.lease_seconds,
            on_lost=self._lease_lost,
        )
        self.controller.start(others_dead=self._db_lock is not None)
        self.backends = self.config.resolved_backends()
        self.calibration = CalibrationManager(
            self.store,
            self.backends,
            # kinds whose calibration only their executor reads (credentials live there)
            fetch=lambda name, now: self.pilot.dispatcher.device_calibration(name, now),
        )
        self._live: dict[str, LiveJob] = {}
        self.usage = UsageMeter(self.store, self.config.quotas)
        self.journal = QuantumJournal(self.store, self._live, self.usage)
        self.shared_qpu: SharedDispatcher | None = None
        # The serverless jobs run on a pilot: its workers and its QPUs.
        self.pilot = Pilot(
            PilotDescription(
                engine=self.config.engine,
                address=self.config.engine_address,
                cores=self.config.workers,
                qpus=self.backends,
                max_workers=self.config.max_workers,
                policy=self.config.policy,
                seed=self.config.seed,
            ),
            on_quantum_event=self._quantum_event,
            calibration=self.calibration.current,
            selection=self.config.selection,
            warm_quantum_stack=True,
            sandbox=tenant_sandboxes(self) if self.config.sandboxed else None,
            # a shared server never unpickles what user code sends back
            trusted=not self.config.sandboxed,
        )
        self.journal.pilot_id = self.pilot.id
        self.engine = self.pilot.engine
        self.dispatcher: QPUDispatcher | SharedDispatcher = self.pilot.dispatcher
        self.bus: Bus | None = None
        self._logs: LogShipper | None = None
        if self.shared:
            self.bus = Bus(self.store.engine.url)
            self.shared_qpu = SharedDispatcher(
                self.pilot.dispatcher, self.store, self.controller, self.bus, self.journal.count
            )
            self.journal.counted = lambda task: not self.shared_qpu.is_shared(task)  # type: ignore[union-attr]
            self.dispatcher = self.shared_qpu
            self._logs = LogShipper(self.store, self._live_logs, self.config.max_log_bytes)
            self.bus.on("j", self._heard_job)
            self.bus.on("c", lambda _: self._takeover_wake.set())
            self.bus.on_resync(self._resync)
        self.admission = self.config.admission
        self.requests = JobRequests(
            self.store,
            self.dispatcher,
            self.engine,
            self._started_running,
            status_in_row=self.shared,
            usage=self.usage,
        )
        self.quotas = OwnerQuotas(self._run)
        # Jobs whose rows just committed go to their workers from this thread, in order:
        # not from the store's own thread, which starting a worker may have to wait for.
        self._dispatch = ThreadPoolExecutor(1, thread_name_prefix="qlambda-dispatch")
        self._functions: dict[str, FunctionPayload] = {}
        self._listeners: list[JobListener] = []
        self._started = False
        self.retention: RetentionRunner | None = None
        self._remote_waits: dict[str, list[threading.Event]] = {}
        self._active_elsewhere: dict[str, tuple[float, int]] = {}  # owner -> (when, count)
        self._cancels_asked: set[str] = set()  # by other replicas, for jobs not adopted yet
        self._takeover_wake = threading.Event()
        self._takeover: threading.Thread | None = None

    def _lock_database(self) -> SQLiteLock | None:
        """A SQLite database serves one platform: lock the file (replicas need PostgreSQL)."""
        url = self.store.engine.url
        if url.get_backend_name() != "sqlite":
            return None
        if self.config.replica:
            raise ConfigurationError(
                "replicas share a PostgreSQL database (QLAMBDA_DATABASE_URL="
                "postgresql+psycopg://...); a SQLite database serves one server, "
                "so replica = true needs PostgreSQL"
            )
        if url.database in (None, "", ":memory:"):
            return None
        return SQLiteLock(url.database).acquire()

    def tenant_dir(self, owner: str) -> Path:
        """Where a tenant's jobs keep their folders."""
        return self.data_dir / "jobs" / owner

    # ------------------------------------------------------------ life cycle
    def start(self) -> Platform:
        if not self._started:
            self._started = True
            self.calibration.start()
            if self.bus is not None and self.shared_qpu is not None and self._logs is not None:
                self.bus.start()  # before claiming: no cancel of a claimed job goes unheard
                self.shared_qpu.start()
                self._logs.start()
            self._take_over()
            if self.shared:
                self._takeover = threading.Thread(
                    target=self._keep_taking_over, name="qlambda-takeover", daemon=True
                )
                self._takeover.start()
            policy = self.config.retention
            if policy is not None and policy.interval is not None and not policy.keeps_everything:
                self.retention = RetentionRunner(
                    self.store, self.data_dir, policy, live=self._live_ids
                ).start()
        return self

    def wait_ready(self, timeout: float | None = 120) -> bool:
        return self.engine.wait_ready(timeout) and self.dispatcher.wait_ready(timeout)

    def close(self) -> None:
        """Stop. Unfinished jobs stay stored as they are and resume at the next start (or,
        with replicas, at once on another replica)."""
        with self._lock:
            if self._closed:
                return
            self._closed = self._closing = True
        self._takeover_wake.set()
        if self._takeover is not None:
            self._takeover.join(timeout=5)
        if self.retention is not None:
            self.retention.stop()
        self.calibration.stop()
        if self._logs is not None:  # what they printed so far, for the next owner's readers
            for job_id, path in self._live_logs():
                self._logs.ship(job_id, path)
            self._logs.stop()
        self._dispatch.shutdown(wait=True, cancel_futures=True)
        self.pilot.cancel()  # the workers stop before the lease ends: no two owners
        if self.shared_qpu is not None:
            self.shared_qpu.stop()
        if self.bus is not None:
            self.bus.stop()
        self.controller.stop()
        self.store.close()
        if self._db_lock is not None:
            self._db_lock.release()
        self._dir_lock.release()

    def _lease_lost(self, reason: str) -> None:
        """This control plane may no longer own its jobs (``Controller``): stop their
        workers now, before another replica can claim them, and run nothing more."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
        self.fenced_reason = reason
        if hasattr(self, "pilot"):
            self.pilot.cancel()
        log.error("stopped the workers of %d jobs: %s", len(self._live), reason)
        self.fenced.set()

    def _live_ids(self) -> set[str]:
        """Jobs still finishing here: retention leaves them for its next pass."""
        with self._lock:
            return set(self._live)

    # -------------------------------------------------------------- submitting
    def register(self, function: Function) -> FunctionPayload:
        return self.register_payload(
            function.payload(), function.cpus, function.timeout_s, function.memory_mb
        )

    def register_payload(
        self,
        payload: FunctionPayload,
        cpus: int = 1,
        timeout_s: float | None = None,
        memory_mb: float | None = None,
    ) -> FunctionPayload:
        """Store a function already serialized (as the gateway receives them)."""
        if payload.id not in self._functions:
            self.store.put_function(
                {
                    "id": payload.id,
                    "name": payload.name,
                    "kind": payload.kind,
                    "payload": payload.payload,
                    "entrypoint": payload.entrypoint,
                    "signature": payload.signature,
                    "cpus": cpus,
                    "timeout_s": timeout_s,
                    "memory_mb": memory_mb,
                    "created_at": time.time(),
                }
            )
            self._functions[payload.id] = payload
        return payload

    def submit(
        self,
        function: Function,
        arguments: dict[str, Any],
        *,
        priority: float = 1.0,
        owner: str = "local",
        execution_options: list[Any] | None = None,
    ) -> str:
        """Store, admit and queue a job; returns its id once the job is durable.

        ``execution_options`` (names or ``{name: {keyword: value}}``) become the default
        options of the job's samplers and estimators; unknown ones are rejected here.
        """
        mismatch = None
        if function.callable is not None:
            try:
                check_arguments(function.callable, function.name, arguments)
            except TypeError as exc:
                mismatch = str(exc)
        job_id, stored = self.submit_payload(
            function.payload(),
            arguments,
            limits={
                "cpus": function.cpus,
                "timeout_s": function.timeout_s,
                "memory_mb": function.memory_mb,
            },
            priority=priority,
            owner=owner,
            mismatch=mismatch,
            execution_options=execution_options,
            cwd=os.getcwd(),  # relative paths in the function mean what they mean here
        )
        stored.result()  # acknowledged only once durable
        return job_id

    def submit_payload(
        self,
        payload: FunctionPayload,
        arguments: dict[str, Any],
        *,
        limits: dict[str, Any],
        priority: float = 1.0,
        owner: str = "local",
        mismatch: str | None = None,
        execution_options: list[Any] | None = None,
        cwd: str | None = None,
        idempotency: tuple[str, str] | None = None,
        packed_arguments: bytes | None = None,
    ) -> tuple[str, PendingWrite]:
        """Admit and queue a job without waiting: the Future resolves once it is stored.

        ``limits`` holds ``cpus``, ``timeout_s`` and ``memory_mb``; ``mismatch`` says
        why the arguments do not fit the function (the job is then stored as an error).
        ``cwd``: the directory the job runs in (None: a folder of its own).
        ``idempotency`` is (key, digest of the request), stored with the job so that a
        retry finds it (``Store.job_for_key``). ``packed_arguments``: the arguments as a
        stored job has them (``resubmit``), never unpickled here. Whoever acknowledges the
        submission must wait on the Future first.
        """
        if self._closing:
            raise RuntimeError("the platform is closed")
        _check_priority(priority)
        self.usage.check_submission(owner)  # QuotaExceededError once a quota is used up
        from qlambda.quantum.pipeline import describe_options

        options = describe_options(execution_options)
        if limits["cpus"] > self.engine.cpus:
            raise ValueError(
                f"function {payload.name!r} asks for {limits['cpus']} cpus; "
                f"this platform's workers have {self.engine.cpus}"
            )
        if packed_arguments is not None:
            packed = packed_arguments
        else:
            try:
                packed = cloudpickle.dumps(arguments)
            except Exception as exc:
                raise TypeError(f"the arguments cannot be sent to a worker: {exc}") from exc
        self.register_payload(payload, limits["cpus"], limits["timeout_s"], limits["memory_mb"])
        now = time.time()
        job = LiveJob(
            id=new_job_id(),
            function_id=payload.id,
            function_name=payload.name,
            owner=owner,
            priority=float(priority),
            created_at=now,
            execution_options=options,
            cwd=cwd,
        )
        job.workdir = layout.job_dir(self.data_dir, job.id, self._tenant(job))
        job.log_path = layout.job_log(self.data_dir, job.id, self._tenant(job))
        events = [Event(job.id, now, EventKind.SUBMITTED, {"priority": job.priority})]
        with self._lock:
            # Counted only when limited: each count walks every live job or queue.
            decision = self.admission.decide(
                0 if self.admission.c_max is None else self._active_classical(),
                0 if self.admission.q_max is None else self.dispatcher.pending_count(),
            )
            if mismatch is not None:
                job.status, job.reason, job.ended_at = JobStatus.ERROR, mismatch, now
                events.append(Event(job.id, now, EventKind.ERROR, {"reason": mismatch}))
            elif not decision.accepted:
                job.status, job.reason, job.ended_at = JobStatus.DROPPED, decision.reason, now
                events.append(Event(job.id, now, EventKind.DROPPED, {"reason": decision.reason}))
            else:
                events.append(Event(job.id, now, EventKind.ADMITTED))
                self._live[job.id] = job
                self.quotas.added(job.owner)

        run = QueuedRun(job, payload, packed, Limits.of(limits))

        def acknowledged(future: Future[Any]) -> None:
            """The row is committed (the job may run now), or it never will be (the
            submission was refused: the job is forgotten, it never ran)."""
            if future.cancelled() or future.exception() is not None:
                with self._lock:
                    if self._live.pop(job.id, None) is not None:
                        self.quotas.ended(job.owner)
                return
            if job.status.is_final:
                job.ended.set()
            self._notify(job, "submitted")  # before the job can start: news in order
            if job.status is JobStatus.QUEUED:
                if job.cancel_requested:  # canceled before its row was committed
                    never_started: Future[Any] = Future()
                    never_started.cancel()
                    self._finish(job, never_started)
                else:
                    self._dispatch_later(run)

        row = self._row(job, packed, limits)
        if idempotency is not None:
            row["idempotency_key"], row["request_digest"] = idempotency
        stored = self.store.insert_job(row, *events)
        # a worker gets the job only once its row is committed: a submission refused
        # meanwhile (the database away, the write given up) never runs
        stored.add_done_callback(acknowledged)
        return job.id, stored

    def resubmit(self, job_id: str, owner: str | None = None) -> tuple[str, PendingWrite]:
        """Submit a stored job again as a new job: its function, arguments (as stored,
        not unpickled), priority and execution options, for ``owner`` (default: its
        own). The Future resolves once the new job is stored."""
        row = self.result_row(job_id)
        function = self.store.get_function(row["function_id"])
        if function is None:
            raise KeyError(f"the function of job {job_id!r} is no longer stored")
        payload = FunctionPayload.from_row(function)
        limits = stored_limits(function)
        return self.submit_payload(
            payload,
            {},
            limits=limits,
            priority=row["priority"],
            owner=row["owner"] if owner is None else owner,
            execution_options=row.get("execution_options"),
            cwd=row.get("cwd"),
            packed_arguments=row["arguments"],
        )

    # ----------------------------------------------------------- listeners
    def add_listener(self, listener: JobListener) -> None:
        """Call ``listener(job_id, owner, what, status)`` at each of a job's transitions:
        ``what`` is "submitted" (stored), "started" or "ended" (stored); it runs on
        the platform's threads, so it must only hand the news over, never block."""
        self._listeners.append(listener)

    def remove_listener(self, listener: JobListener) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    def _notify(self, job: LiveJob, what: str) -> None:
        for listener in list(self._listeners):
            try:
                listener(job.id, job.owner, what, job.status.value)
            except Exception:
                log.exception("a job listener failed")

    def owner_active(self, owner: str) -> int:
        """The owner's jobs not ended (queued or running), without walking every job;
        with replicas, those of every replica: the others' read from the database at
        most every ``ELSEWHERE_SECONDS`` (a count per submission would slow them all)."""
        here = self.quotas.active(owner)
        if not self.shared:
            return here
        now = time.monotonic()
        counted = self._active_elsewhere.get(owner)
        if counted is None or now - counted[0] >= ELSEWHERE_SECONDS:
            counted = (now, self.store.active_elsewhere(owner, self.controller.id))
            self._active_elsewhere[owner] = counted
        return here + counted[1]

    def owner_counts(self, owner: str) -> tuple[int, int]:
        """(active, running) jobs of one owner: what per-user limits are checked against."""
        with self._lock:
            mine = [job for job in self._live.values() if job.owner == owner]
        return len(mine), sum(1 for job in mine if job.status is JobStatus.RUNNING)

    def _row(self, job: LiveJob, packed: bytes, limits: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": job.id,
            "function_id": job.function_id,
            "function_name": job.function_name,
            "owner": job.owner,
            "priority": job.priority,
            "status": job.status.value,
            "reason": job.reason,
            "arguments": packed,
            "log_path": str(job.log_path),
            "attempts": 0,
            "created_at": job.created_at,
            "ended_at": job.ended_at,
            "execution_options": job.execution_options,
            "cwd": job.cwd,
            "controller": self.controller.id,
        }

    def _tenant(self, job: LiveJob) -> str | None:
        """A sandboxed tenant's jobs live in its own folder, the only one it can write."""
        return job.owner if self.config.sandboxed else None

    def _active_classical(self) -> int:
        return sum(1 for job in self._live.values() if job.is_classical)

    def limit_running_per_owner(
        self, limit: int | None, owners: dict[str, int | None] | None = None
    ) -> None:
        """At most ``limit`` jobs of one owner run (or wait for a worker) at a time; their
        later jobs stay queued until one ends, while other owners' jobs go on (None: no limit).
        ``owners`` sets the limits of some owners instead (a None value: back to ``limit``)."""
        self.quotas.set_limits(limit, owners)

    def running_limit(self, owner: str) -> int | None:
        return self.quotas.limit(owner)

    @property
    def max_running_per_owner(self) -> int | None:
        return self.quotas.default_limit

    # ---------------------------------------------------------------- running
    def _dispatch_later(self, run: QueuedRun) -> None:
        """Start (or hold) a job whose row is committed, off the store's thread."""
        if self._closing:
            return  # it stays stored as queued and runs at the next start
        with contextlib.suppress(RuntimeError):  # the platform closed meanwhile
            self._dispatch.submit(self._start_committed, run)

    def _start_committed(self, run: QueuedRun) -> None:
        if run.job.cancel_requested:  # canceled meanwhile: it never starts
            never_started: Future[Any] = Future()
            never_started.cancel()
            self._finish(run.job, never_started)
            return
        try:
            self.quotas.run_or_hold(run)
        except Exception as exc:  # the engine refused it: the job ends saying why
            log.exception("job %s could not be started", run.job.id)
            failed: Future[Any] = Future()
            failed.set_exception(exc)
            self._finish(run.job, failed)

    def _run(self, run: QueuedRun) -> None:
        """Hand a job to the engine (its owner's quota allowing)."""
        job, payload, packed, limits = run.job, run.payload, run.arguments, run.limits
        job.attempts += 1
        spec = TaskSpec(
            execute_job,
            (
                JobPayload(
                    job_id=job.id,
                    function_id=payload.id,
                    function_name=payload.name,
                    kind=payload.kind,
                    code=payload.payload,
                    entrypoint=payload.entrypoint,
                    arguments=packed,
                    attempt=job.attempts,
                    execution_options=job.execution_options,
                    own_directory=job.cwd is None,
                    max_log_bytes=self.config.max_log_bytes,
                ),
            ),
            cpus=limits.cpus,
            memory_mb=limits.memory_mb,
            timeout_s=limits.timeout_s,
            workdir=job.cwd or str(job.workdir),  # the worker makes it, off this thread
            log_path=str(job.log_path),
            priority=job.priority,
            on_message=functools.partial(self.requests.handle, job),
            name=job.function_name,
            tenant=job.owner,
            raw_result=True,  # the worker encoded it; the platform stores it as it is
        )
        job.task_id = spec.task_id
        future = self.engine.submit(spec)
        future.add_done_callback(functools.partial(self._finish, job))
        if job.cancel_requested:  # canceled while it was being handed over
            self.engine.cancel(spec.task_id)

    def _started_running(self, job: LiveJob, attempt: int) -> None:
        now = time.time()
        job.status, job.started_at = JobStatus.RUNNING, now
        self.store.update_job(
            job.id,
            {"status": JobStatus.RUNNING.value, "started_at": now, "attempts": job.attempts},
            Event(job.id, now, EventKind.STARTED, {"attempt": attempt}),
        ).add_done_callback(lambda _: self._notify(job, "started"))  # after "submitted"

    # ----------------------------------------------------------------- ending
    def _finish(self, job: LiveJob, future: Future[Any]) -> None:
        if self._closing:
            return  # the job stays stored as unfinished and resumes at the next start
        if job.task_id is not None:  # it was in the engine (a held job never was)
            self.quotas.release(job.owner)
            if job.log_path is not None:  # its worker is done, or dead: no more output
                layout.drop_if_empty(job.log_path)
        now = time.time()
        fields: dict[str, Any] = {"ended_at": now, "sub_status": None}
        error = None if future.cancelled() else future.exception()
        if future.cancelled() or isinstance(error, CancelledError):
            status, reason = JobStatus.CANCELED, "canceled by the user"
        elif error is not None:
            status = JobStatus.ERROR
            reason, job.traceback = results.describe_failure(error)
        else:
            status, reason = JobStatus.DONE, None
            try:
                encoded = results.check_encoded(future.result())
                check_result_size(len(encoded.data), self.config.max_result_bytes)
                folder = layout.result_dir(self.data_dir, job.id)
                inline = None if self.shared else results.INLINE_LIMIT  # every replica reads it
                fields.update(results.stored_fields(job.id, encoded, folder, inline))
            except ResultTooLargeError as exc:
                status, reason = JobStatus.ERROR, str(exc)
            except Exception as exc:
                status, reason = JobStatus.ERROR, f"the result could not be stored: {exc}"
        if status is not JobStatus.DONE:
            self.dispatcher.cancel_job(job.id)
        # its tasks are recorded before its end is, those answered directly too
        self.dispatcher.end_job(job.id, answered_directly=job.answered_directly)
        now = fields["ended_at"] = max(now, time.time())  # after its tasks', as recorded
        fields.update(status=status.value, reason=reason, traceback=job.traceback)
        self._store_end(job, status, reason, now, fields)

    def _store_end(
        self,
        job: LiveJob,
        status: JobStatus,
        reason: str | None,
        now: float,
        fields: dict[str, Any],
        last_try: bool = False,
    ) -> None:
        """Store the job's end; it leaves memory (and is told ended) only once that is
        committed. The store retries while the database is away; an end it refuses for
        good (bad data) is stored as ERROR without the result instead."""
        event_data = {"reason": reason} if reason else {}
        event = Event(job.id, now, EventKind(status.value), event_data)

        def ended(stored: Future[Any]) -> None:
            error = CancelledError() if stored.cancelled() else stored.exception()
            if error is not None:
                if self._closing or isinstance(error, StoreUnavailableError) or last_try:
                    # stays stored as unfinished: it resumes at the next start
                    log.error("the end of job %s could not be stored: %s", job.id, error)
                    return
                why = f"the job's end could not be stored: {type(error).__name__}: {error}"
                self._store_end(
                    job,
                    JobStatus.ERROR,
                    why[:2000],
                    now,
                    {
                        "ended_at": now,
                        "sub_status": None,
                        "status": JobStatus.ERROR.value,
                        "reason": why[:2000],
                        "traceback": job.traceback,
                    },
                    last_try=True,
                )
                return
            job.status, job.reason, job.ended_at = status, reason, now
            with self._lock:
                if self._live.pop(job.id, None) is not None:
                    self.quotas.ended(job.owner)
            job.ended.set()
            if stored.exception() is None and stored.result() is False:
                log.warning(
                    "job %s was claimed by another control plane; its end here is not stored",
                    job.id,
                )
                return
            self._notify(job, "ended")
            if self.shared:  # its files are this replica's scratch space: the log is stored
                layout.remove_later(job.log_path, None if job.cwd else job.workdir)

        job.ending = True
        self._write_end(job, fields, event).add_done_callback(ended)

    def _write_end(self, job: LiveJob, fields: dict[str, Any], event: Event) -> Future[Any]:
        """A job's end; with replicas, stored only while this control plane owns the job,
        and after the rest of its log."""
        if not self.shared:
            return self.store.update_job(job.id, fields, event)
        if self._logs is not None:
            self._logs.ship(job.id, job.log_path, final=True)
        return self.store.end_owned(job.id, self.controller.id, fields, event)

    # ------------------------------------------------------------- recovery
    def _take_over(self) -> int:
        """Claim and run what no live control plane owns: at start, what a previous run
        left queued or running (the job's owner died, or stopped), and with replicas, every
        job whose owner's lease expired since. Returns how many were claimed."""
        claimed = 0
        while not self._closing:
            rows = self.store.writer.submit(
                lambda conn: ownership.claim_jobs(conn, self.controller.id, CLAIM_BATCH)
            ).result()
            for row in rows:
                try:
                    self._adopt(row)
                except Exception:
                    log.exception("could not take over job %s", row["id"])
            claimed += len(rows)
            if len(rows) < CLAIM_BATCH:
                break
        return claimed

    def _keep_taking_over(self) -> None:
        """Replicas: claim the jobs of a replica whose lease expired, soon after it did
        (and at once when one stops cleanly: it says so)."""
        period = self.config.lease_seconds / 4
        while True:
            self._takeover_wake.wait(period)
            self._takeover_wake.clear()
            if self._closing:
                return
            try:
                self._take_over()
            except Exception as exc:  # the database away: the next round tries again
                log.warning("could not look for jobs to take over: %s", exc)

    def _adopt(self, row: dict[str, Any]) -> None:
        """Run a claimed job again, but not one that was running each of the last
        ``max_interruptions`` times its control plane stopped, nor one whose cancel
        was asked."""
        if self._interrupted_too_often(row):
            return
        function = self.store.get_function(row["function_id"])
        if function is None:
            return
        payload = FunctionPayload.from_row(function)
        self._functions[payload.id] = payload
        job = LiveJob(
            id=row["id"],
            function_id=row["function_id"],
            function_name=row["function_name"],
            owner=row["owner"],
            priority=row["priority"],
            created_at=row["created_at"],
            attempts=row["attempts"] or 0,
            execution_options=row.get("execution_options"),
            cwd=row.get("cwd"),
        )
        # where its earlier attempts ran: this layout, or the flat one of earlier versions
        job.workdir, job.log_path = layout.job_paths(self.data_dir, job.id, self._tenant(job))
        now = time.time()
        if row.get("cancel_requested"):
            reason = "canceled by the user"
            self.store.update_job(
                job.id,
                {
                    "status": JobStatus.CANCELED.value,
                    "reason": reason,
                    "ended_at": now,
                    "sub_status": None,
                },
                Event(job.id, now, EventKind.CANCELED, {"reason": reason}),
            ).result()
            return
        previous = row.get("previous_controller")
        why = "the platform restarted"
        if self.shared:
            why = f"its control plane {previous} stopped" if previous else "it had no owner"
        if self._logs is not None:
            self._logs.adopted(job.id, job.log_path)
        with self._lock:
            self._live[job.id] = job
            self.quotas.added(job.owner)
            # a cancel asked before it was adopted: it ends CANCELED instead of starting
            job.cancel_requested = job.id in self._cancels_asked
            self._cancels_asked.discard(job.id)
        run = QueuedRun(job, payload, row["arguments"], Limits.of(function))
        # it runs again once that is stored (else it stays as it was, for next time)
        self.store.update_job(
            job.id,
            {"status": JobStatus.QUEUED.value, "sub_status": None},
            Event(job.id, now, EventKind.REQUEUED, {"reason": why, "was": row["status"]}),
        ).add_done_callback(functools.partial(self._requeued, run))

    def _requeued(self, run: QueuedRun, stored: Future[Any]) -> None:
        if not stored.cancelled() and stored.exception() is None:
            self._dispatch_later(run)
            return
        with self._lock:
            if self._live.pop(run.job.id, None) is not None:
                self.quotas.ended(run.job.owner)

    def _interrupted_too_often(self, row: dict[str, Any]) -> bool:
        """Count a stop of the server under a running job; end it ERROR at the limit."""
        if row["status"] != JobStatus.RUNNING.value:
            return False
        count = (row.get("interruptions") or 0) + 1
        if count < self.config.max_interruptions:
            self.store.update_job(row["id"], {"interruptions": count})
            return False
        now = time.time()
        reason = (
            f"the server stopped {count} times while this job ran; it is not run again "
            f"(the platform's max_interruptions is {self.config.max_interruptions})"
        )
        self.store.update_job(
            row["id"],
            {
                "status": JobStatus.ERROR.value,
                "reason": reason,
                "ended_at": now,
                "interruptions": count,
                "sub_status": None,
            },
            Event(row["id"], now, EventKind.ERROR, {"reason": reason}),
        ).result()
        return True

    # ------------------------------------------------------------ replicas
    def _quantum_event(self, task: Any, what: str) -> None:
        if self.shared_qpu is not None:
            self.shared_qpu.on_local_event(task, what)
        self.journal(task, what)

    def _live_logs(self) -> list[tuple[str, Path | None]]:
        with self._lock:
            return [(job.id, job.log_path) for job in self._live.values()]

    def _heard_job(self, fields: list[str]) -> None:
        """Another replica's news of a job (or a cancel asked of this one)."""
        what, job_id, status, controller = fields[0], fields[1], fields[2], fields[3]
        owner = "|".join(fields[4:])
        if what == "cancel":
            if controller == self.controller.id:
                self._cancel_asked(job_id)
            return
        if controller == self.controller.id:
            return  # told here already, by the transition itself
        if what in ("submitted", "started", "ended"):
            for listener in list(self._listeners):
                try:
                    listener(job_id, owner, what, status)
                except Exception:
                    log.exception("a job listener failed")
        if what == "ended":
            with self._lock:
                for woken in self._remote_waits.get(job_id, []):
                    woken.set()

    def _cancel_asked(self, job_id: str) -> None:
        with self._lock:
            if job_id not in self._live:  # claimed, not adopted yet: done when it is
                self._cancels_asked.add(job_id)
                return
        try:
            self.cancel(job_id)
        except Exception:
            log.exception("could not cancel job %s as asked", job_id)

    def _resync(self) -> None:
        """Notifications were lost: cancels asked meanwhile, waits on other replicas."""
        with self.store.engine.connect() as conn:
            asked = ownership.cancels_asked(conn, self.controller.id)
        for job_id in asked:
            self._cancel_asked(job_id)
        with self._lock:
            for waits in self._remote_waits.values():
                for woken in waits:
                    woken.set()

    # ---------------------------------------------------------------- queries
    def controllers(self) -> list[dict[str, Any]]:
        """The control planes that used this database (``GET /controllers``)."""
        with self.store.engine.connect() as conn:
            return describe(ownership.controllers(conn))

    def info(self, job_id: str) -> JobInfo:
        job = self._live.get(job_id)
        # a job whose end is being stored is read from its row, as other replicas read it:
        # the end shows once committed, even before this control plane has let it go
        if job is not None and not job.ended.is_set() and not job.ending:
            info = job.info()
            if job.quantum_waiting or job.quantum_executing:
                info = dataclasses.replace(info, **self.dispatcher.job_estimates(job_id))
            return info
        row = self.store.get_job(job_id)
        if row is None:
            raise KeyError(f"no job with id {job_id!r}")
        return JobInfo.from_row(row)

    def wait(self, job_id: str, timeout: float | None = None) -> bool:
        job = self._live.get(job_id)
        if job is None:
            if self.shared:  # another replica may run it
                return self._wait_elsewhere(job_id, timeout)
            return self.info(job_id).status.is_final
        return job.ended.wait(timeout)

    def _wait_elsewhere(self, job_id: str, timeout: float | None) -> bool:
        """Until the job ends: told by its owner's notification, or read from its row."""
        woken = threading.Event()
        with self._lock:
            self._remote_waits.setdefault(job_id, []).append(woken)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                if self.info(job_id).status.is_final:
                    return True
                remaining = REMOTE_POLL if deadline is None else deadline - time.monotonic()
                if remaining <= 0:
                    return False
                woken.wait(min(remaining, REMOTE_POLL))
                woken.clear()
        finally:
            with self._lock:
                waits = self._remote_waits.get(job_id, [])
                if woken in waits:
                    waits.remove(woken)
                if not waits:
                    self._remote_waits.pop(job_id, None)

    def result_row(self, job_id: str) -> dict[str, Any]:
        row = self.store.get_job(job_id)
        if row is None:
            raise KeyError(f"no job with id {job_id!r}")
        return row

    def load_result(self, row: dict[str, Any]) -> Any:
        """The value of a DONE job's row, decoded: the embedded platform's user owns it."""
        encoded = self.stored_result(row)
        return None if encoded is None else encoded.decode(trusted=True)

    def stored_result(self, row: dict[str, Any]) -> Encoded | None:
        """The encoded result of a DONE job's row; ``ResultDeletedError`` once the
        retention policy has deleted it."""
        if row.get("output_deleted_at") is not None:
            raise ResultDeletedError(row["id"], row["output_deleted_at"])
        try:
            return results.stored_result(row)
        except FileNotFoundError:
            again = self.store.get_job(row["id"])  # retention may have just deleted it
            if again is None or again.get("output_deleted_at") is not None:
                raise ResultDeletedError(
                    row["id"], None if again is None else again.get("output_deleted_at")
                ) from None
            raise  # lost some other way: a fault

    def cancel(self, job_id: str) -> bool:
        job = self._live.get(job_id)
        if job is None or job.ended.is_set():
            info = self.info(job_id)  # unknown ids raise
            if self.shared and job is None and not info.status.is_final:
                return self._cancel_elsewhere(job_id)
            return False
        job.cancel_requested = True
        if self.quotas.unhold(job):
            never_started: Future[Any] = Future()
            never_started.cancel()
            self._finish(job, never_started)
            return True
        self.dispatcher.cancel_job(job_id)
        if job.task_id is not None:
            return self.engine.cancel(job.task_id)
        return True  # not handed to the engine yet: it never starts (_start_committed, _run)

    def _cancel_elsewhere(self, job_id: str) -> bool:
        """Ask the job's owner to cancel it, and wait a little for it to end: True once
        asked (its owner, or whoever claims it, ends it CANCELED)."""
        if not self.store.committed(self.store.writer.submit(ownership.request_cancel(job_id))):
            return False
        self._wait_elsewhere(job_id, CANCEL_WAIT)
        return True

    def logs(self, job_id: str) -> str:
        return self.log_text(job_id)[0]

    def log_text(self, job_id: str) -> tuple[str, bool]:
        """The job's log (at most ``max_log_bytes`` of it) and whether it was cut there."""
        row = self.result_row(job_id)
        if self._logs is not None:  # replicas: the database has what each owner shipped
            job = self._live.get(job_id)
            if job is not None:
                self._logs.ship(job.id, job.log_path)
                self.store.writer.flush()
            return read_shipped(self.store, job_id, self.config.max_log_bytes)
        if not row.get("log_path"):
            return "", False
        return read_log(Path(row["log_path"]), self.config.max_log_bytes)

    def job_usage(self, job_id: str) -> dict[str, Any]:
        """What the job's quantum tasks used and cost so far: ``qpu_seconds``, ``cost``,
        ``tasks`` (those that ran to their end), and the same per backend."""
        self.info(job_id)  # unknown ids raise
        self.store.writer.flush()
        total = self.usage.of_job(job_id).as_dict()
        total["backends"] = self.store.usage_totals(job_id=job_id, by="backend")
        return {"id": job_id, **total}

    def usage_report(self, owner: str | None = None, since: float | None = None) -> dict[str, Any]:
        """Per user (every user, or ``owner``): QPU seconds, cost and tasks since ``since``
        (a time; None: all), per backend too, and their quotas with what counts against
        them (``qlambda.platform.usage``)."""
        return self.usage.report(owner, since)

    def events(self, job_id: str) -> list[Event]:
        self.info(job_id)
        self.store.writer.flush()
        return self.store.events(job_id)

    def list_jobs(
        self,
        statuses: list[str] | None = None,
        limit: int | None = 100,
        *,
        owner: str | None = None,
        function: str | None = None,
        offset: int = 0,
    ) -> list[JobInfo]:
        self.store.writer.flush()
        rows = self.store.list_jobs(
            statuses=statuses, limit=limit, owner=owner, function=function, offset=offset
        )
        infos = []
        for row in rows:
            live = self._live.get(row["id"])
            infos.append(live.info() if live is not None else JobInfo.from_row(row))
        if statuses is not None:
            infos = [i for i in infos if i.status.value in statuses]
        return infos

    def job_page(
        self, which: JobFilter, before: Cursor | None = None, limit: int = 50
    ) -> list[JobInfo]:
        """A page of jobs newest first after the cursor ``before`` (``Store.job_page``),
        running ones as they are now."""
        self.store.writer.flush()
        infos = []
        for row in self.store.job_page(which, before, limit):
            live = self._live.get(row["id"])
            infos.append(live.info() if live is not None else JobInfo.from_row(row))
        return infos


def _check_priority(priority: float) -> None:
    if (
        isinstance(priority, bool)
        or not isinstance(priority, int | float)
        or not 0 < priority <= MAX_PRIORITY
        or not math.isfinite(priority)
    ):
        raise ValueError(
            f"priority must be a positive number of at most {MAX_PRIORITY:g} "
            f"(1 is the default), got {priority!r}"
        )
