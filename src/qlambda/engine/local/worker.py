"""The worker process: forked warm from the zygote, then runs task after task.

Per task it can change directory, send stdout and stderr (file descriptors 1 and
2, so C extensions are captured too) to the task's log file, and limit BLAS/OpenMP
threads; what a task changes in the process (its directory, ``sys.path``, the
environment) is put back before the next one. Code in a task reaches its
submitter through ``current_channel()``. Everything the worker sends is a
message of ``qlambda.engine.protocol``.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import os
import select
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from multiprocessing.connection import Connection
from typing import Any

from qlambda.engine import protocol
from qlambda.engine.channel import set_current_channel
from qlambda.engine.codepaths import is_library_file
from qlambda.engine.local import routes
from qlambda.engine.local.userfault import error_info
from qlambda.engine.local.wire import dumps, loads

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class _ReplyFuture(Future[Any]):
    """Waiting on it reads the connection, since this process has no reader thread."""

    def __init__(self, channel: WorkerChannel) -> None:
        super().__init__()
        self._channel = channel

    def result(self, timeout: float | None = None) -> Any:
        self._channel.pump_until(self, timeout)
        return super().result(timeout=0 if self.done() else timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        self._channel.pump_until(self, timeout)
        return super().exception(timeout=0 if self.done() else timeout)


class WorkerChannel:
    """The task's line to its submitter: protocol messages out, the engine's commands in."""

    def __init__(
        self,
        conn: Connection,
        route: socket.socket | None = None,
        requests: socket.socket | None = None,
    ) -> None:
        self.conn = conn
        self.route = route  # answers an executor sends straight here (``routes``)
        self.requests = requests  # where quantum requests go (``routes``)
        self.answered = 0  # how many the running task had that way
        self.task_id = 0
        self.inbox: deque[Any] = deque()  # tasks that arrived while a task waited
        self._request_ids = itertools.count(1)
        self._waiting: dict[int, Future[Any]] = {}
        self._send_lock = threading.Lock()
        self._pump_lock = threading.Lock()
        # one poll object for good: Connection.poll builds a selector per call
        self._poller = select.poll()
        self._poller.register(conn.fileno(), select.POLLIN)
        if route is not None:
            self._poller.register(route.fileno(), select.POLLIN)

    def send(self, message: Any) -> None:
        data = protocol.encode(message)
        with self._send_lock:
            self.conn.send_bytes(data)

    def request(self, kind: str, payload: Any, *, blocking: bool = True) -> Future[Any]:
        future = _ReplyFuture(self)
        request_id = next(self._request_ids)
        self._waiting[request_id] = future
        if (
            kind == "quantum"
            and self.requests is not None
            and routes.send_request(self.requests, self.task_id, request_id, payload)
        ):
            return future
        self.send(protocol.Request(self.task_id, request_id, kind, payload, blocking))
        return future

    def notify(self, kind: str, payload: Any) -> None:
        self.send(protocol.Notify(self.task_id, kind, payload))

    def receive(self) -> Any:
        return loads(self.conn.recv_bytes())

    def pump_until(self, future: Future[Any], timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not future.done():
            if deadline is not None and time.monotonic() >= deadline:
                return
            if not self._pump_lock.acquire(timeout=0.05):
                continue  # another thread is reading; it will hand us our reply
            try:
                if future.done():
                    return
                wait = 0.05
                if deadline is not None:
                    wait = max(0.0, min(wait, deadline - time.monotonic()))
                for fd, _ in self._poller.poll(wait * 1000):
                    if self.route is not None and fd == self.route.fileno():
                        self._read_route()
                    else:
                        self.handle(self.receive())
            finally:
                self._pump_lock.release()

    def _read_route(self) -> None:
        assert self.route is not None
        answer = routes.read_answer(self.route)
        if answer is None:  # the engine has gone; its connection says so too
            self._poller.unregister(self.route.fileno())
            self.route.close()
            self.route = None
            return
        request_id, data = answer
        future = self._waiting.pop(request_id, None)
        if future is not None:
            self.answered += 1
            future.set_result(protocol.Encoded("data", data))

    def handle(self, message: Any) -> None:
        if isinstance(message, protocol.Reply):
            future = self._waiting.pop(message.request_id, None)
            if future is None:
                return
            if message.ok:
                future.set_result(message.value)
            else:
                future.set_exception(message.value)
        else:
            self.inbox.append(message)


@contextlib.contextmanager
def isolation(options: dict[str, Any]) -> Iterator[None]:
    """Own directory, captured output and thread limits for one task; what the task
    changes in the process (directory, ``sys.path``, environment) does not outlive it."""
    previous_dir = os.getcwd()
    saved_path = list(sys.path)
    saved_environ = dict(os.environ)
    saved_modules = set(sys.modules)
    saved_fds: tuple[int, int] | None = None
    limits = None
    workdir = options.get("workdir")
    log_path = options.get("log_path")
    cpus = options.get("cpus", 1)
    try:
        if workdir:
            os.makedirs(workdir, exist_ok=True)
            os.chdir(workdir)
        if log_path:
            os.makedirs(os.path.dirname(log_path), exist_ok=True)
            sys.stdout.flush()
            sys.stderr.flush()
            saved_fds = (os.dup(1), os.dup(2))
            fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.close(fd)
            # the streams are TextIOWrappers here; typeshed declares them as plain TextIO
            sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
            sys.stderr.reconfigure(line_buffering=True)  # type: ignore[union-attr]
        if cpus != 1:
            from threadpoolctl import threadpool_limits

            limits = threadpool_limits(cpus)
        yield
    finally:
        if limits is not None:
            limits.restore_original_limits()
        if saved_fds is not None:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os.dup2(saved_fds[0], 1)
            os.dup2(saved_fds[1], 2)
            os.close(saved_fds[0])
            os.close(saved_fds[1])
        sys.path[:] = saved_path
        _forget_user_modules(saved_modules)
        if os.environ != saved_environ:
            os.environ.clear()
            os.environ.update(saved_environ)
        with contextlib.suppress(OSError):
            os.chdir(previous_dir)


def _forget_user_modules(before: set[str]) -> None:
    """Modules of the user's own code that a task imported go with it (their state
    would leak into the next task); libraries it imported stay, warm."""
    for name in set(sys.modules) - before:
        module = sys.modules.get(name)
        file = getattr(module, "__file__", None)
        if not file or not is_library_file(file):
            sys.modules.pop(name, None)


def worker_main(fd: int) -> None:
    """Run in a process forked by the zygote; ``fd`` is its socket to the engine."""
    conn = Connection(fd)
    for variable in THREAD_VARIABLES:
        os.environ[variable] = "1"
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C belongs to the user's process
    try:
        start: protocol.WorkerStart = loads(conn.recv_bytes())
        route = requests = None
        if start.reply_route:
            route = socket.socket(fileno=routes.receive_fd(fd))
        if start.request_route:
            requests = socket.socket(fileno=routes.receive_fd(fd))
        sys.path[:] = start.sys_path
        if start.initializer is not None:
            start.initializer(*start.initargs)
    except (EOFError, OSError):
        return
    except BaseException as exc:
        with contextlib.suppress(OSError):
            conn.send_bytes(protocol.encode(protocol.InitFailed(error_info(exc))))
        return
    # What is built so far lives as long as the worker: keep the collector's full passes
    # off it. They walk every tracked object; in a QPU executor holding FakeTorino (Aer
    # allocates heavily per call) that was a 450 ms pause every four or five tasks.
    gc.collect()
    gc.freeze()
    channel = WorkerChannel(conn, route, requests)
    set_current_channel(channel)
    functions: dict[str, Callable[..., Any]] = {}
    channel.send(protocol.Ready())
    while True:
        try:
            message = channel.inbox.popleft() if channel.inbox else channel.receive()
        except (EOFError, OSError):
            return
        if isinstance(message, protocol.RunTask):
            _run(channel, functions, message)
        elif isinstance(message, protocol.Stop):
            return
        # a reply that arrives after its task ended has no one to read it


def _run(
    channel: WorkerChannel, functions: dict[str, Callable[..., Any]], task: protocol.RunTask
) -> None:
    channel.task_id = task.task_id
    channel.answered = 0
    try:
        if task.route is not None:  # an executor: answers to a worker go this way too
            routes.keep(task.route, routes.receive_fd(channel.conn.fileno()))
        if task.lane:  # ... and the worker's requests come this way, for this task
            routes.lend(routes.receive_fd(channel.conn.fileno()))
        args, kwargs = loads(task.arguments)
        fn = functions.get(task.function_key) if task.function_key is not None else None
        if fn is None:
            if task.function is None:
                raise RuntimeError("the engine sent no function for this task")
            fn = loads(task.function)
            if task.function_key is not None:
                functions[task.function_key] = fn
        if task.options:
            with isolation(task.options):
                value = fn(*args, **kwargs)
        else:
            value = fn(*args, **kwargs)
        message = protocol.TaskDone(task.task_id, encode_value(value), None)
    except BaseException as exc:
        if isinstance(exc, SystemExit):
            exc = RuntimeError(f"the function called sys.exit({exc.code!r})")
        message = protocol.TaskDone(task.task_id, None, error_info(exc))
    routes.give_back()  # before the task's end: the engine may then read the route again
    if channel.answered:  # before its end: those answers' reports are then waited for
        channel.notify("answered", channel.answered)
        channel.answered = 0
    channel.send(message)


def encode_value(value: Any) -> protocol.Encoded:
    """A task's return value as it crosses: an ``Encoded`` it made itself stays as it is."""
    if isinstance(value, protocol.Encoded):
        return value
    try:
        return protocol.Encoded("pickle", dumps(value))
    except Exception as exc:
        raise TypeError(
            f"the return value of type {type(value).__name__} cannot be sent back: {exc}"
        ) from exc
