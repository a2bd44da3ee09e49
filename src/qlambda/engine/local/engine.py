"""A warm pool of worker processes on this machine.

Workers fork from a zygote that has already imported the quantum stack, so a new
or replaced worker is warm within milliseconds and a job never pays an
interpreter start; the zygote never imports the user's ``__main__``. One thread
per engine watches the workers' sockets and the zygotes, enforces time and
memory limits, and replaces workers that die. Whatever happens, the engine never
has more than ``max_workers`` worker processes.

A sandboxed engine keeps one zygote and its workers per tenant (each in its own
sandbox, see ``qlambda.engine.local.sandbox``); a task runs only on a worker of
its own tenant. What workers send is read as hostile data
(``qlambda.engine.protocol``); an engine that does not trust its workers never
unpickles what they return.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import heapq
import itertools
import math
import os
import pickle
import queue
import selectors
import signal
import socket
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import CancelledError, Future, InvalidStateError
from multiprocessing.connection import Connection
from typing import Any

import cloudpickle
import psutil

from qlambda.core.errors import TaskFailedError, TimeLimitError, WorkerDiedError
from qlambda.engine import protocol
from qlambda.engine.base import PickledCall, TaskFuture, TaskMessage, TaskSpec
from qlambda.engine.local import routes
from qlambda.engine.local.pool import Launcher, PlainLauncher, Pool, ZygoteMessageError
from qlambda.engine.local.routes import Route
from qlambda.engine.local.userfault import describe_exit
from qlambda.engine.local.wire import dumps, loads
from qlambda.engine.local.worker import THREAD_VARIABLES

# Imported once by the zygote, so every worker starts with them loaded.
DEFAULT_PRELOAD: tuple[str, ...] = (
    "numpy",
    "scipy.optimize",
    "networkx",
    "qiskit",
    "qiskit.primitives",
    "qiskit_aer",
    "cloudpickle",
    "qlambda.engine.local.worker",
    "qlambda.platform.context",
    "qlambda.quantum.primitives",
    "qlambda.quantum.runtime",
)
PREFETCH_MAX_BYTES = 32 * 1024  # a task queued behind a busy worker must not clog its pipe
MAX_UNREAD_REPLY_BYTES = 256 * 1024 * 1024
"""Replies a worker may leave unread at most; past them it is stopped (see ``_Courier``)."""
COURIER_IDLE_SECONDS = 5.0  # a courier with nothing to send for this long ends
# What user code in a worker must never see: where the store is, the caller's credentials;
# and (``hide_variables``) a configured QPU's credentials, which its executor alone gets.
HIDDEN_VARIABLES = ("QLAMBDA_DATABASE_URL", "QLAMBDA_TOKEN")
_hidden_too: set[str] = set()


def hide_variables(names: Sequence[str]) -> None:
    """Remove these variables too from the environment of every worker started from now
    on (a configured backend's credentials, under names of its configuration's choosing)."""
    _hidden_too.update(names)


EXIT_REPORT_GRACE = 1.0  # how long a worker's exit code may lag behind its closed socket
ZYGOTE_IDLE_TIMEOUT = 600.0  # a tenant's zygote with no workers stops after this
LONGEST_SLEEP = 1.0  # the loop looks at its limits at least this often


class _Task:
    __slots__ = (
        "arguments",
        "blocked",
        "deadline",
        "function",
        "future",
        "key",
        "lane_fd",
        "rss_baseline",
        "seq",
        "spec",
        "started",
    )

    def __init__(
        self,
        spec: TaskSpec,
        future: TaskFuture,
        seq: int,
        function: tuple[str | None, bytes],
        arguments: bytes,
    ) -> None:
        self.spec = spec
        self.future = future
        self.function = function  # (cache key, pickled function)
        self.arguments = arguments  # (args, kwargs), pickled once at submission
        self.seq = seq
        self.key: tuple[float, int] = (-spec.priority, seq)
        self.blocked = 0  # outstanding blocking requests
        self.started = 0.0
        self.deadline: float | None = None
        self.rss_baseline: int | None = None
        self.lane_fd = spec.lane_fd  # a request route to lend with the task, until sent

    def __lt__(self, other: _Task) -> bool:
        return self.key < other.key


class _Worker:
    def __init__(self, worker_id: int, pool: Pool[_Worker], conn: Connection) -> None:
        self.id = worker_id
        self.pool = pool
        self.conn = conn
        self.inner_pid: int | None = None  # as the zygote sees it
        self.pid: int | None = None  # as this process can signal it
        self.ready = False
        self.connected = True
        self.exited = False
        self.exit_code: int | None = None
        self.disconnected_at: float | None = None
        self.tasks: deque[_Task] = deque()
        self.send_lock = threading.Lock()
        self.send_lock_courier = threading.Lock()
        self.courier: _Courier | None = None
        self.kill_reason: str | None = None
        self.kill_error: type[BaseException] = WorkerDiedError
        self.function_keys: set[str] = set()
        self.idle_since = time.monotonic()
        self.route: Route | None = None  # answers to its requests may come this way
        self.routes_held: set[str] = set()  # routes passed to it (an executor)
        self.requests: socket.socket | None = None  # its request route (``routes``)
        self.requests_lent = False  # an executor reads it now (a lane)
        self.taken: set[tuple[int, int]] = set()  # (task, request) a lane took from it

    def send(self, data: bytes) -> None:
        with self.send_lock:
            self.conn.send_bytes(data)

    def reply(self, data: bytes, on_overflow: Callable[[], None]) -> None:
        """Send ``data`` (a reply) without ever blocking the caller: see ``_Courier``."""
        with self.send_lock_courier:
            if self.courier is None or not self.courier.take(data):
                self.courier = _Courier(self, on_overflow)
                self.courier.take(data)

    @property
    def idle(self) -> bool:
        return self.ready and self.connected and not self.tasks and self.kill_reason is None


class _Courier:
    """Sends replies to one worker from a thread of its own, in order.

    Replies are answered from the engine's loop and from the store's writer. A worker
    reads its connection only while its task waits on something: a task that asks
    without waiting (fan-out tasks, checkpoints it does not wait for) and then computes,
    or hostile code that never reads, would leave a blocking send stuck in one of those
    threads, and every tenant's jobs with it. The courier is the one that waits; past
    :data:`MAX_UNREAD_REPLY_BYTES` queued, the worker is stopped (``on_overflow``). It
    ends after :data:`COURIER_IDLE_SECONDS` with nothing to send."""

    def __init__(self, worker: _Worker, on_overflow: Callable[[], None]) -> None:
        self._worker = worker
        self._on_overflow = on_overflow
        self._queue: deque[bytes] = deque()
        self._queued_bytes = 0
        self._ready = threading.Condition()
        self._ended = False
        threading.Thread(target=self._run, name=f"qlambda-courier-{worker.id}", daemon=True).start()

    def take(self, data: bytes) -> bool:
        """Queue ``data``; False if this courier has ended (make another)."""
        with self._ready:
            if self._ended:
                return False
            self._queue.append(data)
            self._queued_bytes += len(data)
            overflow = self._queued_bytes > MAX_UNREAD_REPLY_BYTES
            self._ready.notify()
        if overflow:
            self._on_overflow()
        return True

    def _run(self) -> None:
        while True:
            with self._ready:
                if not self._queue:
                    self._ready.wait(COURIER_IDLE_SECONDS)
                if not self._queue:
                    self._ended = True
                    return
                data = self._queue.popleft()
            try:
                self._worker.send(data)
            except OSError:  # the worker has gone: so have its replies
                with self._ready:
                    self._ended = True
                    self._queue.clear()
                return
            finally:
                with self._ready:
                    self._queued_bytes -= len(data)


class _Lanes:
    """What a dispatcher may do with one worker's request route (``routes.Lanes``)."""

    __slots__ = ("_engine", "_worker", "task_id")

    def __init__(self, engine: LocalEngine, worker: _Worker, task_id: int) -> None:
        self._engine = engine
        self._worker = worker
        self.task_id = task_id

    def lend(self) -> int | None:
        return self._engine.lend_requests(self._worker)

    def took(self, request_id: int) -> Callable[[bool, Any], None] | None:
        return self._engine.took(self._worker, self.task_id, request_id)

    def give_back(self) -> None:
        self._engine.requests_back(self._worker)


class _FunctionBlobs:
    """cloudpickle each function once; workers cache it by key."""

    def __init__(self) -> None:
        self._cache: weakref.WeakKeyDictionary[Any, tuple[str, bytes]] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def get(self, fn: Callable[..., Any]) -> tuple[str | None, bytes]:
        with self._lock:
            try:
                cached = self._cache.get(fn)
            except TypeError:  # not weak-referenceable: send it every time
                return None, cloudpickle.dumps(fn)
            if cached is None:
                blob = cloudpickle.dumps(fn)
                cached = (hashlib.blake2b(blob, digest_size=12).hexdigest(), blob)
                self._cache[fn] = cached
            return cached


def worker_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """What a plain (unsandboxed) zygote and its workers see: this process's environment
    without secrets, with single-threaded BLAS; ``extra``: what this engine's workers alone
    are given (a QPU executor's credentials)."""
    env = {
        k: v for k, v in os.environ.items() if k not in HIDDEN_VARIABLES and k not in _hidden_too
    }
    env.update(dict.fromkeys(THREAD_VARIABLES, "1"))
    env.update(extra or {})
    return env


class LocalEngine:
    """Runs tasks on ``cpus`` warm worker processes of this machine.

    While tasks wait on blocking requests (a QPU, a fan-out) their cpus are lent
    out and extra workers start, up to ``max_workers`` worker processes in all;
    extras retire after ``idle_timeout`` seconds without work.

    ``trusted``: values and exceptions that tasks return are unpickled here (a
    pilot, the embedded platform); otherwise they stay ``protocol.Encoded`` bytes
    and exceptions become ``TaskFailedError`` s. ``sandbox``: a factory of
    launchers, one per tenant (``TaskSpec.tenant``); every task must then name
    its tenant, and runs only among that tenant's workers.
    """

    def __init__(
        self,
        cpus: int | None = None,
        *,
        max_workers: int | None = None,
        preload: Sequence[str] = DEFAULT_PRELOAD,
        initializer: Callable[..., Any] | None = None,
        initargs: tuple[Any, ...] = (),
        prefetch: int = 1,
        idle_timeout: float = 10.0,
        memory_poll_interval: float = 0.1,
        name: str = "local",
        trusted: bool = True,
        sandbox: Callable[[str], Launcher] | None = None,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        self._cpus = cpus or os.cpu_count() or 1
        if self._cpus < 1:
            raise ValueError(f"cpus must be at least 1, got {cpus}")
        self._max_workers = max(max_workers or self._cpus + 32, self._cpus)
        self._preload = tuple(preload)
        self._initializer = initializer
        self._initargs = initargs
        self._prefetch = prefetch
        self._idle_timeout = idle_timeout
        self._memory_poll = memory_poll_interval
        self.name = name
        self.trusted = trusted
        self._sandbox = sandbox
        self._environment = dict(environment or {})
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._queue: list[_Task] = []
        self._tasks: dict[int, _Task] = {}
        self._pools: dict[str | None, Pool[_Worker]] = {}
        self._workers: dict[int, _Worker] = {}
        self._worker_ids = itertools.count(1)
        self._spawn_wanted: dict[str | None, int] = {}
        self._free_cpus = self._cpus
        self._seq = itertools.count()
        self._functions = _FunctionBlobs()
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, ("wake", None))
        self._thread: threading.Thread | None = None
        self._sleeping_until = math.inf  # when the loop next looks at limits unwoken
        self._loop_thread: int | None = None
        self._requests_returned: list[_Worker] = []  # request routes back from lanes
        self._stopping = False
        self._closed = False
        self._init_error: protocol.ErrorInfo | None = None
        self._ready_event = threading.Event()
        # A dead worker's task fails from a thread of its own, never under this engine's
        # lock: its future's callbacks reach other engines (a job's end cancels its quantum
        # tasks; a quantum task's failure answers the job's worker), whose loops may hold
        # their locks while they wait for this one.
        self._failures: queue.SimpleQueue[tuple[Future[Any], BaseException] | None] = (
            queue.SimpleQueue()
        )
        self._failing = threading.Thread(
            target=self._fail_in_order, name=f"qlambda-{name}-failures", daemon=True
        )
        self._failing.start()
        self.completed = 0
        self.spawned = 0

    # ----------------------------------------------------------------- public API
    @property
    def cpus(self) -> int:
        return self._cpus

    @property
    def max_workers(self) -> int:
        return self._max_workers

    def start(self) -> None:
        if self._thread is not None:
            return
        if self._sandbox is None:
            self._pools[None] = Pool(None, self._cpus, PlainLauncher())
            self._spawn_wanted[None] = self._cpus
        else:
            self._ready_event.set()  # tenants' pools start on demand
        # The loop thread starts every zygote: a process that dies with its parent thread
        # (PR_SET_PDEATHSIG) must have a parent thread that lives as long as the engine.
        self._thread = threading.Thread(target=self._loop, name=f"qlambda-{self.name}", daemon=True)
        self._thread.start()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until every base worker has imported its stack."""
        return self._ready_event.wait(timeout)

    def submit(self, spec: TaskSpec) -> TaskFuture:
        if self._stopping:
            raise RuntimeError(f"engine {self.name!r} is shut down")
        if spec.gpus or spec.resources:
            raise ValueError(
                "the local engine schedules cpus only; gpus and custom resources need engine='ray'"
            )
        if spec.cpus < 1 or spec.cpus > self._cpus:
            raise ValueError(f"a task may ask for 1 to {self._cpus} cpus here, not {spec.cpus}")
        if self._sandbox is not None and not spec.tenant:
            raise ValueError(f"engine {self.name!r} is sandboxed: every task must name its tenant")
        future = TaskFuture(spec.task_id)
        if isinstance(spec.fn, PickledCall):
            digest = hashlib.blake2b(spec.fn.function, digest_size=12).hexdigest()
            function: tuple[str | None, bytes] = (digest, spec.fn.function)
            arguments = spec.fn.arguments
        else:
            function = self._functions.get(spec.fn)
            arguments = dumps((spec.args, spec.kwargs))
        task = _Task(spec, future, next(self._seq), function, arguments)
        if task.lane_fd is not None:
            future.add_done_callback(lambda _: _close_unsent(task))
        with self._lock:
            if self._init_error is not None:
                future.set_exception(self._init_failure(self._init_error))
                return future
            self._tasks[spec.task_id] = task
            heapq.heappush(self._queue, task)
            self._dispatch()
        return future

    def cancel(self, task_id: int, reason: str = "canceled") -> bool:
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None:
                return False
            if task.future.cancel():  # still queued: the dispatcher skips it
                self._tasks.pop(task_id, None)
                return True
            worker = self._running_on(task)
            if worker is None:
                return False
            self._kill(worker, reason, CancelledError)
            return True

    def shutdown(self, wait: bool = True) -> None:
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            queued = [t for t in self._queue if not t.future.done()]
            self._queue.clear()
            workers = list(self._workers.values())
        for task in queued:
            if not task.future.cancel():
                task.future.set_exception(CancelledError())
        for worker in workers:
            if worker.tasks:  # what runs is canceled anyway: do not wait for it
                self._kill(worker, "the engine shut down", CancelledError)
            with contextlib.suppress(OSError):
                worker.send(pickle.dumps(protocol.Stop()))
        self._wake()
        deadline = time.monotonic() + (5.0 if wait else 0.5)
        with self._changed:
            while self._workers and self._thread is not None and self._thread.is_alive():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
            leftovers = list(self._workers.values())
        for worker in leftovers:  # still there past the deadline
            self._kill(worker, "the engine shut down", CancelledError)
        with self._lock:
            self._closed = True
        self._wake()
        if self._thread is not None and threading.current_thread() is not self._thread:
            self._thread.join(10.0 if wait else 2.0)
        for worker in workers:
            with self._lock:
                running = list(worker.tasks)
                worker.tasks.clear()
            for task in running:
                if not task.future.done():
                    task.future.set_exception(CancelledError())
        self._failures.put(None)  # after the failures queued so far
        if threading.current_thread() is not self._failing:
            self._failing.join(10.0 if wait else 2.0)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            workers = list(self._workers.values())
            return {
                "cpus": self._cpus,
                "workers": len(workers),
                "max_workers": self._max_workers,
                "idle_workers": sum(1 for w in workers if w.idle),
                "queued": sum(1 for t in self._queue if not t.future.done()),
                "running": sum(1 for w in workers if w.tasks),
                "blocked": sum(1 for w in workers if w.tasks and w.tasks[0].blocked),
                "free_cpus": self._free_cpus,
                "completed": self.completed,
                "spawned": self.spawned,
                "pools": len(self._pools),
            }

    def worker_pids(self) -> list[int]:
        with self._lock:
            return [w.pid for w in self._workers.values() if w.pid is not None]

    def zygote_pids(self) -> list[int]:
        """The processes workers fork from (in a sandbox: its outermost process)."""
        with self._lock:
            return [p.process.pid for p in self._pools.values() if p.process is not None]

    # ------------------------------------------------------------- dispatching
    def _pool_key(self, task: _Task) -> str | None:
        return None if self._sandbox is None else task.spec.tenant

    def _pool(self, key: str | None) -> Pool[_Worker]:
        pool = self._pools.get(key)
        if pool is None:
            assert self._sandbox is not None and key is not None
            pool = self._pools[key] = Pool(key, 0, self._sandbox(key))
        return pool

    def _dispatch(self) -> None:
        """Hand queued tasks to workers in priority order. Called with the lock held.

        A task whose pool has no free worker asks for one and lets tasks of other
        pools go by; a task that lacks free cpus stops the queue.
        """
        skipped: list[_Task] = []
        waiting_pools: set[str | None] = set()
        while self._queue:
            task = self._queue[0]
            if task.future.done():
                heapq.heappop(self._queue)
                self._tasks.pop(task.spec.task_id, None)
                continue
            key = self._pool_key(task)
            if key in waiting_pools:
                skipped.append(heapq.heappop(self._queue))
                continue
            pool = self._pool(key)
            if pool.failed is not None:
                heapq.heappop(self._queue)
                self._fail_task(task, pool.failed)
                continue
            has_cpus = self._free_cpus >= task.spec.cpus
            worker = self._idle_worker(pool) if has_cpus else None
            if worker is not None:
                heapq.heappop(self._queue)
                if not self._start(task):
                    continue
                self._free_cpus -= task.spec.cpus
            else:
                # Small plain tasks may wait in a busy worker's pipe (no round trip lost).
                if self._prefetch and self._prefetchable(task):
                    worker = self._prefetch_worker(pool)
                if worker is None:
                    if not has_cpus:
                        break
                    self._want_worker(pool)
                    waiting_pools.add(key)
                    skipped.append(heapq.heappop(self._queue))
                    continue
                heapq.heappop(self._queue)
            worker.tasks.append(task)
            with contextlib.suppress(OSError):  # a dead worker's exit handler sees to its tasks
                self._send_task(task, worker)
        for task in skipped:
            heapq.heappush(self._queue, task)

    @staticmethod
    def _prefetchable(task: _Task) -> bool:
        return not task.spec.isolated and len(task.arguments) <= PREFETCH_MAX_BYTES

    @staticmethod
    def _idle_worker(pool: Pool[_Worker]) -> _Worker | None:
        for worker in pool.workers:
            if worker.idle:
                return worker
        return None

    def _prefetch_worker(self, pool: Pool[_Worker]) -> _Worker | None:
        for worker in pool.workers:
            if (
                worker.ready
                and worker.connected
                and 0 < len(worker.tasks) <= self._prefetch
                and worker.kill_reason is None
                and not any(t.spec.isolated or t.blocked for t in worker.tasks)
            ):
                return worker
        return None

    def _total_workers(self) -> int:
        return len(self._workers) + sum(self._spawn_wanted.values())

    def _want_worker(self, pool: Pool[_Worker]) -> None:
        """A task of ``pool`` has cpus but no worker: start one, within ``max_workers``
        (making room by retiring an idle worker of another pool if need be)."""
        if self._stopping or self._init_error is not None:
            return
        starting = sum(1 for w in pool.workers if not w.ready and w.connected)
        if starting or self._spawn_wanted.get(pool.key):
            return  # one at a time per pool: the first may already be enough
        if self._total_workers() < self._max_workers:
            self._spawn_wanted[pool.key] = 1
            self._wake()
            return
        for other in self._pools.values():
            if other is pool:
                continue
            idle = self._idle_worker(other)
            if idle is not None:
                self._retire(idle)
                return

    def _start(self, task: _Task) -> bool:
        """Mark the task running; False if it was canceled meanwhile."""
        task.started = time.monotonic()
        watch_at = math.inf  # when the loop must first look at this task's limits
        if task.spec.timeout_s is not None:
            task.deadline = task.started + task.spec.timeout_s
            watch_at = task.deadline
        if task.spec.memory_mb is not None:
            watch_at = task.started
        if watch_at < self._sleeping_until:
            # The loop would look too late. A task with a longer limit (a QPU task's)
            # wakes nobody: the loop looks within LONGEST_SLEEP, and a wake-up here
            # would sit between the task and the pipe it is about to be sent down.
            self._wake()
        return task.future.set_running_or_notify_cancel()

    def _send_task(self, task: _Task, worker: _Worker) -> None:
        """The task to its worker; with it, the first time, the route it answers over."""
        route: Route | None = task.spec.route
        lane = task.lane_fd
        new_route = route is not None and route.key not in worker.routes_held
        if not new_route and lane is None:
            worker.send(self._encode(task, worker))
            return
        task.lane_fd = None
        try:
            # the fds right behind the task that announces them: its route, its lane
            with worker.send_lock:
                key = route.key if new_route and route is not None else None
                worker.conn.send_bytes(self._encode(task, worker, key, lane is not None))
                if new_route and route is not None:
                    routes.send_fd(worker.conn.fileno(), route.sock.fileno())
                    worker.routes_held.add(route.key)
                if lane is not None:
                    routes.send_fd(worker.conn.fileno(), lane)
        finally:
            if lane is not None:
                os.close(lane)

    def _encode(
        self, task: _Task, worker: _Worker, route: str | None = None, lane: bool = False
    ) -> bytes:
        spec = task.spec
        key, blob = task.function
        send_blob = blob if key is None or key not in worker.function_keys else None
        if key is not None:
            worker.function_keys.add(key)
        options = None
        # Only a task with a directory, a log or cpus of its own is set up and put back
        # (a job); one with only limits (a QPU executor's) skips that bookkeeping, which
        # costs 0.15 ms a task with Qiskit's modules loaded.
        if spec.workdir is not None or spec.log_path is not None or spec.cpus != 1:
            options = {"workdir": spec.workdir, "log_path": spec.log_path, "cpus": spec.cpus}
        message = protocol.RunTask(
            spec.task_id, key, send_blob, task.arguments, options, route, lane
        )
        return pickle.dumps(message, protocol.PICKLE_PROTOCOL)

    def _running_on(self, task: _Task) -> _Worker | None:
        for worker in self._workers.values():
            if worker.tasks and worker.tasks[0] is task:
                return worker
        return None

    def _fail_task(self, task: _Task, reason: str) -> None:
        self._tasks.pop(task.spec.task_id, None)
        if task.future.set_running_or_notify_cancel():
            task.future.set_exception(
                WorkerDiedError(f"workers for this task cannot start: {reason}")
            )

    # ----------------------------------------------------------------- workers
    def _spawn(self, pool: Pool[_Worker]) -> None:
        """Start a worker in ``pool`` (its zygote first, if need be). Loop thread only."""
        if pool.process is None:
            env = worker_environment(self._environment)
            try:
                pool.start(self._preload, env)
            except Exception as exc:
                with self._lock:
                    self._pool_failed(pool, f"{type(exc).__name__}: {exc}")
                return
            assert pool.control is not None
            self._selector.register(pool.control, selectors.EVENT_READ, ("zygote", pool))
        worker_id = next(self._worker_ids)
        sock = pool.spawn(worker_id)
        conn = Connection(sock.detach())
        worker = _Worker(worker_id, pool, conn)
        start = protocol.WorkerStart(
            sys_path=_sys_path(),
            initializer=self._initializer,
            initargs=self._initargs,
            reply_route=True,
            request_route=True,
        )
        key, ours, theirs = routes.new_route()
        requests, their_requests = routes.new_request_route()
        with contextlib.suppress(OSError):  # buffered until the worker reads it
            conn.send_bytes(dumps(start))
            routes.send_fd(conn.fileno(), theirs.fileno())
            routes.send_fd(conn.fileno(), their_requests.fileno())
            worker.route = Route(key, ours, 0)
            worker.requests = requests
        theirs.close()
        their_requests.close()
        if worker.route is None:
            ours.close()
            requests.close()
        with self._lock:
            pool.workers.append(worker)
            self._workers[worker_id] = worker
            self.spawned += 1
        self._selector.register(conn.fileno(), selectors.EVENT_READ, ("conn", worker))
        if worker.requests is not None:
            self._selector.register(worker.requests, selectors.EVENT_READ, ("requests", worker))

    def _kill(self, worker: _Worker, reason: str, error: type[BaseException]) -> None:
        if worker.kill_reason is None:
            worker.kill_reason = reason
            worker.kill_error = error
        if worker.pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(worker.pid, signal.SIGKILL)

    def _unread(self, worker: _Worker) -> None:
        self._kill(
            worker,
            f"its task left more than {MAX_UNREAD_REPLY_BYTES // (1 << 20)} MB of answers "
            "unread (results of fan-out tasks or checkpoints it never waited for)",
            WorkerDiedError,
        )

    def _retire(self, worker: _Worker) -> None:
        worker.kill_reason = "retired"
        with contextlib.suppress(OSError):
            worker.send(pickle.dumps(protocol.Stop()))

    def _wake(self) -> None:
        with self._lock:
            if self._wake_w < 0:
                return  # the loop has ended and released its descriptors
            with contextlib.suppress(BlockingIOError, OSError):
                os.write(self._wake_w, b"x")

    def _release_descriptors(self) -> None:
        with self._lock:
            self._selector.close()
            os.close(self._wake_r)
            os.close(self._wake_w)
            self._wake_r = self._wake_w = -1

    # --------------------------------------------------------------- the loop
    def _loop(self) -> None:
        self._loop_thread = threading.get_ident()
        try:
            self._serve()
        finally:
            for pool in list(self._pools.values()):
                with contextlib.suppress(Exception):
                    pool.stop(wait=1.0)
            for worker in list(self._workers.values()):
                with contextlib.suppress(OSError):
                    worker.conn.close()
                if worker.route is not None:
                    routes.close_quietly(worker.route.sock)
                routes.close_quietly(worker.requests)
            self._release_descriptors()

    def _serve(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                wanted = self._spawn_wanted
                self._spawn_wanted = {}
                returned = self._requests_returned
                self._requests_returned = []
            for worker in returned:
                self._read_requests_again(worker)
            for key, count in wanted.items():
                pool = self._pools.get(key)
                for _ in range(count):
                    if pool is None or pool.failed is not None or self._stopping:
                        break
                    self._spawn(pool)
            self._sleeping_until = math.inf  # awake: a task started now must wake it
            timeout = _earliest(self._housekeeping(), LONGEST_SLEEP)
            self._sleeping_until = time.monotonic() + timeout
            for selected, _ in self._selector.select(timeout):
                kind, target = selected.data
                if kind == "wake":
                    with contextlib.suppress(BlockingIOError):
                        os.read(self._wake_r, 4096)
                elif kind == "conn":
                    self._read(target)
                elif kind == "requests":
                    self._read_request(target)
                else:
                    self._read_zygote(target)

    def _read(self, worker: _Worker) -> None:
        """One message: the selector reports the connection again while more wait.
        (``Connection.poll`` builds a selector per call, a tenth of a millisecond per
        message on a quantum task's path.)"""
        try:
            if worker.connected:
                data = worker.conn.recv_bytes(protocol.MAX_MESSAGE_BYTES)
                self._handle(worker, protocol.decode(data))
        except protocol.ProtocolError as exc:
            self._kill(
                worker, f"worker died: it broke the message protocol ({exc})", WorkerDiedError
            )
            self._disconnected(worker)
        except (EOFError, OSError):
            self._disconnected(worker)

    def _read_request(self, worker: _Worker) -> None:
        """One record of the worker's request route: a quantum request, as if it had come
        over the connection; one for a task that is no longer running is dropped (its
        function returned without waiting for the answer)."""
        sock = worker.requests
        if sock is None or worker.requests_lent:
            return
        try:
            record = sock.recv(routes.MAX_RECORD + 1)
        except BlockingIOError:
            return
        except OSError:
            record = b""
        if not record:  # the worker has gone; its connection tells the rest
            self._stop_reading_requests(worker)
            return
        try:
            task_id, request_id, payload = routes.parse_request(record)
            if (task_id, request_id) in worker.taken:  # a lane's, reported by its executor
                worker.taken.discard((task_id, request_id))
                return
            if not worker.tasks or worker.tasks[0].spec.task_id != task_id:
                return
            request = protocol.Request(task_id, request_id, "quantum", payload, True)
            self._on_request(worker, request)
        except protocol.ProtocolError as exc:
            self._kill(
                worker, f"worker died: it broke the message protocol ({exc})", WorkerDiedError
            )

    def _stop_reading_requests(self, worker: _Worker) -> None:
        if worker.requests is not None and not worker.requests_lent:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(worker.requests)

    def lend_requests(self, worker: _Worker) -> int | None:
        """A duplicate of the worker's request route for an executor to read (a lane), or
        None. Only on this engine's loop thread, which then stops reading the route (it
        cannot be in the middle of a read), until ``requests_back``."""
        if (
            threading.get_ident() != self._loop_thread
            or worker.requests is None
            or worker.requests_lent
            or not worker.connected
        ):
            return None
        self._stop_reading_requests(worker)
        worker.requests_lent = True
        return os.dup(worker.requests.fileno())

    def requests_back(self, worker: _Worker) -> None:
        """The lane that read the worker's request route has ended: read it again."""
        with self._lock:
            self._requests_returned.append(worker)
        self._wake()

    def _read_requests_again(self, worker: _Worker) -> None:
        worker.requests_lent = False
        if worker.requests is None or not worker.connected:
            return
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._selector.register(worker.requests, selectors.EVENT_READ, ("requests", worker))
        self._read_request(worker)  # what came meanwhile (the selector would say so too)

    def took(
        self, worker: _Worker, task_id: int, request_id: int
    ) -> Callable[[bool, Any], None] | None:
        """A lane's executor took this request from the worker's request route: the reply
        that answers it, None if its task is no longer running (nobody waits for it)."""
        with self._lock:
            worker.taken.add((task_id, request_id))
            if not worker.tasks or worker.tasks[0].spec.task_id != task_id:
                return None
            task = worker.tasks[0]
        return self._request_reply(worker, task, request_id, True)

    def nudge(self, task_id: int) -> None:
        """Ask the running task's worker to end the lane it serves (``protocol.Yield``)."""
        with self._lock:
            task = self._tasks.get(task_id)
            worker = None if task is None else self._running_on(task)
        if worker is not None:
            with contextlib.suppress(OSError):
                worker.send(dumps(protocol.Yield()))

    def set_deadline(self, task_id: int, timeout_s: float | None) -> None:
        """The running task must end (or call this again) within ``timeout_s`` seconds
        from now; None lifts its limit. (A lane's executor serves request after request,
        each under the backend's time limit.)"""
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None:
                return
            task.deadline = None if timeout_s is None else time.monotonic() + timeout_s
            wake = task.deadline is not None and task.deadline < self._sleeping_until
        if wake:
            self._wake()

    def _handle(self, worker: _Worker, message: Any) -> None:
        if isinstance(message, protocol.TaskDone):
            self._on_done(worker, message)
        elif isinstance(message, protocol.Request):
            self._on_request(worker, message)
        elif isinstance(message, protocol.Notify):
            task = self._current(worker, message.task_id)
            if task.spec.on_message is not None:
                task.spec.on_message(TaskMessage(message.task_id, message.kind, message.payload))
        elif isinstance(message, protocol.Ready):
            with self._lock:
                worker.ready = True
                worker.idle_since = time.monotonic()
                self._check_ready()
                self._dispatch()
        elif isinstance(message, protocol.InitFailed):
            with self._lock:
                self._pool_failed(worker.pool, message.error)
        else:
            raise protocol.ProtocolError(f"{type(message).__name__} is not for a local worker")

    def _current(self, worker: _Worker, task_id: int) -> _Task:
        """The task running on ``worker``, which must be the one the message names: a worker
        never speaks for another worker's task (in a sandbox, another tenant's)."""
        if not worker.tasks or worker.tasks[0].spec.task_id != task_id:
            raise protocol.ProtocolError(f"task {task_id} is not running on this worker")
        return worker.tasks[0]

    def _check_ready(self) -> None:
        pool = self._pools.get(None)
        if pool is not None and sum(1 for w in pool.workers if w.ready) >= pool.base:
            self._ready_event.set()

    def _pool_failed(self, pool: Pool[_Worker], error: protocol.ErrorInfo | str) -> None:
        """Workers of ``pool`` cannot start: its queued tasks fail with the reason."""
        if isinstance(error, str):
            error = protocol.ErrorInfo("RuntimeError", error, "")
        reason = f"{error.type}: {error.message}"
        pool.failed = reason
        if pool.key is None:
            self._init_error = error
            self._ready_event.set()
        doomed = [t for t in self._queue if self._pool_key(t) == pool.key and not t.future.done()]
        self._queue = [t for t in self._queue if t not in doomed]
        heapq.heapify(self._queue)
        failure = self._init_failure(error) if pool.key is None else None
        for task in doomed:
            self._tasks.pop(task.spec.task_id, None)
            if task.future.set_running_or_notify_cancel():
                task.future.set_exception(
                    failure or WorkerDiedError(f"the sandbox of {pool.key!r} failed: {reason}")
                )

    def _init_failure(self, info: protocol.ErrorInfo) -> TaskFailedError:
        return TaskFailedError(
            f"workers of engine {self.name!r} failed to start: {info.type}: {info.message}",
            info.traceback,
        )

    def _on_done(self, worker: _Worker, message: protocol.TaskDone) -> None:
        with self._lock:
            task = self._current(worker, message.task_id)
            worker.tasks.popleft()
            self._tasks.pop(message.task_id, None)
            self.completed += 1
            if worker.tasks:  # the prefetched task inherits the cpu slot
                self._start(worker.tasks[0])
                if task.blocked:  # ... which the finished task had lent out
                    self._free_cpus -= worker.tasks[0].spec.cpus
            else:
                if not task.blocked:
                    self._free_cpus += task.spec.cpus
                worker.idle_since = time.monotonic()
            self._dispatch()
        if task.future.done():  # canceled while it sat in the worker's pipe
            return
        if message.error is not None:
            task.future.set_exception(remote_error(message.error, trusted=self.trusted))
            return
        value: Any = message.value
        if (
            self.trusted
            and not task.spec.raw_result
            and value is not None
            and value.format == "pickle"
        ):
            try:
                value = value.decode(trusted=True)
            except Exception as exc:
                task.future.set_exception(
                    TaskFailedError(f"the task's result could not be read: {exc}", None)
                )
                return
        task.future.set_result(value)

    def _on_request(self, worker: _Worker, message: protocol.Request) -> None:
        task = self._current(worker, message.task_id)
        request_id = message.request_id
        reply = self._request_reply(worker, task, request_id, message.blocking)
        handler = task.spec.on_message
        if handler is None:
            reply(False, RuntimeError(f"task {message.task_id} has no handler for requests"))
            return
        route = None
        if worker.route is not None:
            route = Route(
                worker.route.key,
                worker.route.sock,
                request_id,
                _Lanes(self, worker, task.spec.task_id),
            )
        try:
            handler(TaskMessage(message.task_id, message.kind, message.payload, reply, route))
        except Exception as exc:
            reply(False, exc)

    def _request_reply(
        self, worker: _Worker, task: _Task, request_id: int, blocking: bool
    ) -> Callable[[bool, Any], None]:
        """The reply to one of a task's requests; a blocking one lends the task's cpus
        until it is answered."""
        if blocking:
            with self._lock:
                task.blocked += 1
                if task.blocked == 1:
                    self._free_cpus += task.spec.cpus
                    self._dispatch()
        replied = threading.Event()

        def reply(ok: bool, value: Any) -> None:
            if replied.is_set():
                return
            replied.set()
            if blocking:
                with self._lock:
                    task.blocked -= 1
                    if task.blocked == 0 and worker.tasks and worker.tasks[0] is task:
                        self._free_cpus -= task.spec.cpus
            if value is routes.ANSWERED:
                return  # an executor answered the worker over its route
            try:
                data = dumps(protocol.Reply(request_id, ok, value))
            except Exception as exc:
                error = TypeError(f"reply not sendable: {exc}")
                data = dumps(protocol.Reply(request_id, False, error))
            worker.reply(data, functools.partial(self._unread, worker))

        return reply

    def _read_zygote(self, pool: Pool[_Worker]) -> None:
        try:
            event = pool.read()
        except ZygoteMessageError as exc:
            event = None
            reason = f"the zygote broke its protocol: {exc}"
        else:
            reason = "its zygote stopped"
        if event is None:
            self._zygote_gone(pool, reason)
            return
        with self._lock:
            if event.op == "ready":
                pool.on_ready(event.pid)
            elif event.op == "spawned":
                worker = self._workers.get(event.id)
                if worker is not None and worker.pool is pool:
                    worker.inner_pid = event.pid
                    worker.pid = pool.outer_pid(event.pid)
                    if worker.kill_reason is not None and worker.kill_reason != "retired":
                        self._kill(worker, worker.kill_reason, worker.kill_error)
            elif event.op == "exited":
                worker = next((w for w in pool.workers if w.inner_pid == event.pid), None)
                if worker is not None:
                    worker.exit_code = event.code
                    worker.exited = True
                    if worker.connected:  # a process it forked may still hold its socket
                        self._disconnected(worker)
                    else:
                        self._settle(worker)
            elif event.op == "failed":
                self._pool_failed(pool, event.error)
                self._zygote_gone(pool, event.error)

    def _zygote_gone(self, pool: Pool[_Worker], reason: str) -> None:
        """Without its zygote a pool's workers are dead (they die with it) or dying."""
        with contextlib.suppress(KeyError, ValueError):
            if pool.control is not None:
                self._selector.unregister(pool.control)
        pool.kill()
        pool.stop(wait=0)
        with self._lock:
            for worker in list(pool.workers):
                worker.exited = True
                if worker.connected:
                    self._kill(
                        worker, worker.kill_reason or f"worker died: {reason}", worker.kill_error
                    )
                self._settle(worker)
            pool.process = None
            pool.control = None
            pool.ready = False
            if pool.key is not None and not pool.workers:
                self._pools.pop(pool.key, None)
            elif pool.key is None and not self._stopping and pool.failed is None:
                self._replenish(pool)

    def _disconnected(self, worker: _Worker) -> None:
        """Its socket closed: the worker died or left. Its running task fails once we know why."""
        if not worker.connected:
            return
        worker.connected = False
        worker.disconnected_at = time.monotonic()
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(worker.conn.fileno())
        with self._lock:
            self._settle(worker)

    def _settle(self, worker: _Worker) -> None:
        """Fail or requeue a gone worker's tasks once the reason is known; forget the worker
        once its process has exited too. Lock held."""
        if worker.connected:
            return
        known = (
            worker.kill_reason is not None
            or worker.exited
            or (
                worker.disconnected_at is not None
                and time.monotonic() - worker.disconnected_at >= EXIT_REPORT_GRACE
            )
        )
        if worker.tasks and known:
            self._fail_tasks(worker)
        if worker.exited and not worker.tasks:
            self._forget(worker)

    def _fail_tasks(self, worker: _Worker) -> None:
        tasks = list(worker.tasks)
        worker.tasks.clear()
        running = tasks[0]
        for task in tasks[1:]:  # prefetched, never started: not their fault
            if self._stopping:
                task.future.cancel()
            else:
                heapq.heappush(self._queue, task)
        self._tasks.pop(running.spec.task_id, None)
        if not running.blocked:
            self._free_cpus += running.spec.cpus
        reason = worker.kill_reason
        if reason is None or reason == "retired":
            reason = describe_exit(worker.exit_code)
        if not running.future.done():
            self._failures.put((running.future, worker.kill_error(reason)))
        self._dispatch()

    def _fail_in_order(self) -> None:
        while (failure := self._failures.get()) is not None:
            future, error = failure
            with contextlib.suppress(InvalidStateError):  # canceled meanwhile
                future.set_exception(error)

    def _forget(self, worker: _Worker) -> None:
        if self._workers.pop(worker.id, None) is None:
            return
        with contextlib.suppress(ValueError):
            worker.pool.workers.remove(worker)
        with contextlib.suppress(OSError):
            worker.conn.close()
        if worker.route is not None:
            routes.close_quietly(worker.route.sock)
        self._stop_reading_requests(worker)
        routes.close_quietly(worker.requests)
        pool = worker.pool
        pool.idle_since = time.monotonic()
        if not self._stopping and pool.failed is None:
            self._replenish(pool)
        self._dispatch()
        self._changed.notify_all()

    def _replenish(self, pool: Pool[_Worker]) -> None:
        """Keep a pool's base workers, within ``max_workers``. Lock held."""
        missing = pool.base - len(pool.workers) - self._spawn_wanted.get(pool.key, 0)
        room = self._max_workers - self._total_workers()
        if missing > 0 and room > 0:
            self._spawn_wanted[pool.key] = self._spawn_wanted.get(pool.key, 0) + min(missing, room)
            self._wake()

    def _housekeeping(self) -> float | None:
        """Enforce time and memory limits, retire idle extras and zygotes, settle workers
        whose exit is overdue; return the next wake-up."""
        now = time.monotonic()
        timeout: float | None = None
        with self._lock:
            workers = list(self._workers.values())
            pools = list(self._pools.values())
        retiring: dict[str | None, int] = {}
        for worker in workers:
            if not worker.connected:
                if not worker.exited:
                    with self._lock:
                        self._settle(worker)
                    timeout = _earliest(timeout, EXIT_REPORT_GRACE / 4)
                continue
            if not worker.tasks:
                pool = worker.pool
                extras = len(pool.workers) - pool.base - retiring.get(pool.key, 0)
                if extras > 0 and worker.idle:
                    if now - worker.idle_since > self._idle_timeout:
                        retiring[pool.key] = retiring.get(pool.key, 0) + 1
                        self._retire(worker)
                    else:
                        timeout = _earliest(timeout, self._idle_timeout)
                continue
            task = worker.tasks[0]
            if task.deadline is not None:
                if now >= task.deadline:
                    self._kill(
                        worker,
                        f"time limit of {task.spec.timeout_s:g} s exceeded",
                        TimeLimitError,
                    )
                else:
                    timeout = _earliest(timeout, task.deadline - now)
            if task.spec.memory_mb is not None and worker.kill_reason is None:
                self._check_memory(worker, task)
                timeout = _earliest(timeout, self._memory_poll)
        for pool in pools:
            if pool.key is not None and not pool.workers and pool.process is not None:
                if now - pool.idle_since > ZYGOTE_IDLE_TIMEOUT:
                    self._stop_pool(pool)
                else:
                    timeout = _earliest(timeout, ZYGOTE_IDLE_TIMEOUT)
        return timeout

    def _stop_pool(self, pool: Pool[_Worker]) -> None:
        with contextlib.suppress(KeyError, ValueError):
            if pool.control is not None:
                self._selector.unregister(pool.control)
        pool.stop()
        with self._lock:
            self._pools.pop(pool.key, None)

    def _check_memory(self, worker: _Worker, task: _Task) -> None:
        if worker.pid is None:
            return
        try:
            rss = psutil.Process(worker.pid).memory_info().rss
        except psutil.Error:
            return
        if task.rss_baseline is None:
            task.rss_baseline = rss
            return
        used_mb = (rss - task.rss_baseline) / 2**20
        limit = task.spec.memory_mb
        assert limit is not None
        if used_mb > limit:
            self._kill(
                worker,
                f"memory limit of {limit:g} MB exceeded (the task grew to {used_mb:.0f} MB)",
                WorkerDiedError,
            )


def _close_unsent(task: _Task) -> None:
    """A task that ended without being sent closes the request route it was to lend."""
    fd, task.lane_fd = task.lane_fd, None
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


def _earliest(current: float | None, candidate: float) -> float:
    return candidate if current is None else min(current, candidate)


def _sys_path() -> list[str]:
    import sys

    return [p for p in sys.path if p]


class RemoteTraceback(Exception):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f"\n\nTraceback in the worker:\n{self.text}"


def remote_error(info: protocol.ErrorInfo, *, trusted: bool = True) -> BaseException:
    """The task's own exception when it survives the trip and we trust the worker,
    else a ``TaskFailedError`` that says what it was."""
    exc: BaseException | None = None
    if trusted and info.exception is not None:
        with contextlib.suppress(Exception):
            exc = loads(info.exception)
        if not isinstance(exc, BaseException):
            exc = None
    if exc is None:
        exc = TaskFailedError(f"{info.type}: {info.message}", info.traceback)
    exc.__cause__ = RemoteTraceback(info.traceback)
    # any exception may come back: the worker's account of it rides along as an attribute
    exc.remote_info = info  # type: ignore[attr-defined]
    return exc
