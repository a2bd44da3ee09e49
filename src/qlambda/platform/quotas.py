"""Per-owner quotas: how many jobs each owner has, and how many may run at once.

Jobs of an owner at their running limit wait here, by priority then arrival, while
other owners' jobs go on: one user's backlog never stands in front of the others.
Counts are kept as jobs come and go, so a submission checks them in O(1).
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qlambda.platform.jobs import LiveJob


@dataclass(eq=False)
class QueuedRun:
    """A job and what its worker needs, as it waits for its owner's turn."""

    job: LiveJob
    payload: Any  # FunctionPayload
    arguments: bytes
    limits: Any  # control.Limits


class OwnerQuotas:
    """``start(run)`` is called (outside the lock) for each job allowed to run."""

    def __init__(self, start: Callable[[QueuedRun], None]) -> None:
        self._start = start
        self._lock = threading.RLock()
        self.default_limit: int | None = None  # jobs per owner in the engine; None: any
        self._limits: dict[str, int | None] = {}  # per owner, over the default
        self._active: Counter[str] = Counter()  # live jobs per owner
        self._dispatched: Counter[str] = Counter()  # jobs per owner in the engine
        self._held: dict[str, list[tuple[float, int, QueuedRun]]] = {}
        self._order = itertools.count()

    # -------------------------------------------------------------- counts
    def added(self, owner: str) -> None:
        """A job of ``owner`` is live (queued or running)."""
        with self._lock:
            self._active[owner] += 1

    def ended(self, owner: str) -> None:
        with self._lock:
            self._active[owner] -= 1
            if self._active[owner] <= 0:
                del self._active[owner]

    def active(self, owner: str) -> int:
        """The owner's jobs not ended, without walking every job."""
        return self._active[owner]

    # -------------------------------------------------------------- limits
    def limit(self, owner: str) -> int | None:
        return self._limits.get(owner, self.default_limit)

    def set_limits(self, limit: int | None, owners: dict[str, int | None] | None = None) -> None:
        """At most ``limit`` jobs of one owner run (or wait for a worker) at a time
        (None: no limit); ``owners`` sets some owners' limits instead (None: back to
        ``limit``). A higher limit lets waiting jobs start at once."""
        for value in [limit, *(owners or {}).values()]:
            if value is not None and (isinstance(value, bool) or value < 1):
                raise ValueError(
                    f"the running limit must be a positive integer or None, not {value!r}"
                )
        with self._lock:
            if owners is None:
                self.default_limit = limit
            else:
                for owner, value in owners.items():
                    if value is None:
                        self._limits.pop(owner, None)
                    else:
                        self._limits[owner] = value
            waiting = list(self._held)
        for owner in waiting:
            while self._next(owner):
                pass

    # ------------------------------------------------------------- running
    def run_or_hold(self, run: QueuedRun) -> None:
        """Start the job now, or keep it waiting while its owner is at the limit."""
        owner = run.job.owner
        with self._lock:
            limit = self.limit(owner)
            if limit is not None and self._dispatched[owner] >= limit:
                entry = (-run.job.priority, next(self._order), run)
                heapq.heappush(self._held.setdefault(owner, []), entry)
                return
            self._dispatched[owner] += 1
        self._start(run)

    def release(self, owner: str) -> None:
        """One of ``owner``'s jobs left the engine: their next waiting job may start."""
        with self._lock:
            self._dispatched[owner] -= 1
            if self._dispatched[owner] <= 0:
                del self._dispatched[owner]
        self._next(owner)

    def unhold(self, job: LiveJob) -> bool:
        """Take a waiting job off its owner's list; False if it is not waiting."""
        with self._lock:
            held = self._held.get(job.owner, [])
            for index, (_, _, run) in enumerate(held):
                if run.job is job:
                    held.pop(index)
                    heapq.heapify(held)
                    if not held:
                        del self._held[job.owner]
                    return True
        return False

    def _next(self, owner: str) -> bool:
        with self._lock:
            held = self._held.get(owner)
            limit = self.limit(owner)
            if not held or (limit is not None and self._dispatched[owner] >= limit):
                return False
            _, _, run = heapq.heappop(held)
            if not held:
                del self._held[owner]
            self._dispatched[owner] += 1
        self._start(run)
        return True
