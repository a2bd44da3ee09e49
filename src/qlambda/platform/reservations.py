"""QPU reservations: a time window in which a backend runs one holder's tasks only.

As with an Amazon Braket reservation or IBM Quantum's dedicated mode, the holder (a
pilot) has the device to itself for the window: the dispatcher starts no other task on
it meanwhile, and before the window starts it starts no other task that would still be
running then (by the task's expected duration), so the device is free when the window
opens. Other tasks wait in the queue and run once it closes; the holder's own tasks run
inside and outside its window alike. Tasks already running when a reservation is made
are not stopped.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import time
from dataclasses import dataclass
from typing import Any

from qlambda.core.errors import ReservationError
from qlambda.platform.units import parse_seconds

PAST_SLACK = 5.0  # seconds: a window asked to start "now" may start a little before the check
_numbers = itertools.count(1)


@dataclass(frozen=True)
class Reservation:
    """One window of one backend for one holder; times are seconds since the epoch."""

    id: int
    backend: str
    holder: str
    start: float
    end: float

    def overlaps(self, start: float, end: float) -> bool:
        return self.start < end and start < self.end

    def describe(self) -> str:
        return f"{self.holder} from {_clock(self.start)} to {_clock(self.end)}"


def window(
    start: float | dt.datetime | None,
    end: float | dt.datetime | None,
    duration: float | str | None,
    now: float | None = None,
) -> tuple[float, float]:
    """(start, end) as times, from a start (None: now) and an end or a duration ("10m");
    a window that ends before it starts, is over, or starts in the past is refused."""
    now = time.time() if now is None else now
    begins = now if start is None else _time(start, "start")
    if (end is None) == (duration is None):
        raise ReservationError(
            "give the window's end or its duration (e.g. duration='10m'), not both or neither"
        )
    if duration is not None:
        try:
            length = parse_seconds(duration)
        except ValueError as exc:
            raise ReservationError(f"the reservation's duration: {exc}") from None
        assert length is not None
        ends = begins + length
    else:
        assert end is not None
        ends = _time(end, "end")
    if ends <= begins:
        raise ReservationError(
            f"the window ends ({_clock(ends)}) before it starts ({_clock(begins)}); "
            "accepted: an end after the start, or a positive duration"
        )
    if begins < now - PAST_SLACK:
        raise ReservationError(
            f"the window starts in the past ({_clock(begins)}, now {_clock(now)}); "
            "leave start out to begin now"
        )
    return max(begins, now), ends


def _time(value: Any, what: str) -> float:
    if isinstance(value, dt.datetime):
        return value.timestamp()  # a naive datetime is local time, as Python reads it
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ReservationError(
            f"the window's {what} must be a time (seconds since the epoch, as time.time() "
            f"gives) or a datetime, got {value!r}"
        )
    return float(value)


def _clock(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


class Reservations:
    """A dispatcher's reservations, per backend. Not thread-safe: the dispatcher's lock."""

    def __init__(self) -> None:
        self._by_backend: dict[str, list[Reservation]] = {}

    def book(self, backend: str, holder: str, start: float, end: float) -> Reservation:
        for other in self._by_backend.get(backend, []):
            if other.end > time.time() and other.overlaps(start, end):
                raise ReservationError(
                    f"QPU {backend!r} is reserved by {other.describe()}, which overlaps "
                    f"{_clock(start)} to {_clock(end)}; ask for a window outside it"
                )
        reservation = Reservation(next(_numbers), backend, holder, start, end)
        booked = self._by_backend.setdefault(backend, [])
        booked.append(reservation)
        booked.sort(key=lambda r: r.start)
        return reservation

    def cancel(self, reservation_id: int) -> Reservation | None:
        for booked in self._by_backend.values():
            for reservation in booked:
                if reservation.id == reservation_id:
                    booked.remove(reservation)
                    return reservation
        return None

    def of_backend(self, backend: str) -> list[Reservation]:
        return list(self._by_backend.get(backend, []))

    def any_on(self, backend: str) -> bool:
        """Whether the backend has a reservation not over (dropping those that are)."""
        booked = self._by_backend.get(backend)
        if not booked:
            return False
        now = time.time()
        booked[:] = [r for r in booked if r.end > now]
        return bool(booked)

    def allows(self, backend: str, holder: str, now: float, expected: float) -> bool:
        """Whether a task of ``holder`` expected to take ``expected`` seconds may start on
        ``backend`` now: inside another's window it may not, nor where it would run into
        one."""
        for reservation in self._by_backend.get(backend, []):
            if reservation.holder != holder and reservation.overlaps(now, now + expected):
                return False
        return True
