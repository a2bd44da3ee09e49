"""Timestamped job events: persisted, streamed and turned into traces."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class EventKind(StrEnum):
    SUBMITTED = "SUBMITTED"
    ADMITTED = "ADMITTED"
    DROPPED = "DROPPED"
    STARTED = "STARTED"
    SUB_STATUS = "SUB_STATUS"
    QPU_QUEUED = "QPU_QUEUED"
    QPU_STARTED = "QPU_STARTED"
    QPU_FINISHED = "QPU_FINISHED"
    QPU_VENDOR = "QPU_VENDOR"  # a device's news of a running task: vendor job id, status, queue
    RECOMPILED = "RECOMPILED"  # a new calibration invalidated the backend's compiled circuits
    CHECKPOINT = "CHECKPOINT"
    REQUEUED = "REQUEUED"
    DONE = "DONE"
    ERROR = "ERROR"
    CANCELED = "CANCELED"


@dataclass(frozen=True, slots=True)
class Event:
    """One transition of a job, at wall-clock time ``ts`` (seconds since the epoch)."""

    job_id: str
    ts: float
    kind: EventKind
    data: dict[str, Any] = field(default_factory=dict)
