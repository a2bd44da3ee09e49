"""What engines on a distributed framework (Ray, Dask) share: the submitter's side.

The framework places and runs the work; this class keeps the promises of the
``Engine`` protocol on top of it:

* small plain tasks wait in a priority queue and leave in batches, as many
  batches in flight as twice the cluster's cpus, each batch sized so it lasts
  about ``batch_seconds`` (measured): throughput is not lost to per-call overhead,
  and a long task never holds many short ones behind it;
* tasks with limits or a channel (every serverless job) run alone, with a TCP
  channel back to this process; their time limits are enforced from here, their
  memory limits from the worker, which reports and is then stopped from here.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError
from pathlib import Path
from typing import Any

from qlambda.core.errors import ConfigurationError, TimeLimitError, WorkerDiedError
from qlambda.engine import protocol
from qlambda.engine.base import TaskFuture, TaskMessage, TaskSpec
from qlambda.engine.local.engine import remote_error
from qlambda.engine.remote.server import ChannelServer, default_host

RESOURCE_KEYS = ("cpus", "gpus", "memory", "timeout", "priority", "resources")


class RemoteTask:
    __slots__ = (
        "deadline",
        "future",
        "handle",
        "key",
        "kill",
        "log",
        "spec",
        "started",
        "where",
    )

    def __init__(self, spec: TaskSpec, seq: int) -> None:
        self.spec = spec
        self.future = TaskFuture(spec.task_id)
        self.key = (-spec.priority, seq)
        self.handle: Any = None  # the framework's reference to the running call
        self.started: float | None = None
        self.deadline: float | None = None
        self.kill: tuple[type[BaseException], str] | None = None
        self.log: Any = None
        self.where: Any = None  # where it runs, as its worker reported

    def __lt__(self, other: RemoteTask) -> bool:
        return self.key < other.key


def check_size(framework: str, cpus: int | None, address: str | None) -> None:
    """``cpus`` sizes a private instance only; a cluster at ``address`` brings its own."""
    if cpus is not None and address is not None:
        raise ConfigurationError(
            f"cpus sizes a private {framework} instance; with address={address!r} the "
            "cluster's own cpus are used: leave cpus unset"
        )
    if cpus is not None and (not isinstance(cpus, int) or cpus < 1):
        raise ConfigurationError(f"cpus must be a positive integer, got {cpus!r}")


class RemoteEngine:
    """Base of ``RayEngine`` and ``DaskEngine``; subclasses supply the five hooks."""

    RESOURCE_KEYS = RESOURCE_KEYS
    kind = "remote"

    def __init__(
        self,
        *,
        name: str,
        max_batch: int = 512,
        batch_seconds: float = 0.05,
        channel_host: str | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self.name = name
        self._max_batch = max_batch
        self._batch_seconds = batch_seconds
        self._channel_host = channel_host
        self._lock = threading.Condition(threading.RLock())
        self._queue: list[RemoteTask] = []
        self._tasks: dict[int, RemoteTask] = {}
        self._seq = itertools.count()
        self._in_flight = 0  # batches
        self._running_isolated = 0
        self._seconds_per_task: float | None = None  # moving average over batches
        self._cluster_cpus = 0
        self._server: ChannelServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.completed = 0

    # ------------------------------------------------------------- subclass hooks
    def _connect(self) -> tuple[int, str]:
        """Join or start the cluster; return (its cpus, the host remote tasks dial)."""
        raise NotImplementedError

    def _disconnect(self) -> None:
        raise NotImplementedError

    def _check_resources(self, spec: TaskSpec) -> None:
        """Reject requests the cluster can never satisfy, with the reason."""

    def _launch_isolated(self, task: RemoteTask, options: dict[str, Any]) -> Any:
        """Start ``run_isolated`` for the task; call ``_isolated_done`` when it ends."""
        raise NotImplementedError

    def _launch_batch(self, tasks: list[RemoteTask]) -> None:
        """Start ``run_batch`` for the tasks; call ``_batch_done`` when it ends."""
        raise NotImplementedError

    def _stop(self, task: RemoteTask) -> None:
        """Stop the task's call where it runs (kill its worker if need be)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ public API
    @property
    def cpus(self) -> int:
        """The cluster's cpus now (a cluster may grow or lose nodes)."""
        return self._cluster_cpus

    @property
    def channel(self) -> ChannelServer:
        assert self._server is not None, "start() the engine first"
        return self._server

    def start(self) -> None:
        if self._thread is not None:
            return
        self._cluster_cpus, host = self._connect()
        try:
            self._server = ChannelServer(self._on_message, default_host(host))
        except BaseException:
            self._disconnect()
            raise
        self._thread = threading.Thread(target=self._loop, name=f"qlambda-{self.name}", daemon=True)
        self._thread.start()

    def wait_ready(self, timeout: float | None = None) -> bool:
        return self._thread is not None

    def submit(self, spec: TaskSpec) -> TaskFuture:
        if self._stopping:
            raise RuntimeError(f"engine {self.name!r} is shut down")
        if self._thread is None:
            raise RuntimeError(f"engine {self.name!r} is not started")
        if not isinstance(spec.cpus, int) or spec.cpus < 1:
            raise ValueError(f"a task asks for a positive whole number of cpus, not {spec.cpus!r}")
        self._check_resources(spec)
        task = RemoteTask(spec, next(self._seq))
        with self._lock:
            self._tasks[spec.task_id] = task
            if spec.isolated:
                self._running_isolated += 1
            else:
                heapq.heappush(self._queue, task)
                self._lock.notify_all()
        if spec.isolated:
            self._start_isolated(task)
        return task.future

    def cancel(self, task_id: int, reason: str = "canceled") -> bool:
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None:
                return False
            if task.future.cancel():  # still in our queue: the pump skips it
                self._tasks.pop(task_id, None)
                return True
            if not task.spec.isolated or task.future.done():
                return False  # a batched task already left: like Future.cancel, too late
            task.kill = (CancelledError, reason)
        self._stop_and_fail(task)
        return True

    def shutdown(self, wait: bool = True) -> None:
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            tasks = list(self._tasks.values())
            self._queue.clear()
            self._lock.notify_all()
        for task in tasks:
            if task.future.cancel():
                continue
            if task.spec.isolated and not task.future.done():
                task.kill = (CancelledError, "the engine shut down")
                with contextlib.suppress(Exception):
                    self._stop(task)
            if not task.future.done():
                with contextlib.suppress(Exception):
                    task.future.set_exception(CancelledError())
        if self._thread is not None and threading.current_thread() is not self._thread:
            self._thread.join(2.0)
        if self._server is not None:
            self._server.close()
        for task in tasks:
            if task.log is not None:
                with contextlib.suppress(OSError):
                    task.log.close()
        if self._thread is not None:
            self._disconnect()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            queued = sum(1 for t in self._queue if not t.future.done())
            return {
                "engine": self.kind,
                "cpus": self._cluster_cpus,
                "queued": queued,
                "running": len(self._tasks) - queued,
                "batches_in_flight": self._in_flight,
                "completed": self.completed,
                "seconds_per_small_task": self._seconds_per_task,
            }

    # --------------------------------------------------------------- isolated tasks
    def _start_isolated(self, task: RemoteTask) -> None:
        spec = task.spec
        options = {
            "workdir": spec.workdir,
            "log": spec.log_path is not None,
            "memory_mb": spec.memory_mb,
            "cpus": spec.cpus,
        }
        if not task.future.set_running_or_notify_cancel():
            self._forget(task)
            return
        try:
            task.handle = self._launch_isolated(task, options)
        except BaseException as exc:
            self._forget(task)
            task.future.set_exception(exc)

    def _isolated_done(self, task: RemoteTask, outcome: tuple[bool, Any] | BaseException) -> None:
        """``outcome``: the task's ``(ok, value_or_error_info)``, or the framework's error."""
        self._forget(task)
        if task.log is not None:
            with contextlib.suppress(OSError):
                task.log.close()
        if task.future.done():
            return
        if task.kill is not None:
            error, reason = task.kill
            task.future.set_exception(error(reason))
        elif isinstance(outcome, BaseException):
            task.future.set_exception(outcome)
        elif outcome[0]:
            task.future.set_result(outcome[1])
        else:
            task.future.set_exception(remote_error(outcome[1]))

    def _forget(self, task: RemoteTask) -> None:
        with self._lock:
            if self._tasks.pop(task.spec.task_id, None) is not None:
                self.completed += 1
                if task.spec.isolated:
                    self._running_isolated -= 1
            self._lock.notify_all()

    def _stop_and_fail(self, task: RemoteTask) -> None:
        """Stop a running isolated task for ``task.kill``; fail its future now."""
        assert task.kill is not None
        with contextlib.suppress(Exception):
            self._stop(task)
        error, reason = task.kill
        if not task.future.done():
            task.future.set_exception(error(reason))

    # ---------------------------------------------------------------- the channel
    def _on_message(self, task_id: int, message: Any, send: Callable[[Any], None]) -> None:
        task = self._tasks.get(task_id)
        if task is None:
            return
        if isinstance(message, protocol.Hello):  # the task starts (again, after a retry)
            with self._lock:
                task.where = message.node
                task.started = time.monotonic()
                if task.spec.timeout_s is not None:
                    task.deadline = task.started + task.spec.timeout_s
                    self._lock.notify_all()
        elif isinstance(message, protocol.Request):
            self._on_request(task, message.request_id, message.kind, message.payload, send)
        elif isinstance(message, protocol.Output):
            self._append_log(task, message.chunk)
        elif isinstance(message, protocol.LimitExceeded):
            task.kill = (WorkerDiedError, message.reason)
            self._stop_and_fail(task)
        elif isinstance(message, protocol.Notify) and task.spec.on_message is not None:
            task.spec.on_message(TaskMessage(task_id, message.kind, message.payload))

    def _on_request(
        self,
        task: RemoteTask,
        request_id: int,
        kind: str,
        payload: Any,
        send: Callable[[Any], None],
    ) -> None:
        replied = threading.Event()

        def reply(ok: bool, value: Any) -> None:
            if replied.is_set():
                return
            replied.set()
            try:
                send(protocol.Reply(request_id, ok, value))
            except Exception as exc:  # the value does not pickle
                send(protocol.Reply(request_id, False, TypeError(f"reply not sendable: {exc}")))

        handler = task.spec.on_message
        if handler is None:
            reply(False, RuntimeError(f"task {task.spec.task_id} has no handler for {kind!r}"))
            return
        try:
            handler(TaskMessage(task.spec.task_id, kind, payload, reply))
        except Exception as exc:
            reply(False, exc)

    def _append_log(self, task: RemoteTask, chunk: bytes) -> None:
        if task.spec.log_path is None:
            return
        if task.log is None:
            path = Path(task.spec.log_path)
            path.parent.mkdir(parents=True, exist_ok=True)  # the node may not share our disk
            task.log = open(path, "ab", buffering=0)  # noqa: SIM115
        task.log.write(chunk)

    # ------------------------------------------------------------ batches, limits
    def _loop(self) -> None:
        """Send batches while there is room; stop isolated tasks past their time."""
        while True:
            overdue: list[RemoteTask] = []
            batches: list[list[RemoteTask]] = []
            with self._lock:
                if self._stopping:
                    return
                now = time.monotonic()
                wake: float | None = None
                for task in self._tasks.values():
                    if task.deadline is None or task.future.done() or task.kill is not None:
                        continue
                    if now >= task.deadline:
                        task.kill = (
                            TimeLimitError,
                            f"time limit of {task.spec.timeout_s:g} s exceeded",
                        )
                        overdue.append(task)
                    else:
                        left = task.deadline - now
                        wake = left if wake is None else min(wake, left)
                while self._queue and self._in_flight < self._max_in_flight():
                    batch = self._take_batch()
                    if batch:
                        self._in_flight += 1
                        batches.append(batch)
                if not overdue and not batches:
                    self._lock.wait(wake)
                    continue
            for task in overdue:
                self._stop_and_fail(task)
            for batch in batches:
                try:
                    self._launch_batch(batch)
                except BaseException as exc:
                    self._batch_done(batch, exc)

    def _max_in_flight(self) -> int:
        return max(2, 2 * self.cpus)

    def _take_batch(self) -> list[RemoteTask]:
        """Pop the next batch: the queue spread over the free slots, capped by duration."""
        free = max(1, self._max_in_flight() - self._in_flight)
        size = math.ceil(len(self._queue) / free)
        if self._seconds_per_task:
            size = min(size, max(1, int(self._batch_seconds / self._seconds_per_task)))
        size = max(1, min(size, self._max_batch))
        batch: list[RemoteTask] = []
        while self._queue and len(batch) < size:
            task = heapq.heappop(self._queue)
            if task.future.set_running_or_notify_cancel():
                batch.append(task)
            else:
                self._tasks.pop(task.spec.task_id, None)
        return batch

    def _batch_done(
        self,
        tasks: list[RemoteTask],
        outcome: list[tuple[bool, Any]] | BaseException,
        seconds: float | None = None,
    ) -> None:
        """``outcome``: one ``(ok, value_or_error_info)`` per task, or the framework's error."""
        with self._lock:
            self._in_flight -= 1
            for task in tasks:
                self._tasks.pop(task.spec.task_id, None)
            self.completed += len(tasks)
            if seconds is not None and tasks:
                sample = seconds / len(tasks)
                previous = self._seconds_per_task
                self._seconds_per_task = (
                    sample if previous is None else 0.7 * previous + 0.3 * sample
                )
            self._lock.notify_all()
        for index, task in enumerate(tasks):
            if task.future.done():
                continue
            if isinstance(outcome, BaseException):
                task.future.set_exception(outcome)
            elif outcome[index][0]:
                task.future.set_result(outcome[index][1])
            else:
                task.future.set_exception(remote_error(outcome[index][1]))
