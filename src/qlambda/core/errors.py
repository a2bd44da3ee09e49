"""Errors users see. Each message says what was wrong and what is accepted."""

from __future__ import annotations

from typing import Self


class QlambdaError(Exception):
    """Base of every error qlambda raises on purpose."""


class ConfigurationError(QlambdaError, ValueError):
    """A configuration value or option is invalid or unknown."""


class UnknownBackendError(QlambdaError, ValueError):
    """A quantum backend name that the platform does not have."""

    def __init__(self, name: str, available: list[str]) -> None:
        self.name = name
        self.available = list(available)
        listed = ", ".join(self.available) if self.available else "(none configured)"
        super().__init__(f"unknown backend {name!r}; available: {listed}")

    def __reduce__(self) -> tuple[type[Self], tuple[str, list[str]]]:  # cross processes
        return (type(self), (self.name, self.available))


class CircuitTooWideError(QlambdaError, ValueError):
    """A circuit that needs more qubits than any eligible backend has."""


class NoSuitableBackendError(QlambdaError, ValueError):
    """A quantum request no backend it may go to can serve (exact values asked of a noisy
    device, or of a job's backend that cannot give them); the message says why for each."""


class QuotaExceededError(QlambdaError):
    """A user's quota of QPU seconds or cost is used up (``qlambda.platform.usage``): a new
    job, or a job's next quantum task, is refused; the message says which quota, how much
    is used and when it frees up."""


class ReservationError(QlambdaError, ValueError):
    """A QPU reservation that cannot be made: a bad window, an unknown QPU, or a window
    that overlaps another reservation of that QPU (the message names it)."""


class JobError(QlambdaError):
    """A job did not produce a result.

    ``reason`` is the one-line cause; ``remote_traceback`` the function's own
    traceback when the function raised.
    """

    def __init__(self, job_id: str, status: str, reason: str, remote_traceback: str | None = None):
        self.job_id = job_id
        self.status = status
        self.reason = reason
        self.remote_traceback = remote_traceback
        message = f"job {job_id} ended {status}: {reason}"
        if remote_traceback:
            message += f"\n\nTraceback in the function (most recent call last):\n{remote_traceback}"
        super().__init__(message)

    def __reduce__(self) -> tuple[type[Self], tuple[str, str, str, str | None]]:
        return (type(self), (self.job_id, self.status, self.reason, self.remote_traceback))


class JobFailedError(JobError):
    """The job ended in ERROR (the function raised, its worker died, or it ran out of time)."""


class JobCanceledError(JobError):
    """The job was canceled before it finished."""


class JobDroppedError(JobError):
    """Admission control refused the job."""


class ResultDeletedError(QlambdaError, LookupError):
    """The job's result (and logs) were deleted by the retention policy; its row stays."""

    def __init__(self, job_id: str, deleted_at: float | None = None) -> None:
        self.job_id = job_id
        self.deleted_at = deleted_at
        when = ""
        if deleted_at is not None:
            import time

            when = time.strftime(" on %Y-%m-%d at %H:%M:%S", time.localtime(deleted_at))
        super().__init__(
            f"the result of job {job_id} was deleted{when} by the retention policy "
            "(its status, reason and events are kept)"
        )

    def __reduce__(self) -> tuple[type[Self], tuple[str, float | None]]:
        return (type(self), (self.job_id, self.deleted_at))


class TaskFailedError(QlambdaError):
    """A pilot task raised; carries the remote traceback as text."""

    def __init__(self, message: str, remote_traceback: str | None = None):
        self.remote_traceback = remote_traceback
        self._message = message
        if remote_traceback:
            message = f"{message}\n\nRemote traceback:\n{remote_traceback}"
        super().__init__(message)

    def __reduce__(self) -> tuple[type[Self], tuple[str, str | None]]:
        return (type(self), (self._message, self.remote_traceback))


class WorkerDiedError(TaskFailedError):
    """The worker process running a task died (crash, signal, memory limit)."""


class TimeLimitError(TaskFailedError):
    """A task or job ran past its time limit and was stopped."""


class PilotEndedError(QlambdaError):
    """A task did not start: its pilot's batch job ended, drains, or has too little
    walltime left for it. It never ran, so a ``PilotManager`` runs it on another pilot."""


class VendorJobError(QlambdaError):
    """A QPU vendor's job failed or was cancelled there; the message is the vendor's."""


class ServiceError(QlambdaError):
    """A qlambda server refused a request; ``status`` is its HTTP answer."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{detail} (HTTP {status})")
        self.status = status
        self.detail = detail


class InvalidRequestError(ServiceError, ValueError):
    """The server found the request malformed (HTTP 4xx other than 401, 403, 404, 429)."""


class LimitExceededError(ServiceError):
    """A per-user limit of the server (HTTP 429): try again once some jobs have ended."""


class AuthenticationError(ServiceError):
    """The token is missing, unknown, or not allowed to do this (HTTP 401 or 403)."""
