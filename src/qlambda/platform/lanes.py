"""Lanes: while one job alone uses a backend, its worker talks to the executor directly.

A quantum request normally crosses two process boundaries before it runs: the job's
worker sends it to the control plane, which queues it and hands it to the backend's
executor. The answer already comes back directly (``engine.local.routes``). When the
dispatcher starts a job's request on a backend that has nothing else queued, it may
open a lane instead: it lends the job worker's request route to that executor, which
runs the request and then takes the job's next requests off the route itself, until

* another task is queued for the backend, or the job ends (the dispatcher asks the
  executor to yield: it finishes the request in hand and stops),
* a request needs the control plane's choice (``backend="auto"``, another backend, one
  the device cannot serve): it is left on the route, where the control plane reads it,
* or no request comes for :data:`IDLE_SECONDS`.

Nothing about a request changes but the path: the executor reports each one to the
control plane before taking it, which records it (events, the job's counts, its row in
``quantum_tasks``), lends the job's cpus while it waits, and holds it to the backend's
time limit; a cancel stops the lane's executor as it stops any task. The policy still
decides every start whenever two jobs want a backend: the lane yields as soon as the
second one's task is queued.

An executor killed after it answered a request but before it reported so leaves that
one request recorded as failed, though the job has its result.

Backends whose calibration the platform tracks take no lanes: every task there must
carry the snapshot it is compiled for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

IDLE_SECONDS = 0.5
"""How long a lane waits for the job's next request before it gives the backend back."""


@dataclass(eq=False)
class Lane:
    """A lane the dispatcher has open: whose, on which executor task, and the requests
    the executor has reported started but not yet done (by request id)."""

    job_id: str
    priority: float
    lanes: Any  # the worker's ``routes.Lanes``
    task_id: int  # the job's task in its engine
    engine_task: int  # the executor engine's task that serves the lane
    current: dict[int, Any] = field(default_factory=dict)
    yielding: bool = False
