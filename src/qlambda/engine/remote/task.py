"""The worker's side of a task that runs on another engine's worker (Ray, Dask).

``run_isolated`` dials the submitter's ``ChannelServer``, makes the connection the
task's ``current_channel()``, and gives the task what the local engine gives it:
its own working directory, its stdout and stderr streamed to the submitter's log
file, a memory limit watched from inside, and single-threaded BLAS.
``run_batch`` runs many small tasks in one engine call so the per-call overhead
is paid once per batch.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pickle
import select
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from multiprocessing.connection import Client
from typing import Any

from qlambda.engine import protocol
from qlambda.engine.channel import set_current_channel
from qlambda.engine.local.userfault import error_info
from qlambda.engine.local.worker import THREAD_VARIABLES, WorkerChannel
from qlambda.engine.remote.server import ChannelAddress

LOG_CHUNK = 64 * 1024
OWNER_POLL_SECONDS = 0.2
OWNER_GONE_EXIT = 75  # the task's owner (a control plane) is gone
MEMORY_POLL_SECONDS = 0.1
# A fan-out run by the worker itself (nested engine tasks): (fn, items) -> results
LocalMap = Callable[[Callable[[Any], Any], list[Any]], list[Any]]
Call = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]
"""A function and its arguments, as a batch of small tasks carries it."""

_warmed = False


def warm_up(preload: tuple[str, ...] | None = None) -> None:
    """Single-threaded BLAS and the heavy imports, once per worker process."""
    global _warmed
    if _warmed:
        return
    _warmed = True
    for variable in THREAD_VARIABLES:
        os.environ[variable] = "1"
    if preload is None:
        preload = tuple(m for m in os.environ.get("QLAMBDA_PRELOAD", "").split(",") if m)
    for module in preload:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)


class RemoteChannel(WorkerChannel):
    """``WorkerChannel`` over TCP; ``map`` requests may run on the worker's own engine.

    Running a fan-out as nested tasks lets the engine lend this task's cpus while
    it waits (Ray does so in ``ray.get``), so jobs that fan out never starve the
    very tasks they wait for.
    """

    def __init__(self, conn: Any, task_id: int, local_map: LocalMap | None) -> None:
        super().__init__(conn)
        self.task_id = task_id
        self._local_map = local_map

    def request(self, kind: str, payload: Any, *, blocking: bool = True) -> Future[Any]:
        if kind == "map" and self._local_map is not None:
            future: Future[Any] = Future()
            try:  # the job's own pickles (``JobContext.map``), read where they were made
                fn = pickle.loads(payload["function"])
                items = [pickle.loads(item)[0][0] for item in payload["items"]]
                future.set_result(self._local_map(fn, items))
            except BaseException as exc:
                future.set_exception(exc)
            return future
        return super().request(kind, payload, blocking=blocking)


def run_batch(
    calls: list[Call],
) -> tuple[list[tuple[bool, Any]], float]:
    """Run small tasks one after another: ``(True, value)`` or ``(False, error_info)`` each,
    and the seconds they took together (the submitter sizes its batches by it)."""
    warm_up()
    started = time.perf_counter()
    results: list[tuple[bool, Any]] = []
    for fn, args, kwargs in calls:
        try:
            results.append((True, fn(*args, **kwargs)))
        except BaseException as exc:
            results.append((False, error_info(_plain(exc))))
    return results, time.perf_counter() - started


def run_isolated(
    address: ChannelAddress,
    task_id: int,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    options: dict[str, Any],
    local_map: LocalMap | None = None,
) -> tuple[bool, Any]:
    """Run one task with a channel to its submitter and its limits."""
    warm_up()
    conn = Client((address.host, address.port), family="AF_INET", authkey=address.authkey)
    channel = RemoteChannel(conn, task_id, local_map)
    channel.send(protocol.Hello(task_id, os.getpid(), options.get("node")))
    set_current_channel(channel)
    watchdog = _OwnerWatch(conn)
    try:
        with _isolation(channel, options):
            value = fn(*args, **kwargs)
        return True, value
    except BaseException as exc:
        return False, error_info(_plain(exc))
    finally:
        watchdog.stop()
        set_current_channel(None)
        with contextlib.suppress(OSError):
            conn.close()


class _OwnerWatch:
    """Stops this worker's process when the control plane that owns the task is gone (its
    end of the channel closed): a job never finishes behind a dead owner's back, which
    would run its side effects twice once another control plane runs it again."""

    def __init__(self, conn: Any) -> None:
        self._socket = socket.socket(fileno=os.dup(conn.fileno()))
        self._stopped = threading.Event()
        threading.Thread(target=self._watch, name="qlambda-owner-watch", daemon=True).start()

    def _watch(self) -> None:
        while not self._stopped.is_set():
            readable, _, _ = select.select([self._socket], [], [], OWNER_POLL_SECONDS)
            if not readable or self._stopped.is_set():
                continue
            try:
                pending = self._socket.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue
            except OSError:
                pending = b""
            if not pending and not self._stopped.is_set():
                os._exit(OWNER_GONE_EXIT)
            time.sleep(OWNER_POLL_SECONDS)  # a reply waits for the task's thread to read it

    def stop(self) -> None:
        self._stopped.set()
        with contextlib.suppress(OSError):
            self._socket.close()


def _plain(exc: BaseException) -> BaseException:
    if isinstance(exc, SystemExit):
        return RuntimeError(f"the function called sys.exit({exc.code!r})")
    return exc


@contextlib.contextmanager
def _isolation(channel: RemoteChannel, options: dict[str, Any]) -> Iterator[None]:
    previous_dir = os.getcwd()
    stack = contextlib.ExitStack()
    try:
        workdir = options.get("workdir")
        if workdir:
            os.chdir(_make_workdir(workdir))
        if options.get("log"):
            stack.enter_context(_stream_output(channel))
        if options.get("memory_mb") is not None:
            stack.enter_context(_memory_watch(channel, options["memory_mb"]))
        cpus = options.get("cpus", 1)
        if cpus != 1:
            from threadpoolctl import threadpool_limits

            stack.enter_context(threadpool_limits(cpus))
        with stack:
            yield
    finally:
        os.chdir(previous_dir)


def _make_workdir(path: str) -> str:
    """The submitter's directory when this node shares its file system, else a local one."""
    try:
        os.makedirs(path, exist_ok=True)
        return path
    except OSError:
        return tempfile.mkdtemp(prefix="qlambda-work-")


@contextlib.contextmanager
def _stream_output(channel: RemoteChannel) -> Iterator[None]:
    """File descriptors 1 and 2 go to a pipe whose contents reach the submitter's log."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = (os.dup(1), os.dup(2))
    read_end, write_end = os.pipe()
    os.dup2(write_end, 1)
    os.dup2(write_end, 2)
    os.close(write_end)

    def pump() -> None:
        while True:
            try:
                chunk = os.read(read_end, LOG_CHUNK)
            except OSError:
                return
            if not chunk:
                return
            with contextlib.suppress(OSError):
                channel.send(protocol.Output(channel.task_id, chunk))

    reader = threading.Thread(target=pump, name="qlambda-log", daemon=True)
    reader.start()
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
        reader.join(2.0)  # EOF once no process holds the pipe's write end
        with contextlib.suppress(OSError):
            os.close(read_end)


@contextlib.contextmanager
def _memory_watch(channel: RemoteChannel, limit_mb: float) -> Iterator[None]:
    """Tell the submitter when the task outgrows its limit; the submitter stops it."""
    import psutil

    process = psutil.Process()
    baseline = process.memory_info().rss
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(MEMORY_POLL_SECONDS):
            used_mb = (process.memory_info().rss - baseline) / 2**20
            if used_mb > limit_mb:
                reason = (
                    f"memory limit of {limit_mb:g} MB exceeded (the task grew to {used_mb:.0f} MB)"
                )
                with contextlib.suppress(OSError):
                    channel.send(protocol.LimitExceeded(channel.task_id, reason))
                time.sleep(5.0)  # the submitter stops the worker; if it cannot, leave
                os._exit(137)

    watcher = threading.Thread(target=watch, name="qlambda-memory", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
