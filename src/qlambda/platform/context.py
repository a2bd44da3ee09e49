"""The job's side of the platform, inside a worker process.

``execute_job`` is what the engine runs for every serverless job: it loads the
function (cached per worker), checks the arguments, builds the ``JobContext``
and calls the function. The context reaches the control plane over the task's
channel: quantum calls, fan-out, status, checkpoints.
"""

from __future__ import annotations

import os
import sys
import time
import types
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import cloudpickle

from qlambda.engine.channel import Channel, current_channel
from qlambda.engine.local.wire import dumps
from qlambda.engine.protocol import Encoded
from qlambda.platform.functions import (
    CONTEXT_PARAMETER,
    check_arguments,
    remember_source,
    takes_context,
    unship,
)
from qlambda.platform.output_caps import capped_output
from qlambda.platform.quantum_access import ChannelAccess, using_access
from qlambda.platform.results import encode_result
from qlambda.platform.status_pacer import StatusPacer


@dataclass(frozen=True)
class JobPayload:
    """Everything a worker needs to run one attempt of a job."""

    job_id: str
    function_id: str
    function_name: str
    kind: str
    code: bytes
    entrypoint: str | None
    arguments: bytes
    attempt: int
    execution_options: list[Any] | None = None
    own_directory: bool = True  # False: it runs in its submitter's directory
    max_log_bytes: int | None = None  # the job's log stops growing there


CHECKPOINTS_ON_THE_WAY = 4
"""Checkpoints not waited for that a job has on their way to the store at most; the next
one waits for the oldest (the control plane refuses more than
``job_requests.MAX_CHECKPOINTS_IN_FLIGHT`` of a job)."""


class JobContext(ChannelAccess):
    """What a function receives as ``ctx``."""

    def __init__(
        self,
        job_id: str,
        attempt: int,
        channel: Channel,
        execution_options: list[Any] | None = None,
    ) -> None:
        self.job_id = job_id
        self.attempt = attempt
        self._channel = channel
        self.execution_options = execution_options
        self._status = StatusPacer(lambda text: channel.notify("status", text))
        self._checkpointed = False
        self._unsaved: deque[Future[Any]] = deque()  # checkpoints not waited for

    # -- classical fan-out --------------------------------------------------
    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        """Run ``fn`` on every item on the pilot's workers; results in order.

        While it waits, this job lends its cpus, so the fan-out runs even when every
        worker is busy with jobs. The function and items are pickled here; the control
        plane hands the bytes to workers without reading them.
        """
        calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = [((item,), {}) for item in items]
        return _decoded(self._fan_out(fn, calls).result())

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> FanOutTask:
        """Run ``fn(*args, **kwargs)`` on one of the pilot's workers, as :meth:`map` does
        for each item, without waiting: ``.result()`` waits for its value (or error)."""
        return FanOutTask(self._fan_out(fn, [(args, kwargs)]))

    def _fan_out(
        self, fn: Callable[..., Any], calls: list[tuple[tuple[Any, ...], dict[str, Any]]]
    ) -> Future[Any]:
        request = {
            "function": cloudpickle.dumps(fn),
            "items": [dumps(call) for call in calls],
        }
        return self._channel.request("map", request)

    # -- progress and state -------------------------------------------------
    def log(self, message: str) -> None:
        """A timestamped line in the job's log."""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        print(f"[{stamp}] {message}", file=sys.stderr, flush=True)

    def status(self, sub_status: str) -> None:
        """What the job is doing now, shown as its sub-status while it runs. At most one
        every :data:`STATUS_INTERVAL` seconds reaches the platform; a newer one replaces
        one still waiting, and the latest always arrives, at most that much later."""
        self._status.set(str(sub_status)[:200])

    def checkpoint(self, state: Any, *, wait: bool = True) -> None:
        """Store ``state``; a re-run job gets it from ``restore``. Returns once it is
        durable; with ``wait=False`` once it is on its way (about a millisecond sooner):
        it is stored in order with the job's other checkpoints and before the job's end,
        but a server that dies before it is stored leaves the re-run the one before it.
        For a loop that can redo the steps since its previous checkpoint."""
        blob = cloudpickle.dumps(state)
        self._checkpointed = True
        while self._unsaved and (
            self._unsaved[0].done() or len(self._unsaved) >= CHECKPOINTS_ON_THE_WAY
        ):
            self._unsaved.popleft().result()  # an earlier one's error surfaces here
        if wait:
            self._channel.request("checkpoint", blob, blocking=False).result()
        else:
            self._unsaved.append(self._channel.request("checkpoint_soon", blob, blocking=False))

    def restore(self) -> Any:
        """The last checkpointed state of this job, or None."""
        if self.attempt == 1 and not self._checkpointed:
            # A first run's start is stored before anything it checkpoints (one writer,
            # in order), so no earlier run of this job can have left a checkpoint.
            return None
        blob = self._channel.request("restore", None, blocking=False).result()
        return None if blob is None else cloudpickle.loads(blob)


class FanOutTask:
    """One task of :meth:`JobContext.submit`. Waiting on it reads the worker's channel (a
    worker has no reader thread), so its value is read with ``result()``."""

    def __init__(self, sent: Future[Any]) -> None:
        self._sent = sent

    def done(self) -> bool:
        return self._sent.done()

    def result(self, timeout: float | None = None) -> Any:
        return _decoded(self._sent.result(timeout))[0]

    def exception(self, timeout: float | None = None) -> BaseException | None:
        return self._sent.exception(timeout)


def execute_job(payload: JobPayload) -> Encoded:
    channel = current_channel()
    if channel is None:
        raise RuntimeError("execute_job runs inside an engine worker")
    channel.notify("started", payload.attempt)
    fn = _load(payload)
    kwargs = cloudpickle.loads(payload.arguments)
    check_arguments(fn, payload.function_name, kwargs)
    ctx = JobContext(payload.job_id, payload.attempt, channel, payload.execution_options)
    if takes_context(fn):
        kwargs[CONTEXT_PARAMETER] = ctx
    try:
        with capped_output(payload.max_log_bytes), using_access(ctx):
            value = fn(**kwargs)
    except OSError as exc:
        if payload.own_directory and exc.filename and not os.path.isabs(str(exc.filename)):
            exc.add_note(
                f"This job ran in {os.getcwd()}, a directory of its own, where relative paths "
                "resolve. Pass the file's contents as an argument, or register the function "
                "as a zipped folder that holds the file."
            )
        raise
    finally:
        ctx._status.close()  # its last status goes before the job's end
    return encode_result(value)


def _decoded(values: list[Any]) -> list[Any]:
    return [v.decode(trusted=True) if isinstance(v, Encoded) else v for v in values]


def _load(payload: JobPayload) -> Callable[..., Any]:
    """The function, loaded afresh for every job: one job's changes to its globals never
    reach the next job on the same warm worker."""
    if payload.kind == "pickle":
        return unship(cloudpickle.loads(payload.code))
    return _load_source(payload)


def _load_source(payload: JobPayload) -> Callable[..., Any]:
    path, _, source = payload.code.partition(b"\0")
    _, _, attribute = (payload.entrypoint or "").rpartition(":")
    module = types.ModuleType(f"qlambda_function_{payload.function_id}")
    module.__file__ = path.decode()
    folder = os.path.dirname(module.__file__)
    if os.path.isdir(folder) and folder not in sys.path:
        sys.path.insert(0, folder)  # a function's folder: its sibling modules import
    sys.modules[module.__name__] = module
    remember_source(module.__file__, source.decode(errors="replace"))
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    fn: object = module.__dict__.get(attribute)
    if not callable(fn):
        defined = sorted(
            name
            for name, value in module.__dict__.items()
            if callable(value) and not name.startswith("_") and not isinstance(value, type)
        )
        raise AttributeError(
            f"{payload.entrypoint!r}: {module.__file__} has no function {attribute!r}; "
            f"it defines: {', '.join(defined) or 'no functions'}"
        )
    return fn
