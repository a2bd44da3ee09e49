"""What an operator sets for the service (beyond the platform's own configuration)."""

from __future__ import annotations

from dataclasses import dataclass

from qlambda.platform.control import MAX_PRIORITY

MB = 1024 * 1024


@dataclass(frozen=True)
class GatewaySettings:
    """``max_upload_bytes`` bounds a function's file or zip. Per user, unless an admin set
    the user's own (``qlambda users create NAME --max-active-jobs 5``; None here: no
    limit): submissions past ``max_active_jobs`` are answered with 429; jobs past
    ``max_running_jobs`` wait queued until one of the user's jobs ends; a priority above
    ``max_priority`` is refused with 422. At most ``max_waits_per_user`` result waits and
    event streams are open per user (429 past it). A stored result larger than
    ``max_result_bytes`` is not sent (422)."""

    max_upload_bytes: int = 10 * MB
    max_unpacked_bytes: int = 50 * MB
    max_active_jobs: int | None = 100
    max_running_jobs: int | None = 10
    max_priority: float = 10.0
    max_waits_per_user: int = 20
    max_result_bytes: int = 32 * MB
    max_wait_seconds: float = 300.0
    heartbeat_seconds: float = 15.0

    def __post_init__(self) -> None:
        for label in ("max_upload_bytes", "max_unpacked_bytes", "max_result_bytes"):
            value = getattr(self, label)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{label} must be a positive number of bytes, got {value!r}")
        for label in ("max_active_jobs", "max_running_jobs"):
            value = getattr(self, label)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ValueError(f"{label} must be a positive integer or None, got {value!r}")
        if isinstance(self.max_waits_per_user, bool) or not (
            isinstance(self.max_waits_per_user, int) and self.max_waits_per_user >= 1
        ):
            raise ValueError(
                f"max_waits_per_user must be a positive integer, got {self.max_waits_per_user!r}"
            )
        if (
            isinstance(self.max_priority, bool)
            or not isinstance(self.max_priority, int | float)
            or not 0 < self.max_priority <= MAX_PRIORITY
        ):
            raise ValueError(
                f"max_priority must be a number in (0, {MAX_PRIORITY:g}], got {self.max_priority!r}"
            )
        for label in ("max_wait_seconds", "heartbeat_seconds"):
            value = getattr(self, label)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"{label} must be a positive number of seconds, got {value!r}")
