"""The small interface every engine implements (local processes, Ray, Dask).

An engine runs Python callables on warm workers and hands back
``concurrent.futures.Future``s. Two things go beyond a plain executor, because
serverless jobs need them:

* per-task isolation: cpus, a memory limit, a time limit, a working directory and
  a log file that captures stdout and stderr;
* a channel back to the submitter: code running in a task may send requests to
  the process that submitted it (quantum calls, fan-out, checkpoints) and wait for
  the answer. While a task waits on a *blocking* request its cpus are lent to
  other tasks, as Ray does for a worker blocked in ``ray.get``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

_task_ids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class TaskMessage:
    """A message a running task sent to its submitter.

    ``reply`` is set for requests: call it exactly once, from any thread, with
    ``(ok, value)``; ``ok=False`` makes the request raise ``value`` in the task.
    ``route``: where an executor may answer the request directly (a local engine's
    ``routes.Route``); whoever did replies ``routes.ANSWERED``.
    """

    task_id: int
    kind: str
    payload: Any
    reply: Callable[[bool, Any], None] | None = None
    route: Any = None


@dataclass(frozen=True, slots=True)
class PickledCall:
    """A call that arrives already pickled (a job's fan-out, pickled in its worker): the
    engine forwards the bytes to a worker and never loads them itself."""

    function: bytes
    arguments: bytes  # a pickled (args, kwargs)


def call_pickled(function: bytes, arguments: bytes) -> Any:
    """Run a ``PickledCall`` where it lands (engines that hand calls to a framework)."""
    import pickle

    fn = pickle.loads(function)
    args, kwargs = pickle.loads(arguments)
    return fn(*args, **kwargs)


@dataclass(slots=True)
class TaskSpec:
    """What to run and with which limits. ``None`` limits mean none.

    ``tenant``: whose code this is; a sandboxed engine runs it only on that tenant's
    workers.
    """

    fn: Callable[..., Any] | PickledCall
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    cpus: int = 1
    gpus: float = 0
    resources: dict[str, float] | None = None  # custom resources, e.g. a node's QPU
    memory_mb: float | None = None
    timeout_s: float | None = None
    workdir: str | None = None
    log_path: str | None = None
    priority: float = 0.0
    on_message: Callable[[TaskMessage], None] | None = None
    name: str = ""
    tenant: str | None = None
    raw_result: bool = False  # hand back the task's ``protocol.Encoded`` value undecoded
    route: Any = None  # a ``routes.Route`` the task answers over (local engine only)
    lane_fd: int | None = None  # a worker's request route lent with the task (``routes``)
    task_id: int = field(default_factory=lambda: next(_task_ids))

    def call(self) -> tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]:
        """(function, args, kwargs) to hand a framework that pickles calls itself."""
        if isinstance(self.fn, PickledCall):
            return call_pickled, (self.fn.function, self.fn.arguments), {}
        return self.fn, self.args, self.kwargs

    @property
    def isolated(self) -> bool:
        """Tasks with limits or their own directory never wait behind another task."""
        return (
            self.memory_mb is not None
            or self.timeout_s is not None
            or self.workdir is not None
            or self.log_path is not None
            or self.on_message is not None
            or self.cpus != 1
            or bool(self.gpus)
            or bool(self.resources)
        )


class TaskFuture(Future[Any]):
    """A Future that knows its task id (for ``Engine.cancel``)."""

    def __init__(self, task_id: int) -> None:
        super().__init__()
        self.task_id = task_id


class Engine(Protocol):
    """Where pilots run their tasks."""

    @property
    def cpus(self) -> int: ...

    def start(self) -> None: ...

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until the workers have started; False if ``timeout`` came first."""
        ...

    def submit(self, spec: TaskSpec) -> TaskFuture: ...

    def cancel(self, task_id: int, reason: str = "canceled") -> bool:
        """Cancel a queued task, or stop a running one. False if it already ended."""
        ...

    def shutdown(self, wait: bool = True) -> None: ...

    def stats(self) -> dict[str, Any]: ...
