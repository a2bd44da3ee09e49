"""``SlurmEngine``: a pilot as a placeholder job on a SLURM cluster (Pilot-Quantum's plugin).

``start()`` writes a batch script and ``sbatch``es it with the pilot's nodes, cores,
GPUs, walltime, partition and account. When SLURM starts it, the script runs the
agent (``qlambda.engine.slurm.agent``): it dials back to this process over the
channel every remote task uses (``ChannelServer``: TCP, authenticated with a random
key this process writes, readable by its user only, next to the script), starts the
pilot's engine inside the allocation, and says it is ready. Tasks then travel to it
and their results back.

Walltime. The agent's allocation ends when SLURM says (``squeue``'s time left, read
while the job runs). A task is sent only while the time left exceeds its ``timeout``
plus the drain margin; one that can never fit is not started there (its future raises
``PilotEndedError``, which a ``PilotManager`` takes as "run it elsewhere"). Within the
drain margin of the end the pilot drains: running tasks finish, queued ones are handed
back the same way.

The end. ``shutdown()`` (``pilot.cancel()``) stops the agent and ``scancel``s the job.
A job the scheduler ends (walltime, ``scancel`` from outside, a node failure) fails
the tasks that ran there with SLURM's final state and reason (``WorkerDiedError``);
those that had not started raise ``PilotEndedError``.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import CancelledError
from pathlib import Path
from typing import Any

import cloudpickle

import qlambda
from qlambda.core.errors import ConfigurationError, PilotEndedError, WorkerDiedError
from qlambda.engine import protocol
from qlambda.engine.base import TaskFuture, TaskSpec
from qlambda.engine.local.engine import remote_error
from qlambda.engine.remote.server import ChannelServer, default_host
from qlambda.engine.slurm import batch

RESOURCE_KEYS = ("cpus", "gpus", "memory", "timeout", "priority")
AGENT_ENGINES = ("local", "ray", "dask")
POLL_SECONDS = 1.0
# Pilot events: (kind, data); the pilot stamps and keeps them
EventSink = Callable[[str, dict[str, Any]], None]


def default_drain(walltime: float | None) -> float:
    """Seconds before the end in which a pilot starts nothing new: a tenth of the
    walltime, between 5 s and a minute."""
    if walltime is None:
        return 60.0
    return max(5.0, min(60.0, walltime / 10))


class _Task:
    __slots__ = ("canceled", "future", "key", "sent", "spec")

    def __init__(self, spec: TaskSpec, seq: int) -> None:
        self.spec = spec
        self.future = TaskFuture(spec.task_id)
        self.key = (-spec.priority, seq)
        self.sent = False
        self.canceled: str | None = None  # why, once a running task is being stopped

    def __lt__(self, other: _Task) -> bool:
        return self.key < other.key


class SlurmEngine:
    """Runs a pilot's tasks inside a SLURM allocation; see the module's description."""

    RESOURCE_KEYS = RESOURCE_KEYS
    kind = "slurm"

    def __init__(
        self,
        cores: int | None = None,
        *,
        nodes: int = 1,
        gpus: int = 0,
        walltime: float | None = None,
        queue: str | None = None,
        project: str | None = None,
        agent_engine: str = "local",
        name: str = "slurm",
        preload: tuple[str, ...] = (),
        trusted: bool = True,
        on_event: EventSink | None = None,
        directory: str | None = None,
        drain: float | None = None,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        if not isinstance(nodes, int) or isinstance(nodes, bool) or nodes < 1:
            raise ConfigurationError(f"nodes must be a positive integer, got {nodes!r}")
        if cores is not None and (not isinstance(cores, int) or cores < 1):
            raise ConfigurationError(f"cores must be a positive integer, got {cores!r}")
        if agent_engine not in AGENT_ENGINES:
            raise ConfigurationError(
                f"unknown agent engine {agent_engine!r}; the agent runs one of "
                f"{', '.join(AGENT_ENGINES)}"
            )
        if nodes > 1 and agent_engine == "local":
            raise ConfigurationError(
                f"nodes={nodes}: the local pool runs on one node; across nodes the agent "
                "starts agent_engine='ray' or 'dask'"
            )
        if walltime is not None and walltime <= 0:
            raise ConfigurationError(f"walltime must be above 0 seconds, got {walltime!r}")
        self.name = name
        self.nodes = nodes
        self.cores = cores or 1  # per node, as SLURM's --cpus-per-task
        self.gpus = gpus
        self.walltime = walltime
        self.queue = queue
        self.project = project
        self.agent_engine = agent_engine
        self.trusted = trusted
        self.drain = default_drain(walltime) if drain is None else drain
        self._preload = tuple(preload)
        self._on_event = on_event
        self._root = directory
        self._poll = poll_seconds
        self._lock = threading.Condition(threading.RLock())
        self._queue: list[_Task] = []
        self._tasks: dict[int, _Task] = {}
        self._seq = itertools.count()
        self._in_flight_cpus = 0
        self._agent_cpus = 0
        self._send: Callable[[Any], None] | None = None
        self._deadline: float | None = None  # time.monotonic() when the allocation ends
        self._draining = False
        self._ended: str | None = None  # why the job is over, once it is
        self._stopping = False
        self._server: ChannelServer | None = None
        self._watcher: threading.Thread | None = None
        self._ready = threading.Event()
        self._submitted = threading.Event()  # the job id is known
        self._functions: weakref.WeakKeyDictionary[Any, bytes] = weakref.WeakKeyDictionary()
        self.job_id: str | None = None
        self.directory: str | None = None
        self.completed = 0
        self._submitted_at = 0.0
        self._running_at: float | None = None

    # ------------------------------------------------------------------ public API
    @property
    def cpus(self) -> int:
        """The agent's cpus once it is up; until then what the pilot asked for."""
        return self._agent_cpus or self.nodes * self.cores

    def start(self) -> None:
        """Submit the placeholder job; returns at once (tasks wait until the agent is up)."""
        if self._server is not None:
            return
        batch.command_path("sbatch")
        self.directory = tempfile.mkdtemp(
            prefix=f"qlambda-{self.name}-", dir=self._root or os.environ.get("QLAMBDA_SLURM_DIR")
        )
        os.chmod(self.directory, 0o700)
        self._server = ChannelServer(self._on_message, default_host(_routable_host()))
        try:
            script = self._write_agent_files(self.directory, self._server)
            self._submitted_at = time.monotonic()
            self.job_id = batch.submit(script, self._sbatch_options(self.directory))
            self._submitted.set()
        except batch.BatchError as exc:
            self._server.close()
            shutil.rmtree(self.directory, ignore_errors=True)
            raise ConfigurationError(f"SLURM refused {self.name}'s placeholder job: {exc}") from exc
        except BaseException:
            self._server.close()
            shutil.rmtree(self.directory, ignore_errors=True)
            raise
        self._event("SUBMITTED", {"job_id": self.job_id, "nodes": self.nodes, "cores": self.cores})
        self._watcher = threading.Thread(
            target=self._watch, name=f"qlambda-{self.name}-watch", daemon=True
        )
        self._watcher.start()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until the agent is up; raises if the job ended before that."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._ready.is_set():
            if self._ended is not None:
                raise PilotEndedError(self._ended)
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            self._ready.wait(0.2 if left is None else min(0.2, left))
        return True

    def submit(self, spec: TaskSpec) -> TaskFuture:
        if self._stopping:
            raise RuntimeError(f"engine {self.name!r} is shut down")
        if self._server is None:
            raise RuntimeError(f"engine {self.name!r} is not started")
        self._check(spec)
        task = _Task(spec, next(self._seq))
        with self._lock:
            if self._ended is not None or self._draining:
                task.future.set_exception(PilotEndedError(self._not_started_reason()))
                return task.future
            self._tasks[spec.task_id] = task
            heapq.heappush(self._queue, task)
            self._pump()
        return task.future

    def cancel(self, task_id: int, reason: str = "canceled") -> bool:
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None:
                return False
            if not task.sent:
                if task.future.cancel():
                    self._tasks.pop(task_id, None)
                return True
            task.canceled = reason
            send = self._send
        if send is not None:
            with contextlib.suppress(Exception):
                send(("cancel", task_id))
        return True

    def shutdown(self, wait: bool = True) -> None:
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            send = self._send
            self._lock.notify_all()
        if send is not None:
            with contextlib.suppress(Exception):
                send(("stop",))
        ended = self._ended is not None
        if self.job_id is not None and not ended:
            with contextlib.suppress(batch.BatchError, ConfigurationError):
                batch.cancel(self.job_id)
        self._fail_all(CancelledError, "the pilot was canceled", CancelledError, "canceled")
        if not ended:
            self._event("ENDED", {"job_id": self.job_id, "state": "CANCELLED", "by": "the pilot"})
        if self._watcher is not None and threading.current_thread() is not self._watcher:
            self._watcher.join(5.0)
        if self._server is not None:
            self._server.close()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            queued = sum(1 for t in self._tasks.values() if not t.sent)
            return {
                "engine": self.kind,
                "cpus": self.cpus,
                "queued": queued,
                "running": len(self._tasks) - queued,
                "completed": self.completed,
                "job_id": self.job_id,
                "ready": self._ready.is_set(),
                "draining": self._draining,
                "seconds_left": None
                if self._deadline is None
                else max(0.0, self._deadline - time.monotonic()),
                "ended": self._ended,
            }

    # ---------------------------------------------------------------- submission
    def _check(self, spec: TaskSpec) -> None:
        if not isinstance(spec.cpus, int) or spec.cpus < 1:
            raise ValueError(f"a task asks for a positive whole number of cpus, not {spec.cpus!r}")
        if spec.cpus > self.cores:
            raise ValueError(
                f"the task asks for {spec.cpus} cpus; {self.name} has {self.cores} per node"
            )
        if spec.gpus and spec.gpus > self.gpus:
            raise ValueError(
                f"the task asks for {spec.gpus:g} gpus; {self.name} reserved {self.gpus} "
                "(PilotDescription(gpus=...))"
            )
        if spec.resources:
            raise ValueError(
                "custom resources are a Ray cluster's; a SLURM pilot has cpus and gpus"
            )
        if spec.on_message is not None or spec.log_path is not None:
            raise ValueError(
                "the task needs a channel back to the control plane (a function with a ctx "
                "parameter, or a job), which a SLURM pilot's agent does not carry: use a Ray "
                "or Dask pilot for it"
            )

    def _pump(self) -> None:
        """Send queued tasks while the agent has free cpus and the walltime allows them.
        Called with the lock held."""
        if self._send is None or self._stopping:
            return
        outgoing: list[tuple[int, bytes, bytes, dict[str, Any]]] = []
        now = time.monotonic()
        while self._queue and self._in_flight_cpus < self._agent_cpus:
            task = self._queue[0]
            if task.future.done():  # canceled while queued
                heapq.heappop(self._queue)
                self._tasks.pop(task.spec.task_id, None)
                continue
            if self._in_flight_cpus + task.spec.cpus > self._agent_cpus:
                break
            heapq.heappop(self._queue)
            need = (task.spec.timeout_s or 0.0) + self.drain
            if self._deadline is not None and self._deadline - now < need:
                self._tasks.pop(task.spec.task_id, None)
                left = self._deadline - now
                task.future.set_exception(
                    PilotEndedError(
                        f"not started on {self.name}: the task may run "
                        f"{task.spec.timeout_s or 0:g} s (its timeout) and the batch job "
                        f"{self.job_id} has {left:.0f} s of walltime left, less {self.drain:g} s "
                        "to drain"
                    )
                )
                continue
            if not task.future.set_running_or_notify_cancel():
                self._tasks.pop(task.spec.task_id, None)
                continue
            task.sent = True
            self._in_flight_cpus += task.spec.cpus
            outgoing.append(self._wire(task.spec))
        if outgoing:
            try:
                self._send(("run", outgoing))
            except Exception as exc:
                for task_id, *_ in outgoing:
                    self._finish(task_id, exc)

    def _wire(self, spec: TaskSpec) -> tuple[int, bytes, bytes, dict[str, Any]]:
        fn = spec.fn
        try:
            blob = self._functions.get(fn)
        except TypeError:
            blob = None
        if blob is None:
            blob = cloudpickle.dumps(fn)
            with contextlib.suppress(TypeError):
                self._functions[fn] = blob
        arguments = cloudpickle.dumps((spec.args, spec.kwargs))
        limits: dict[str, Any] = {"cpus": spec.cpus, "priority": spec.priority}
        if spec.gpus:
            limits["gpus"] = spec.gpus
        if spec.memory_mb is not None:
            limits["memory_mb"] = spec.memory_mb
        if spec.timeout_s is not None:
            limits["timeout_s"] = spec.timeout_s
        return spec.task_id, blob, arguments, limits

    # ------------------------------------------------------------------ the agent
    def _on_message(self, task_id: int, message: Any, send: Callable[[Any], None]) -> None:
        if isinstance(message, protocol.Hello):
            # on an idle cluster the agent may dial before sbatch has printed the job id
            self._submitted.wait(30)
            if self.job_id is None or str(task_id) != self.job_id:
                return  # not this pilot's job
            with self._lock:
                self._send = send
            return
        if not isinstance(message, protocol.Notify) or self._send is None:
            return
        if message.kind == "ready":
            self._agent_ready(message.payload)
        elif message.kind == "done":
            for item in message.payload if isinstance(message.payload, list) else ():
                self._finish_wire(item)
        elif message.kind == "failed":
            self._job_over(f"its agent could not start: {message.payload}")

    def _agent_ready(self, payload: Any) -> None:
        info = payload if isinstance(payload, dict) else {}
        cpus = info.get("cpus")
        self._note_running(str(info.get("nodes", "")))  # before the watcher saw it start
        with self._lock:
            self._agent_cpus = cpus if isinstance(cpus, int) and cpus > 0 else self.cores
            setup = time.monotonic() - self._submitted_at
            queued = None if self._running_at is None else self._running_at - self._submitted_at
            self._pump()
        self._ready.set()
        self._event(
            "READY",
            {
                "job_id": self.job_id,
                "setup_seconds": round(setup, 3),
                "queue_seconds": None if queued is None else round(queued, 3),
                "agent_seconds": info.get("engine_seconds"),
                "cpus": self._agent_cpus,
                "engine": self.agent_engine,
                "nodes": info.get("nodes"),
            },
        )

    def _finish_wire(self, item: Any) -> None:
        """One result from the agent: ``[task_id, True, format, data]`` or
        ``[task_id, False, type, message, traceback, pickled exception]``."""
        if not isinstance(item, list) or len(item) < 2 or not isinstance(item[0], int):
            return
        task_id, ok = item[0], item[1]
        outcome: Any
        try:
            if ok is True and len(item) == 4:
                outcome = protocol.Encoded(item[2], item[3]).decode(trusted=self.trusted)
            elif ok is False and len(item) == 6:
                outcome = remote_error(protocol.ErrorInfo(*item[2:]), trusted=self.trusted)
            else:
                return
        except Exception as exc:  # an undecodable value: the task's failure, not ours
            outcome = exc
        self._finish(task_id, outcome, ok is True)

    def _finish(self, task_id: int, outcome: Any, ok: bool = False) -> None:
        with self._lock:
            task = self._tasks.pop(task_id, None)
            if task is None:
                return
            if task.sent:
                self._in_flight_cpus -= task.spec.cpus
            self.completed += 1
            self._pump()
        if task.future.done():
            return
        if task.canceled is not None:
            task.future.set_exception(CancelledError(task.canceled))
        elif ok:
            task.future.set_result(outcome)
        else:
            task.future.set_exception(outcome)

    # ------------------------------------------------------------- the batch job
    def _watch(self) -> None:
        """Follow the job in ``squeue``: when it starts, its time left, its end."""
        assert self.job_id is not None
        gone = 0
        while not self._stopping:
            try:
                job = batch.state(self.job_id)
            except (batch.BatchError, ConfigurationError):
                job = None
                gone -= 1  # squeue itself failed: not evidence that the job ended
            if job is not None and job.started:
                self._note_running(job.nodes)
            if job is not None and job.active:
                gone = 0
                if job.started and job.seconds_left is not None:
                    with self._lock:
                        self._deadline = time.monotonic() + job.seconds_left
                        self._check_drain()
            else:
                gone += 1
                if job is not None or gone >= 3:  # a final state, or forgotten for good
                    reason = job.describe() if job is not None else "it left SLURM's queue"
                    if not self._ready.is_set():  # the agent never came up: say what it said
                        said = self.agent_log().strip()[-1500:]
                        reason += f"; the agent's output: {said}" if said else ""
                    self._job_over(reason, job.state if job is not None else "GONE")
                    return
            with self._lock:
                if not self._stopping:  # quick looks until it starts, to time the queue
                    self._lock.wait(self._poll if self._running_at else min(0.2, self._poll))

    def _note_running(self, nodes: str) -> None:
        with self._lock:
            if self._running_at is not None:
                return
            self._running_at = time.monotonic()
            queued = self._running_at - self._submitted_at
        self._event(
            "RUNNING", {"job_id": self.job_id, "nodes": nodes, "queue_seconds": round(queued, 3)}
        )

    def _check_drain(self) -> None:
        if self._draining or self._deadline is None:
            return
        left = self._deadline - time.monotonic()
        if left > self.drain:
            return
        self._draining = True
        waiting = [t for t in self._tasks.values() if not t.sent]
        for task in waiting:
            self._tasks.pop(task.spec.task_id, None)
        reason = self._not_started_reason()
        for task in waiting:
            if not task.future.done():
                task.future.set_exception(PilotEndedError(reason))
        self._event("DRAINING", {"job_id": self.job_id, "seconds_left": round(left, 1)})

    def _not_started_reason(self) -> str:
        if self._ended is not None:
            return f"not started: {self._ended}"
        return (
            f"not started: {self.name}'s batch job {self.job_id} is within {self.drain:g} s "
            "of its walltime and drains"
        )

    def _job_over(self, description: str, state: str = "ENDED") -> None:
        with self._lock:
            if self._ended is not None:
                return
            self._ended = f"{self.name}'s batch job {self.job_id} ended: {description}"
            reason = self._ended
            stopping = self._stopping
            self._lock.notify_all()
        if stopping:
            return
        self._fail_all(WorkerDiedError, reason, PilotEndedError, f"not started: {reason}")
        self._event("ENDED", {"job_id": self.job_id, "state": state, "reason": reason})

    def _fail_all(
        self,
        running_error: type[BaseException],
        running_reason: str,
        waiting_error: type[BaseException],
        waiting_reason: str,
    ) -> None:
        with self._lock:
            tasks = list(self._tasks.values())
            self._tasks.clear()
            self._queue.clear()
            self._in_flight_cpus = 0
        for task in tasks:
            if task.future.done():
                continue
            if task.sent:
                task.future.set_exception(running_error(running_reason))
            elif waiting_error is CancelledError:
                task.future.cancel()
            else:
                task.future.set_exception(waiting_error(waiting_reason))

    # ------------------------------------------------------------- the job's files
    def _write_agent_files(self, directory: str, server: ChannelServer) -> str:
        key = Path(directory, "agent.key")
        key.touch(0o600)
        key.write_bytes(server.address.authkey)
        config = {
            "host": server.address.host,
            "port": server.address.port,
            "engine": self.agent_engine,
            "cores": self.cores,
            "nodes": self.nodes,
            "gpus": self.gpus,
            "preload": list(self._preload),
            "name": self.name,
        }
        Path(directory, "agent.json").write_text(json.dumps(config))
        source = str(Path(qlambda.__file__).resolve().parents[1])
        script = Path(directory, "pilot.sh")
        script.write_text(
            "#!/bin/sh\n"
            f"# {self.name}: the placeholder job of a qlambda pilot\n"
            f'export PYTHONPATH="{source}${{PYTHONPATH:+:$PYTHONPATH}}"\n'
            f'exec "{sys.executable}" -m qlambda.engine.slurm.agent "{directory}"\n'
        )
        script.chmod(0o700)
        return str(script)

    def _sbatch_options(self, directory: str) -> list[str]:
        options = [
            f"--job-name=qlambda-{self.name}",
            f"--nodes={self.nodes}",
            "--ntasks-per-node=1",
            f"--cpus-per-task={self.cores}",
            f"--output={directory}/agent.out",
            f"--chdir={directory}",
        ]
        if self.walltime is not None:
            options.append(f"--time={batch.format_walltime(self.walltime)}")
        if self.queue:
            options.append(f"--partition={self.queue}")
        if self.project:
            options.append(f"--account={self.project}")
        if self.gpus:
            options.append(f"--gpus={self.gpus}")
        return options

    def _event(self, kind: str, data: dict[str, Any]) -> None:
        if self._on_event is not None:
            with contextlib.suppress(Exception):
                self._on_event(kind, data)

    def agent_log(self) -> str:
        """What the agent printed (its batch job's output), for diagnosis."""
        if self.directory is None:
            return ""
        with contextlib.suppress(OSError):
            return Path(self.directory, "agent.out").read_text(errors="replace")
        return ""


def _routable_host() -> str:
    """This machine's address as the cluster's nodes reach it (its hostname's)."""
    with contextlib.suppress(OSError):
        return socket.gethostbyname(socket.gethostname())
    return "127.0.0.1"
