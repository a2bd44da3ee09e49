"""What a running job asks of the control plane, over its worker's channel.

A job's worker runs user code, so each request's payload is hostile data: it is
checked for its kind before anything acts on it (``qlambda.engine.protocol``
checks the message around it). The kinds:

* ``started`` (attempt number), ``status`` (text, shown as the sub-status);
* ``answered``: how many quantum answers the job had straight from executors (told
  before its end, which then waits for the executors' reports of them);
* ``quantum``: a quantum request for the dispatcher (``RequestEnvelope`` data);
* ``checkpoint`` (bytes, stored as they are, answered once stored) and
  ``checkpoint_soon`` (the same, committed with the next batch of writes, which is at
  the latest the one that stores the job's end: ``ctx.checkpoint(state, wait=False)``,
  which does not wait for the answer); at most :data:`MAX_CHECKPOINTS_IN_FLIGHT` of a
  job on their way; and ``restore``;
* ``backend``: a backend's name; the answer describes it (``ctx.backend(name)``);
* ``backends`` (no payload): every backend described, with its load (``ctx.backends()``);
* ``map``: a fan-out, a pickled function and pickled arguments per item, which the
  control plane forwards to the owner's workers without reading.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError, Future
from typing import Any

from qlambda.core.events import Event, EventKind
from qlambda.engine.base import PickledCall, TaskMessage, TaskSpec
from qlambda.platform.dispatcher import answer
from qlambda.platform.jobs import LiveJob
from qlambda.platform.usage import UsageMeter
from qlambda.quantum.backends import backend_kind
from qlambda.quantum.envelope import RequestEnvelope
from qlambda.store import Store

CHECKPOINTS = ("checkpoint", "checkpoint_soon")
"""A checkpoint the job waits for (committed at once), and one it does not."""
MAX_CHECKPOINTS_IN_FLIGHT = 16
"""Checkpoints of one job on their way to the store at most; more are refused."""
FAN_OUT_PRIORITY = 1e12  # fan-out tasks of running jobs go before queued jobs
STATUS_LENGTH = 200


class JobRequests:
    """Answers the requests of jobs' workers. ``on_started(job, attempt)`` is told when a
    job's function starts; ``status_in_row``: a job's own status text is kept in its row
    too (where other replicas read it)."""

    def __init__(
        self,
        store: Store,
        dispatcher: Any,
        engine: Any,
        on_started: Callable[[LiveJob, int], None],
        *,
        status_in_row: bool = False,
        usage: UsageMeter | None = None,
    ) -> None:
        self._store = store
        self._usage = usage
        self._dispatcher = dispatcher
        self._engine = engine
        self._on_started = on_started
        self._status_in_row = status_in_row
        self._lock = threading.Lock()  # the writer's thread settles checkpoints

    def handle(self, job: LiveJob, message: TaskMessage) -> None:
        kind, payload = message.kind, message.payload
        try:
            if kind == "started" and type(payload) is int:
                self._on_started(job, payload)
            elif kind == "answered" and type(payload) is int and payload >= 0:
                job.answered_directly = payload  # told right before the job's end
            elif kind == "status" and isinstance(payload, str):
                job.user_status = payload[:STATUS_LENGTH]
                data = {"status": job.user_status}
                event = Event(job.id, time.time(), EventKind.SUB_STATUS, data)
                if self._status_in_row:
                    self._store.set_sub_status(job.id, job.user_status, event)
                else:
                    self._store.add_events([event])
            elif kind == "quantum":
                self._quantum(job, message, RequestEnvelope.from_data(payload))
            elif kind in CHECKPOINTS and isinstance(payload, bytes) and message.reply is not None:
                self._checkpoint(job, message, payload, urgent=kind == "checkpoint")
            elif kind == "restore" and payload is None and message.reply is not None:
                self._restore(job, message)
            elif kind == "backend" and isinstance(payload, str) and message.reply is not None:
                from qlambda.platform.quantum_access import describe_backend

                self._describe(message, describe_backend(self._dispatcher.configs(), payload))
            elif kind == "backends" and payload is None and message.reply is not None:
                from qlambda.platform.quantum_access import describe_backends

                message.reply(True, describe_backends(self._dispatcher))
            elif kind == "map":
                self._fan_out(job, message, fan_out_calls(payload))
            else:
                raise ValueError(f"unknown request {kind!r} from a job, or a malformed one")
        except ValueError as exc:
            if message.reply is not None:
                message.reply(False, ValueError(str(exc)))

    def _checkpoint(self, job: LiveJob, message: TaskMessage, state: bytes, urgent: bool) -> None:
        """Store a checkpoint, answered once it is; one the job does not wait for (not
        ``urgent``) is committed with the next batch of writes. A job has at most
        :data:`MAX_CHECKPOINTS_IN_FLIGHT` on their way: the writer's queue stays bounded
        whatever a job's worker sends."""
        with self._lock:
            if job.checkpoints_in_flight >= MAX_CHECKPOINTS_IN_FLIGHT:
                raise ValueError(
                    f"this job has {MAX_CHECKPOINTS_IN_FLIGHT} checkpoints waiting to be "
                    "stored already; accepted: one more once one of them is stored "
                    "(ctx.checkpoint(state) waits for it)"
                )
            job.checkpoints_in_flight += 1
        saved = self._store.save_checkpoint(job.id, time.time(), state, urgent=urgent)
        job.checkpoint_write = saved

        def stored(future: Future[Any]) -> None:
            with self._lock:
                job.checkpoints_in_flight -= 1
            reply_from(message, future)

        saved.add_done_callback(stored)

    def _restore(self, job: LiveJob, message: TaskMessage) -> None:
        """The job's last checkpoint; one it has not waited for is read once stored (the
        write is hurried), so a job restores what it checkpointed last."""
        assert message.reply is not None
        reply = message.reply
        unsaved = job.checkpoint_write
        if unsaved is None or unsaved.done():
            reply(True, self._store.load_checkpoint(job.id))
            return
        self._store.writer.hurry()

        def stored(_: Future[Any]) -> None:
            try:
                reply(True, self._store.load_checkpoint(job.id))
            except Exception as exc:
                reply(False, exc)

        unsaved.add_done_callback(stored)

    def _describe(self, message: Any, description: dict[str, Any]) -> None:
        """Answer ``ctx.backend(name)``; a device whose target only its executor can read is
        asked from a thread of its own (the first time it waits on the executor)."""
        device_data = getattr(self._dispatcher, "device_data", None)
        kind = backend_kind(description["kind"])
        if device_data is None or not kind.calibration_from_device:
            message.reply(True, description)
            return

        def answer() -> None:
            try:
                description["device_data"] = device_data(description["name"])
            except Exception as exc:
                message.reply(False, RuntimeError(f"{type(exc).__name__}: {exc}"))
                return
            message.reply(True, description)

        threading.Thread(target=answer, name="describe-backend", daemon=True).start()

    def _quantum(self, job: LiveJob, message: TaskMessage, envelope: RequestEnvelope) -> None:
        """Queue the request, once its owner's quotas let it through (their check needs
        the backend, so it is chosen first)."""
        assert message.reply is not None
        admission = None
        route = message.route
        try:
            backend = None
            if self._usage is not None and self._usage.quota(job.owner).limited:
                backend = self._dispatcher.choose(envelope, job_id=job.id)
                config = next(c for c in self._dispatcher.configs() if c.name == backend)
                admission = self._usage.admit(job.owner, config, envelope)
                if route is not None:  # every request must pass this check: no lane
                    route = dataclasses.replace(route, lanes=None)
            task = self._dispatcher.submit(
                envelope, job_id=job.id, priority=job.priority, route=route, backend=backend
            )
        except Exception as exc:
            if self._usage is not None:
                self._usage.release(admission)
            message.reply(False, exc)
            return

        def answered(future: Future[Any]) -> None:
            if self._usage is not None:
                self._usage.release(admission)
            reply_from(message, future)

        task.future.add_done_callback(answered)

    def _fan_out(self, job: LiveJob, message: TaskMessage, items: list[PickledCall]) -> None:
        """Every item on the owner's workers; one answer, in order, or the first error."""
        assert message.reply is not None
        if not items:
            message.reply(True, [])
            return
        values: list[Any] = [None] * len(items)
        remaining = [len(items)]
        lock = threading.Lock()
        futures: list[Future[Any]] = []

        def collect(index: int, future: Future[Any]) -> None:
            error = None if future.cancelled() else future.exception()
            with lock:
                if remaining[0] <= 0:
                    return
                if future.cancelled() or error is not None:
                    remaining[0] = 0
                else:
                    values[index] = future.result()
                    remaining[0] -= 1
                    if remaining[0]:
                        return
            assert message.reply is not None
            if future.cancelled() or error is not None:
                for other in futures:
                    other.cancel()
                message.reply(False, error or CancelledError("a fan-out task was canceled"))
            else:
                message.reply(True, values)

        for item in items:
            spec = TaskSpec(item, priority=FAN_OUT_PRIORITY, tenant=job.owner)
            futures.append(self._engine.submit(spec))
        for index, future in enumerate(futures):
            future.add_done_callback(functools.partial(collect, index))


def fan_out_calls(payload: Any) -> list[PickledCall]:
    """A fan-out request: a pickled function and pickled arguments per item."""
    if (
        not isinstance(payload, dict)
        or set(payload) != {"function", "items"}
        or not isinstance(payload["function"], bytes)
        or not isinstance(payload["items"], list)
        or not all(isinstance(item, bytes) for item in payload["items"])
    ):
        raise ValueError("a fan-out request must be {function: bytes, items: [bytes, ...]}")
    return [PickledCall(payload["function"], item) for item in payload["items"]]


def reply_from(message: TaskMessage, future: Future[Any]) -> None:
    """Answer a request with the outcome of ``future``."""
    assert message.reply is not None
    answer(message.reply, future)
