"""Per-user bounds on requests that stay open: result waits and event streams.

They hold no thread (they await the job's end on the event loop), but each holds a
connection and a subscription; one user opening thousands must not crowd out the others.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from qlambda.gateway.errors import ApiError


class WaitSlots:
    def __init__(self, per_user: int) -> None:
        self.per_user = per_user
        self._held: Counter[str] = Counter()
        self._lock = threading.Lock()

    def take(self, user: str) -> None:
        """Hold one slot for ``user``, or refuse with 429 saying why."""
        with self._lock:
            if self._held[user] >= self.per_user:
                raise ApiError(
                    429,
                    f"you have {self._held[user]} result waits and event streams open, the "
                    f"limit is {self.per_user}; close some, or wait on /stream for all your jobs",
                )
            self._held[user] += 1

    def give_back(self, user: str) -> None:
        with self._lock:
            self._held[user] -= 1
            if self._held[user] <= 0:
                del self._held[user]

    def held(self, user: str) -> int:
        with self._lock:
            return self._held[user]

    @contextmanager
    def slot(self, user: str) -> Iterator[None]:
        self.take(user)
        try:
            yield
        finally:
            self.give_back(user)
