"""A warm pool of worker processes on this machine.

Workers fork from a forkserver that has already imported the quantum stack, so
a new or replaced worker is warm within milliseconds and a job never pays an
interpreter start. One thread per engine watches the workers' pipes and
sentinels, enforces time and memory limits, and replaces workers that die.
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import itertools
import multiprocessing
import multiprocessing.forkserver
import os
import selectors
import signal
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError
from typing import Any

import cloudpickle
import psutil

from qlambda.core.errors import TaskFailedError, TimeLimitError, WorkerDiedError
from qlambda.engine.base import TaskFuture, TaskMessage, TaskSpec
from qlambda.engine.local.userfault import describe_exit
from qlambda.engine.local.wire import dumps, loads
from qlambda.engine.local.worker import THREAD_VARIABLES, worker_main

# Imported once by the forkserver, so every worker starts with them loaded.
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
# What user code in a worker must never see: where the store is, the caller's credentials.
HIDDEN_VARIABLES = ("QLAMBDA_DATABASE_URL", "QLAMBDA_TOKEN")
_forkserver_lock = threading.Lock()


def _ensure_forkserver(preload: Sequence[str]) -> multiprocessing.context.BaseContext:
    """Start the process-wide forkserver (every worker forks from it, and inherits its
    environment) with single-threaded BLAS, the preload, and no secrets."""
    context = multiprocessing.get_context("forkserver")
    with _forkserver_lock:
        if multiprocessing.forkserver._forkserver._forkserver_pid is None:
            context.set_forkserver_preload(list(preload))
            saved = {v: os.environ.get(v) for v in (*THREAD_VARIABLES, *HIDDEN_VARIABLES)}
            os.environ.update(dict.fromkeys(THREAD_VARIABLES, "1"))
            for variable in HIDDEN_VARIABLES:
                os.environ.pop(variable, None)
            try:
                multiprocessing.forkserver.ensure_running()
            finally:
                for variable, value in saved.items():
                    if value is None:
                        os.environ.pop(variable, None)
                    else:
                        os.environ[variable] = value
    return context


class _Task:
    __slots__ = (
        "arguments",
        "blocked",
        "deadline",
        "future",
        "key",
        "rss_baseline",
        "seq",
        "spec",
        "started",
    )

    def __init__(self, spec: TaskSpec, future: TaskFuture, seq: int, arguments: bytes) -> None:
        self.spec = spec
        self.future = future
        self.arguments = arguments  # (args, kwargs), pickled once at submission
        self.seq = seq
        self.key: tuple[float, int] = (-spec.priority, seq)
        self.blocked = 0  # outstanding blocking requests
        self.started = 0.0
        self.deadline: float | None = None
        self.rss_baseline: int | None = None

    def __lt__(self, other: _Task) -> bool:
        return self.key < other.key


class _Worker:
    def __init__(self, process: multiprocessing.process.BaseProcess, conn: Any, extra: bool):
        self.process = process
        self.conn = conn
        self.pid: int = process.pid  # type: ignore[assignment]
        self.extra = extra
        self.ready = False
        self.exited = False
        self.tasks: deque[_Task] = deque()
        self.send_lock = threading.Lock()
        self.kill_reason: str | None = None
        self.kill_error: type[BaseException] = WorkerDiedError
        self.function_keys: set[str] = set()
        self.idle_since = time.monotonic()

    def send(self, data: bytes) -> None:
        with self.send_lock:
            self.conn.send_bytes(data)


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


class LocalEngine:
    """Runs tasks on ``cpus`` warm worker processes of this machine.

    While tasks wait on blocking requests (a QPU, a fan-out) their cpus are lent
    out and extra workers start, up to ``max_workers``; extras retire after
    ``idle_timeout`` seconds without work.
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
        self._lock = threading.RLock()
        self._queue: list[_Task] = []
        self._tasks: dict[int, _Task] = {}
        self._workers: list[_Worker] = []
        self._starting = 0
        self._spawn_wanted = 0
        self._free_cpus = self._cpus
        self._seq = itertools.count()
        self._functions = _FunctionBlobs()
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, ("wake", None))
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._init_error: dict[str, Any] | None = None
        self._ready_event = threading.Event()
        self.completed = 0
        self._context: multiprocessing.context.BaseContext | None = None

    # ----------------------------------------------------------------- public API
    @property
    def cpus(self) -> int:
        return self._cpus

    def start(self) -> None:
        if self._thread is not None:
            return
        self._context = _ensure_forkserver(self._preload)
        for _ in range(self._cpus):
            self._spawn(extra=False)
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
        future = TaskFuture(spec.task_id)
        task = _Task(spec, future, next(self._seq), dumps((spec.args, spec.kwargs)))
        with self._lock:
            if self._init_error is not None:
                future.set_exception(self._init_failure())
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
            worker = next((w for w in self._workers if w.tasks and w.tasks[0] is task), None)
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
            workers = list(self._workers)
        for task in queued:
            task.future.cancel() or task.future.set_exception(CancelledError())
        for worker in workers:
            if worker.tasks:  # what runs is canceled anyway: do not wait for it
                self._kill(worker, "the engine shut down", CancelledError)
            with contextlib.suppress(OSError):
                worker.send(dumps(("stop",)))
        self._wake()
        deadline = time.monotonic() + (5.0 if wait else 0.5)
        for worker in workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.pid, signal.SIGKILL)
                worker.process.join(1.0)
        if self._thread is not None and threading.current_thread() is not self._thread:
            self._thread.join(10.0 if wait else 1.0)
        for worker in workers:
            with self._lock:
                running = list(worker.tasks)
                worker.tasks.clear()
            for task in running:
                if not task.future.done():
                    task.future.set_exception(CancelledError())

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "cpus": self._cpus,
                "workers": len(self._workers),
                "idle_workers": sum(1 for w in self._workers if w.ready and not w.tasks),
                "queued": sum(1 for t in self._queue if not t.future.done()),
                "running": sum(1 for w in self._workers if w.tasks),
                "blocked": sum(1 for w in self._workers if w.tasks and w.tasks[0].blocked),
                "free_cpus": self._free_cpus,
                "completed": self.completed,
            }

    def worker_pids(self) -> list[int]:
        with self._lock:
            return [w.pid for w in self._workers]

    # ------------------------------------------------------------- dispatching
    def _dispatch(self) -> None:
        """Hand queued tasks to workers. Called with the lock held."""
        while self._queue:
            task = self._queue[0]
            if task.future.done():
                heapq.heappop(self._queue)
                self._tasks.pop(task.spec.task_id, None)
                continue
            worker = self._idle_worker() if self._free_cpus >= task.spec.cpus else None
            if worker is not None:
                heapq.heappop(self._queue)
                if not self._start(task):
                    continue
                self._free_cpus -= task.spec.cpus
            else:
                # Small plain tasks may wait in a busy worker's pipe (no round trip lost).
                if self._prefetch and self._prefetchable(task):
                    worker = self._prefetch_worker()
                if worker is None:
                    self._want_more_workers(task)
                    return
                heapq.heappop(self._queue)
            worker.tasks.append(task)
            with contextlib.suppress(OSError):  # a dead worker's exit handler sees to its tasks
                worker.send(self._encode(task, worker))

    @staticmethod
    def _prefetchable(task: _Task) -> bool:
        return not task.spec.isolated and len(task.arguments) <= PREFETCH_MAX_BYTES

    def _idle_worker(self) -> _Worker | None:
        for worker in self._workers:
            if worker.ready and not worker.tasks and worker.kill_reason is None:
                return worker
        return None

    def _prefetch_worker(self) -> _Worker | None:
        for worker in self._workers:
            if (
                worker.ready
                and 0 < len(worker.tasks) <= self._prefetch
                and worker.kill_reason is None
                and not any(t.spec.isolated or t.blocked for t in worker.tasks)
            ):
                return worker
        return None

    def _want_more_workers(self, task: _Task) -> None:
        """Lent cpus with no worker to use them: start an extra worker."""
        if (
            self._free_cpus >= task.spec.cpus
            and self._starting + self._spawn_wanted == 0
            and len(self._workers) + self._starting < self._max_workers
            and not self._stopping
        ):
            self._spawn_wanted += 1
            self._wake()

    def _start(self, task: _Task) -> bool:
        """Mark the task running; False if it was canceled meanwhile."""
        task.started = time.monotonic()
        if task.spec.timeout_s is not None:
            task.deadline = task.started + task.spec.timeout_s
        if task.spec.timeout_s is not None or task.spec.memory_mb is not None:
            self._wake()  # the loop may be asleep with no limit to watch
        return task.future.set_running_or_notify_cancel()

    def _encode(self, task: _Task, worker: _Worker) -> bytes:
        spec = task.spec
        key, blob = self._functions.get(spec.fn)
        send_blob = blob if key is None or key not in worker.function_keys else None
        if key is not None:
            worker.function_keys.add(key)
        options = None
        if spec.isolated:
            options = {"workdir": spec.workdir, "log_path": spec.log_path, "cpus": spec.cpus}
        return dumps(("run", spec.task_id, (key, send_blob), task.arguments, options))

    # ----------------------------------------------------------------- workers
    def _spawn(self, extra: bool) -> None:
        assert self._context is not None
        parent_conn, child_conn = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=worker_main,
            args=(child_conn, os.getpid(), self._preload, self._initializer, self._initargs),
            daemon=True,
            name=f"qlambda-{self.name}-worker",
        )
        process.start()
        child_conn.close()
        worker = _Worker(process, parent_conn, extra)
        with self._lock:
            self._workers.append(worker)
            self._starting += 1
        self._selector.register(parent_conn.fileno(), selectors.EVENT_READ, ("conn", worker))
        self._selector.register(process.sentinel, selectors.EVENT_READ, ("exit", worker))

    def _kill(self, worker: _Worker, reason: str, error: type[BaseException]) -> None:
        if worker.kill_reason is None:
            worker.kill_reason = reason
            worker.kill_error = error
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.pid, signal.SIGKILL)

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
        try:
            self._serve()
        finally:
            self._release_descriptors()

    def _serve(self) -> None:
        while True:
            spawn = 0
            with self._lock:
                if self._stopping and not self._workers:
                    return
                spawn, self._spawn_wanted = self._spawn_wanted, 0
            for _ in range(spawn):
                if not self._stopping:
                    self._spawn(extra=True)
            timeout = self._housekeeping()
            for key, _ in self._selector.select(timeout):
                kind, worker = key.data
                if kind == "wake":
                    with contextlib.suppress(BlockingIOError):
                        os.read(self._wake_r, 4096)
                elif kind == "conn":
                    self._read(worker)
                else:
                    self._on_exit(worker)
            if self._stopping:
                with self._lock:
                    if all(w.exited for w in self._workers):
                        return

    def _read(self, worker: _Worker) -> None:
        try:
            while worker.conn.poll():
                self._handle(worker, loads(worker.conn.recv_bytes()))
        except (EOFError, OSError):
            self._on_exit(worker)

    def _handle(self, worker: _Worker, message: tuple) -> None:
        kind = message[0]
        if kind == "done":
            self._on_done(worker, message[1], message[2], message[3])
        elif kind == "request":
            self._on_request(worker, *message[1:])
        elif kind == "notify":
            _, task_id, what, payload = message
            task = self._tasks.get(task_id)
            if task is not None and task.spec.on_message is not None:
                task.spec.on_message(TaskMessage(task_id, what, payload))
        elif kind == "ready":
            with self._lock:
                worker.ready = True
                worker.idle_since = time.monotonic()
                self._starting -= 1
                if self._starting == 0 and len(self._workers) >= self._cpus:
                    self._ready_event.set()
                self._dispatch()
        elif kind == "failed":
            with self._lock:
                self._init_error = message[1]
                doomed = [t for t in self._queue if not t.future.done()]
                self._queue.clear()
            error = self._init_failure()
            for task in doomed:
                if task.future.set_running_or_notify_cancel():
                    task.future.set_exception(error)
            self._ready_event.set()

    def _init_failure(self) -> TaskFailedError:
        info = self._init_error or {}
        return TaskFailedError(
            f"workers of engine {self.name!r} failed to start: "
            f"{info.get('type')}: {info.get('message')}",
            info.get("traceback"),
        )

    def _on_done(self, worker: _Worker, task_id: int, ok: bool, value: Any) -> None:
        with self._lock:
            if not worker.tasks or worker.tasks[0].spec.task_id != task_id:
                return
            task = worker.tasks.popleft()
            self._tasks.pop(task_id, None)
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
        if ok:
            task.future.set_result(value)
        else:
            task.future.set_exception(remote_error(value))

    def _on_request(
        self,
        worker: _Worker,
        task_id: int,
        request_id: int,
        kind: str,
        payload: Any,
        blocking: bool,
    ) -> None:
        task = self._tasks.get(task_id)
        if task is None:
            return
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
            try:
                data = dumps(("reply", request_id, ok, value))
            except Exception as exc:
                data = dumps(("reply", request_id, False, TypeError(f"reply not sendable: {exc}")))
            with contextlib.suppress(OSError):
                worker.send(data)

        handler = task.spec.on_message
        if handler is None:
            reply(False, RuntimeError(f"task {task_id} has no handler for {kind!r} requests"))
            return
        try:
            handler(TaskMessage(task_id, kind, payload, reply))
        except Exception as exc:
            reply(False, exc)

    def _on_exit(self, worker: _Worker) -> None:
        if worker.exited:
            return
        worker.exited = True
        for fileobj in (worker.conn.fileno(), worker.process.sentinel):
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(fileobj)
        worker.process.join(1.0)
        reason = worker.kill_reason or describe_exit(worker.process.exitcode)
        with self._lock:
            self._workers.remove(worker)
            if not worker.ready:
                self._starting -= 1
            tasks = list(worker.tasks)
            worker.tasks.clear()
            running = tasks[0] if tasks else None
            for task in tasks[1:]:  # prefetched, never started: not their fault
                if self._stopping:
                    task.future.cancel()
                else:
                    heapq.heappush(self._queue, task)
            if running is not None:
                self._tasks.pop(running.spec.task_id, None)
                if not running.blocked:
                    self._free_cpus += running.spec.cpus
            if not self._stopping and self._init_error is None:
                missing = self._cpus - sum(1 for w in self._workers if not w.extra)
                if missing > 0:
                    self._spawn_wanted += missing
                    self._wake()
            self._dispatch()
        with contextlib.suppress(OSError):
            worker.conn.close()
        if running is not None and not running.future.done():
            running.future.set_exception(worker.kill_error(reason))

    def _housekeeping(self) -> float | None:
        """Enforce time and memory limits, retire idle extras; return the next wake-up."""
        now = time.monotonic()
        timeout: float | None = None
        with self._lock:
            workers = list(self._workers)
        for worker in workers:
            if not worker.tasks:
                if (
                    worker.extra
                    and worker.ready
                    and now - worker.idle_since > self._idle_timeout
                    and worker.kill_reason is None
                ):
                    worker.kill_reason = "retired"
                    with contextlib.suppress(OSError):
                        worker.send(dumps(("stop",)))
                elif worker.extra:
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
        return timeout

    def _check_memory(self, worker: _Worker, task: _Task) -> None:
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


def _earliest(current: float | None, candidate: float) -> float:
    return candidate if current is None else min(current, candidate)


class RemoteTraceback(Exception):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f"\n\nTraceback in the worker:\n{self.text}"


def remote_error(info: dict[str, Any]) -> BaseException:
    """The task's own exception when it survives the pipe, else a TaskFailedError."""
    exc: BaseException | None = None
    if info.get("exception") is not None:
        with contextlib.suppress(Exception):
            exc = loads(info["exception"])
    if exc is None:
        exc = TaskFailedError(f"{info['type']}: {info['message']}", info["traceback"])
    exc.__cause__ = RemoteTraceback(info["traceback"])
    exc.remote_info = info  # type: ignore[attr-defined]
    return exc
