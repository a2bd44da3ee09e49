"""The worker process: imports the heavy stack once, then runs task after task.

Per task it can change directory, send stdout and stderr (file descriptors 1 and
2, so C extensions are captured too) to the task's log file, and limit BLAS/OpenMP
threads. Code in a task reaches its submitter through ``current_channel()``.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import itertools
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from multiprocessing.connection import Connection
from typing import Any

from qlambda.engine.channel import set_current_channel
from qlambda.engine.local.userfault import error_info
from qlambda.engine.local.wire import dumps, loads

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class _ReplyFuture(Future):
    """Waiting on it reads the pipe, since this process has no reader thread."""

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
    """The task's line to its submitter, over the worker's pipe."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.task_id = 0
        self.inbox: deque[tuple] = deque()  # tasks that arrived while a task waited
        self._request_ids = itertools.count(1)
        self._waiting: dict[int, Future] = {}
        self._send_lock = threading.Lock()
        self._pump_lock = threading.Lock()

    def send(self, message: tuple) -> None:
        data = dumps(message)
        with self._send_lock:
            self.conn.send_bytes(data)

    def request(self, kind: str, payload: Any, *, blocking: bool = True) -> Future:
        future = _ReplyFuture(self)
        request_id = next(self._request_ids)
        self._waiting[request_id] = future
        self.send(("request", self.task_id, request_id, kind, payload, blocking))
        return future

    def notify(self, kind: str, payload: Any) -> None:
        self.send(("notify", self.task_id, kind, payload))

    def pump_until(self, future: Future, timeout: float | None) -> None:
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
                if self.conn.poll(wait):
                    self.handle(loads(self.conn.recv_bytes()))
            finally:
                self._pump_lock.release()

    def handle(self, message: tuple) -> None:
        if message[0] == "reply":
            _, request_id, ok, value = message
            future = self._waiting.pop(request_id, None)
            if future is None:
                return
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
        else:
            self.inbox.append(message)


@contextlib.contextmanager
def isolation(options: dict[str, Any]) -> Iterator[None]:
    """Own directory, captured output and thread limits for one task."""
    previous_dir = os.getcwd()
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
            sys.stdout.flush()
            sys.stderr.flush()
            saved_fds = (os.dup(1), os.dup(2))
            fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.close(fd)
            sys.stdout.reconfigure(line_buffering=True)
            sys.stderr.reconfigure(line_buffering=True)
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
        os.chdir(previous_dir)


def _watch_parent(parent_pid: int) -> None:
    """Leave when the engine's process is gone, even in the middle of a task."""
    while True:
        time.sleep(1.0)
        if os.getppid() == 1 or not _alive(parent_pid):
            os._exit(70)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def worker_main(
    conn: Connection,
    parent_pid: int,
    preload: tuple[str, ...],
    initializer: Callable[..., Any] | None,
    initargs: tuple[Any, ...],
) -> None:
    for variable in THREAD_VARIABLES:
        os.environ[variable] = "1"
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C belongs to the user's process
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    try:
        for module in preload:
            importlib.import_module(module)
        if initializer is not None:
            initializer(*initargs)
    except BaseException as exc:
        conn.send_bytes(dumps(("failed", error_info(exc))))
        return
    # What is built so far lives as long as the worker: keep the collector's full passes
    # off it. They walk every tracked object; in a QPU executor holding FakeTorino (Aer
    # allocates heavily per call) that was a 450 ms pause every four or five tasks.
    gc.collect()
    gc.freeze()
    channel = WorkerChannel(conn)
    set_current_channel(channel)
    functions: dict[str, Callable[..., Any]] = {}
    conn.send_bytes(dumps(("ready", os.getpid())))
    while True:
        try:
            message = channel.inbox.popleft() if channel.inbox else loads(conn.recv_bytes())
        except (EOFError, OSError):
            return
        kind = message[0]
        if kind == "run":
            _run(channel, functions, message)
        elif kind == "stop":
            return
        # a reply that arrives after its task ended has no one to read it


def _run(channel: WorkerChannel, functions: dict[str, Callable[..., Any]], message: tuple) -> None:
    _, task_id, (key, blob), arguments, options = message
    channel.task_id = task_id
    try:
        args, kwargs = loads(arguments)
        fn = functions.get(key) if key is not None else None
        if fn is None:
            fn = loads(blob)
            if key is not None:
                functions[key] = fn
        if options:
            with isolation(options):
                value = fn(*args, **kwargs)
        else:
            value = fn(*args, **kwargs)
        try:
            data = dumps(("done", task_id, True, value))
        except Exception as exc:
            raise TypeError(
                f"the return value of type {type(value).__name__} cannot be sent back: {exc}"
            ) from exc
    except BaseException as exc:
        if isinstance(exc, SystemExit):
            exc = RuntimeError(f"the function called sys.exit({exc.code!r})")
        data = dumps(("done", task_id, False, error_info(exc)))
    with channel._send_lock:
        channel.conn.send_bytes(data)
