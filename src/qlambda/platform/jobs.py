"""What the control plane knows about a job while it is alive, and how a job looks to users."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qlambda.core.states import JobStatus, SubStatus


@dataclass(frozen=True)
class JobInfo:
    """A snapshot of one job."""

    id: str
    function: str
    status: JobStatus
    sub_status: str | None
    priority: float
    owner: str
    created_at: float
    started_at: float | None
    ended_at: float | None
    reason: str | None
    attempts: int
    starts_in_seconds: float | None = None
    """While waiting for a QPU: about when the job's next quantum task starts."""
    done_in_seconds: float | None = None
    """While waiting for or executing on a QPU: about when its quantum tasks are done."""
    output_deleted_at: float | None = None
    """When the retention policy deleted its result and logs (its row stays)."""

    @property
    def status_text(self) -> str:
        """One line for people: ``RUNNING, WAITING_FOR_QPU: starts in about 12 s, done in
        about 16 s``."""
        text = self.status.value
        if self.sub_status:
            text += f", {self.sub_status}"
        parts = []
        if self.starts_in_seconds is not None and self.starts_in_seconds > 0:
            parts.append(f"starts in about {_seconds(self.starts_in_seconds)}")
        if self.done_in_seconds is not None:
            parts.append(f"done in about {_seconds(self.done_in_seconds)}")
        return text + (": " + ", ".join(parts) if parts else "")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> JobInfo:
        return cls(
            id=row["id"],
            function=row["function_name"],
            status=JobStatus(row["status"]),
            sub_status=row.get("sub_status"),
            priority=row["priority"],
            owner=row["owner"],
            created_at=row["created_at"],
            started_at=row.get("started_at"),
            ended_at=row.get("ended_at"),
            reason=row.get("reason"),
            attempts=row.get("attempts") or 0,
            output_deleted_at=row.get("output_deleted_at"),
        )


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 1 else f"{value:.1f} s"


@dataclass(eq=False)
class LiveJob:
    """A job that has not ended yet (plus the moment it ends)."""

    id: str
    function_id: str
    function_name: str
    owner: str
    priority: float
    created_at: float
    attempts: int = 0
    status: JobStatus = JobStatus.QUEUED
    user_status: str | None = None
    quantum_waiting: int = 0
    quantum_executing: int = 0
    quantum_count: int = 0
    answered_directly: int = 0  # the worker's count of answers it had over its route
    checkpoint_write: Future[Any] | None = None  # its last checkpoint's write
    checkpoints_in_flight: int = 0  # checkpoints on their way to the store
    execution_options: list[Any] | None = None
    cwd: str | None = None  # embedded: the submitter's directory; else the job's own
    started_at: float | None = None
    ended_at: float | None = None
    reason: str | None = None
    traceback: str | None = None
    task_id: int | None = None
    workdir: Path | None = None  # where it runs (see qlambda.platform.layout)
    log_path: Path | None = None
    cancel_requested: bool = False
    ended: threading.Event = field(default_factory=threading.Event)
    ending: bool = False  # its end is being stored: its row, not memory, says where it is

    @property
    def sub_status(self) -> str | None:
        if self.status is not JobStatus.RUNNING:
            return None
        if self.quantum_executing:
            return SubStatus.EXECUTING_QPU.value
        if self.quantum_waiting:
            return SubStatus.WAITING_FOR_QPU.value
        return self.user_status or SubStatus.CLASSICAL.value

    @property
    def is_classical(self) -> bool:
        """Counts as an active classical task for admission control."""
        if self.status is JobStatus.QUEUED:
            return True
        return self.status is JobStatus.RUNNING and not (
            self.quantum_waiting or self.quantum_executing
        )

    def info(self) -> JobInfo:
        return JobInfo(
            id=self.id,
            function=self.function_name,
            status=self.status,
            sub_status=self.sub_status,
            priority=self.priority,
            owner=self.owner,
            created_at=self.created_at,
            started_at=self.started_at,
            ended_at=self.ended_at,
            reason=self.reason,
            attempts=self.attempts,
        )
