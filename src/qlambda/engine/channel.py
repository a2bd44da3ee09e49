"""Worker side of the channel from a running task back to its submitter."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any, Protocol


class Channel(Protocol):
    task_id: int

    def request(self, kind: str, payload: Any, *, blocking: bool = True) -> Future[Any]:
        """Send a request; the Future resolves with the submitter's answer."""
        ...

    def notify(self, kind: str, payload: Any) -> None:
        """Send a one-way message."""
        ...


_current: Channel | None = None


def current_channel() -> Channel | None:
    """The channel of the task running in this process, or None outside a task."""
    return _current


def set_current_channel(channel: Channel | None) -> None:
    global _current
    _current = channel
