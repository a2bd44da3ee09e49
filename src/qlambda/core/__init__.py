"""Domain types shared by every layer: states, events, errors. Pure, no I/O."""

from qlambda.core.errors import (
    AuthenticationError,
    CircuitTooWideError,
    ConfigurationError,
    InvalidRequestError,
    JobCanceledError,
    JobDroppedError,
    JobError,
    JobFailedError,
    LimitExceededError,
    NoSuitableBackendError,
    QlambdaError,
    ResultDeletedError,
    ServiceError,
    TaskFailedError,
    TimeLimitError,
    UnknownBackendError,
    WorkerDiedError,
)
from qlambda.core.events import Event, EventKind
from qlambda.core.states import JobStatus, SubStatus, parse_status

__all__ = [
    "AuthenticationError",
    "CircuitTooWideError",
    "ConfigurationError",
    "Event",
    "EventKind",
    "InvalidRequestError",
    "JobCanceledError",
    "JobDroppedError",
    "JobError",
    "JobFailedError",
    "JobStatus",
    "LimitExceededError",
    "NoSuitableBackendError",
    "QlambdaError",
    "ResultDeletedError",
    "ServiceError",
    "SubStatus",
    "TaskFailedError",
    "TimeLimitError",
    "UnknownBackendError",
    "WorkerDiedError",
    "parse_status",
]
