"""Domain types shared by every layer: states, events, errors. Pure, no I/O."""

from qlambda.core.errors import (
    CircuitTooWideError,
    ConfigurationError,
    JobCanceledError,
    JobDroppedError,
    JobError,
    JobFailedError,
    QlambdaError,
    TaskFailedError,
    TimeLimitError,
    UnknownBackendError,
    WorkerDiedError,
)
from qlambda.core.events import Event, EventKind
from qlambda.core.states import JobStatus, SubStatus, parse_status

__all__ = [
    "CircuitTooWideError",
    "ConfigurationError",
    "Event",
    "EventKind",
    "JobCanceledError",
    "JobDroppedError",
    "JobError",
    "JobFailedError",
    "JobStatus",
    "QlambdaError",
    "SubStatus",
    "TaskFailedError",
    "TimeLimitError",
    "UnknownBackendError",
    "WorkerDiedError",
    "parse_status",
]
