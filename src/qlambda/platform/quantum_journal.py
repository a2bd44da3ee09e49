"""The quantum journal: every quantum task of a job, as events and as a row.

The dispatcher reports each task queued, started, recompiled and finished; the
journal keeps the job's counts of waiting and executing tasks (its sub-status)
and stores what traces are made of. A task is recorded whatever state its job is
in: a function may return the moment it has its last result.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from qlambda.core.events import Event, EventKind
from qlambda.platform.dispatcher import QuantumTask
from qlambda.platform.jobs import LiveJob
from qlambda.platform.usage import UsageMeter
from qlambda.store import Store


class QuantumJournal:
    """The dispatcher's event sink for a platform's jobs."""

    def __init__(
        self, store: Store, live: Mapping[str, LiveJob], usage: UsageMeter | None = None
    ) -> None:
        self._store = store
        self._live = live
        self._usage = usage
        self.pilot_id: str | None = None  # its own tasks have no job row to record against
        # tasks run here for another replica's job are counted there (qlambda.platform.shared_qpu)
        self.counted: Callable[[QuantumTask], bool] = lambda task: True

    def __call__(self, task: QuantumTask, what: str) -> None:
        if task.job_id == self.pilot_id:
            return
        job = self._live.get(task.job_id) if self.counted(task) else None
        now = time.time()
        if what == "queued":
            if job is not None:
                job.quantum_waiting += 1
                job.quantum_count += 1
            data = {
                "task": task.number,
                "backend": task.backend,
                "num_qubits": task.request.num_qubits,
                "estimated_seconds": task.estimated_duration,
            }
            if task.request.tags:  # the primitive's options.environment.job_tags
                data["tags"] = list(task.request.tags)
            self._event(task, task.queued_at, EventKind.QPU_QUEUED, data)
        elif what == "recompiled":
            data = {
                "task": task.number,
                "backend": task.backend,
                "calibration": task.calibration,
                "reason": "the backend's calibration changed",
            }
            self._event(task, task.started_at or now, EventKind.RECOMPILED, data)
        elif what == "vendor":
            data = {"task": task.number, "backend": task.backend, **task.vendor}
            self._event(task, now, EventKind.QPU_VENDOR, data)
        elif what == "started":
            if job is not None:
                job.quantum_waiting -= 1
                job.quantum_executing += 1
            data = {"task": task.number, "backend": task.backend}
            self._event(task, task.started_at or now, EventKind.QPU_STARTED, data)
        else:
            if job is not None:
                if task.started_at is None:
                    job.quantum_waiting -= 1
                else:
                    job.quantum_executing -= 1
            self._record(task)

    def _event(self, task: QuantumTask, ts: float, kind: EventKind, data: dict[str, Any]) -> None:
        self._store.add_events([Event(task.job_id, ts, kind, data)])

    def _record(self, task: QuantumTask) -> None:
        data = {
            "task": task.number,
            "backend": task.backend,
            "outcome": task.outcome,
            "busy_seconds": task.busy_seconds,
            "direct": task.direct,  # answered by the executor over the worker's route
            "lane": task.lane,  # taken by the executor off the worker's request route
        }
        if task.request.tags:
            data["tags"] = list(task.request.tags)
        usage = None
        if self._usage is not None:
            job = self._live.get(task.job_id)  # else another replica's: its row says whose
            usage = self._usage.usage_row(task, None if job is None else job.owner)
            if usage is not None:
                data["qpu_seconds"], data["cost"] = usage["qpu_seconds"], usage["cost"]
        self._event(task, task.finished_at or time.time(), EventKind.QPU_FINISHED, data)
        stored = self._store.add_quantum_task(
            {
                "job_id": task.job_id,
                "seq": task.number,
                "backend": task.backend,
                "primitive": task.request.primitive,
                "num_qubits": task.request.num_qubits,
                "estimated_seconds": task.estimated_duration,
                "queued_at": task.queued_at,
                "started_at": task.started_at,
                "finished_at": task.finished_at,
                "busy_seconds": task.busy_seconds,
                "simulated_seconds": task.simulated_seconds,
                "outcome": task.outcome,
            },
            usage,
        )
        if usage is not None and self._usage is not None:
            self._usage.pending(usage, stored)

    def count(self, job_id: str, waiting: int, executing: int, new: bool) -> None:
        """A job's quantum tasks run through another replica's leader: its sub-status."""
        job = self._live.get(job_id)
        if job is not None:
            job.quantum_waiting += waiting
            job.quantum_executing += executing
            job.quantum_count += int(new)
