"""Job and task states, shared by every layer."""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    """Where a job is in its life. The last four are final."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    DONE = "DONE"
    ERROR = "ERROR"
    CANCELED = "CANCELED"
    DROPPED = "DROPPED"

    @property
    def is_final(self) -> bool:
        return self in _FINAL


_FINAL = frozenset({JobStatus.DONE, JobStatus.ERROR, JobStatus.CANCELED, JobStatus.DROPPED})


class SubStatus(StrEnum):
    """What a RUNNING job is doing right now."""

    CLASSICAL = "CLASSICAL"
    WAITING_FOR_QPU = "WAITING_FOR_QPU"
    EXECUTING_QPU = "EXECUTING_QPU"


def parse_status(value: str | JobStatus) -> JobStatus:
    """Turn user input into a JobStatus, naming the accepted values if it is none."""
    try:
        return JobStatus(str(value).upper())
    except ValueError:
        accepted = ", ".join(s.value for s in JobStatus)
        raise ValueError(f"unknown job status {value!r}; accepted: {accepted}") from None
