"""QPU scheduling policies (Cicconetti [1], Sec. II-C), shared by the platform and the simulator.

Each time a QPU frees, the dispatcher (or the simulator) hands the policy the
waiting quantum tasks and a random source; the policy answers with the index of
the task to run next. Policies are pure: same pending set and same random draws,
same answer. That is what lets a policy tested in simulation be the one deployed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Protocol, runtime_checkable


@runtime_checkable
class PendingTask(Protocol):
    """Read-only view of a waiting quantum task."""

    @property
    def arrival(self) -> float: ...  # when the task started waiting (seconds)

    @property
    def priority(self) -> float: ...  # its job's priority, > 0, larger is more important

    @property
    def job_id(self) -> object: ...

    @property
    def estimated_duration(self) -> float | None: ...


class RandomSource(Protocol):
    """``random.Random`` or ``numpy.random.Generator``: only ``random()`` is used."""

    def random(self) -> float: ...


@runtime_checkable
class Policy(Protocol):
    name: ClassVar[str]

    def select(self, pending: Sequence[PendingTask], rng: RandomSource) -> int:
        """Index into ``pending`` of the task to start now."""
        ...


def _require_tasks(pending: Sequence[PendingTask]) -> None:
    if not pending:
        raise ValueError("a policy needs at least one pending task to select from")


class FIFO:
    """The oldest waiting task; ties go to the one queued first."""

    name: ClassVar[str] = "fifo"

    def select(self, pending: Sequence[PendingTask], rng: RandomSource) -> int:
        _require_tasks(pending)
        best = 0
        for i in range(1, len(pending)):
            if pending[i].arrival < pending[best].arrival:
                best = i
        return best


class LIFO:
    """The newest waiting task; ties go to the one queued last."""

    name: ClassVar[str] = "lifo"

    def select(self, pending: Sequence[PendingTask], rng: RandomSource) -> int:
        _require_tasks(pending)
        best = len(pending) - 1
        for i in range(len(pending) - 2, -1, -1):
            if pending[i].arrival > pending[best].arrival:
                best = i
        return best


class Random:
    """Any waiting task, each with the same probability (one draw)."""

    name: ClassVar[str] = "random"

    def select(self, pending: Sequence[PendingTask], rng: RandomSource) -> int:
        _require_tasks(pending)
        return min(int(rng.random() * len(pending)), len(pending) - 1)


class Weighted:
    """A random waiting task, with probability proportional to its job's priority (one draw)."""

    name: ClassVar[str] = "weighted"

    def select(self, pending: Sequence[PendingTask], rng: RandomSource) -> int:
        _require_tasks(pending)
        total = 0.0
        for task in pending:
            total += task.priority
        threshold = rng.random() * total
        cumulative = 0.0
        for i, task in enumerate(pending):
            cumulative += task.priority
            if threshold < cumulative:
                return i
        return len(pending) - 1  # only reached through rounding at the very top


class StrictPriority:
    """The highest-priority waiting task; the oldest among equals. Draws nothing."""

    name: ClassVar[str] = "priority"

    def select(self, pending: Sequence[PendingTask], rng: RandomSource) -> int:
        _require_tasks(pending)
        best = 0
        for i in range(1, len(pending)):
            task, top = pending[i], pending[best]
            if task.priority > top.priority or (
                task.priority == top.priority and task.arrival < top.arrival
            ):
                best = i
        return best


POLICIES: dict[str, type[Policy]] = {
    cls.name: cls for cls in (FIFO, LIFO, Random, Weighted, StrictPriority)
}


def make_policy(name: str | Policy) -> Policy:
    """A policy from its name (``fifo``, ``lifo``, ``random``, ``weighted``, ``priority``)."""
    if isinstance(name, Policy):
        return name
    try:
        return POLICIES[str(name).lower()]()
    except KeyError:
        accepted = ", ".join(POLICIES)
        raise ValueError(f"unknown scheduling policy {name!r}; accepted: {accepted}") from None
