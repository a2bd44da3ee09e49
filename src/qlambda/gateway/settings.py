"""What an operator sets for the service (beyond the platform's own configuration)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GatewaySettings:
    """``max_upload_bytes`` bounds a function's file or zip. Per user (None: no limit):
    submissions past ``max_active_jobs`` are answered with 429; jobs past
    ``max_running_jobs`` wait queued until one of the user's jobs ends."""

    max_upload_bytes: int = 10 * 1024 * 1024
    max_unpacked_bytes: int = 50 * 1024 * 1024
    max_active_jobs: int | None = None
    max_running_jobs: int | None = None
    max_wait_seconds: float = 300.0
    heartbeat_seconds: float = 15.0
    max_waits_per_user: int = 20

    def __post_init__(self) -> None:
        for label in ("max_upload_bytes", "max_unpacked_bytes"):
            if getattr(self, label) < 1:
                raise ValueError(f"{label} must be a positive number of bytes")
        for label in ("max_active_jobs", "max_running_jobs"):
            value = getattr(self, label)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{label} must be a positive integer or None, got {value!r}")
